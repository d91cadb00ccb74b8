"""Dirichlet variational autoencoder (dillon2021, "Better Latent Spaces for Better Autoencoders",
arXiv:2104.08291, Sec. 4).

Network (paper's Fig. 6):

    encoder:  image (40x40 = 1600) -> Dense(100, SeLU) -> Dense(2R) = (mu, log sigma^2)
    sampling: z = mu + sigma * eps,  r = softmax(z)          (softmax-Gaussian ~ Dirichlet(alpha))
    decoder:  r -> Dense(1600, no bias, no hidden layer) -> softmax over pixels

Loss per jet (losses/):  L = CE(x, decoder(r)) + beta_KL * KL(N(mu, sigma^2) || N(mu~, sigma~^2)),
with the Laplace-approximation prior (mu~, sigma~^2) of Dirichlet(alpha) and beta_KL = 0.1.

Because the decoder is linear without bias, the pure component k (r = e_k) reconstructs the
image softmax(W_k), W_k the k-th row of the decoder kernel: these R "mixture images" are what
the network learned (Fig. 8, 12).

Scores (larger = more anomalous), all computed at the posterior mean z = mu:
    mixture_weight  r_k = softmax(mu)_k of the anomalous component k (default);
    reconstruction  CE(x, decoder(softmax(mu)));
    kl              KL(q(z|x) || prior).

Which component is "anomalous" is decided without labels (the paper leaves it to inspection):
the component with the smallest alpha (the rarest a priori); among components tied at the
smallest alpha (e.g. the balanced prior alpha = (1, 1)) the one whose mixture image is the most
spread out, measured as the mixture-image-weighted mean distance of pixels from the image centre.
Wide-angle, multi-prong radiation is the less generic structure of a jet, and the paper finds the
rarer components carry the wider splittings (Sec. 4.3). The rule can be overridden with
``anomalous_component``.
"""

import keras
import numpy as np
import tensorflow as tf

from losses import categorical_cross_entropy, dirichlet_laplace_kl
from models.base import Tagger, gaussian_sample, image_spread

CITATION = "B. M. Dillon, T. Plehn, C. Sauer, P. Sorrenson, arXiv:2104.08291 (dillon2021)"

PRESETS = {
    "balanced": {
        "config": {"alpha": [1.0, 1.0]},
        "description": "R=2, alpha=(1, 1): balanced top/QCD (t/Q = 1), Figs. 7-8",
    },
    "imbalanced": {
        "config": {"alpha": [1.0, 0.25]},
        "description": "R=2, alpha=(1, 0.25): one class anomalous (t/Q or Q/t < 1), Figs. 9-10",
    },
    "lund": {
        "config": {"alpha": [1.0, 0.25]},
        "representation": "lund_image",
        "description": "R=2, alpha=(1, 0.25) on primary Lund-plane images (appendix, Figs. 14-15)",
    },
    "hierarchical3": {
        "config": {"alpha": [1.0, 0.25, 0.1]},
        "description": "R=3, alpha=(1, 0.25, 0.1): hierarchical prior, Figs. 11-13",
    },
}


@keras.saving.register_keras_serializable(package="anomalous_jets")
class DirichletVAE(Tagger):
    """Dirichlet-VAE on unit-sum jet images.

    Args:
        alpha: Dirichlet concentrations, one per mixture component (R = len(alpha)).
        hidden_units: width of the encoder's single hidden SeLU layer.
        image_shape: (height, width) of the input images.
        beta_kl: weight of the KL term.
        anomalous_component: index k whose weight r_k is the default score; None applies the
            label-free rule of the module docstring after training.
        seed: seed of the sampling noise.
    """

    def __init__(
        self,
        alpha=(1.0, 1.0),
        hidden_units=100,
        image_shape=(40, 40),
        beta_kl=0.1,
        anomalous_component=None,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.alpha = [float(a) for a in alpha]
        if len(self.alpha) < 2 or min(self.alpha) <= 0:
            raise ValueError(f"alpha must hold at least two positive numbers, got {list(alpha)}")
        self.n_components = len(self.alpha)
        if anomalous_component is not None and not 0 <= int(anomalous_component) < self.n_components:
            raise ValueError(f"anomalous_component must be in [0, {self.n_components}), got {anomalous_component}")
        self.hidden_units = int(hidden_units)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.beta_kl = float(beta_kl)
        self.anomalous_component = None if anomalous_component is None else int(anomalous_component)
        self.seed = int(seed)
        n_pixels = int(np.prod(self.image_shape))

        self.encoder = keras.Sequential(
            [
                keras.Input(self.image_shape),
                keras.layers.Flatten(),
                keras.layers.Dense(self.hidden_units, activation="selu", kernel_initializer="lecun_normal"),
                keras.layers.Dense(2 * self.n_components),
            ],
            name="encoder",
        )
        # the interpretable decoder: one bias-free linear map, softmax applied in _log_probs
        self.decoder = keras.Sequential(
            [
                keras.Input((self.n_components,)),
                keras.layers.Dense(n_pixels, use_bias=False),
            ],
            name="decoder",
        )
        # one-hot selector of the anomalous component; a weight so exports carry it
        self.add_component_selector(self.n_components, self._prior_choice())
        self.noise = keras.random.SeedGenerator(self.seed)
        self.built = True  # both networks are built from their Input shapes

    # -- networks ---------------------------------------------------------------------------
    def encode(self, images):
        """(mean, log_var), each (batch, R), of the Gaussian posterior in softmax space."""
        h = self.encoder(images)  # (batch, 2R)
        return h[:, : self.n_components], h[:, self.n_components :]

    def _log_probs(self, r):
        logits = self.decoder(r)  # (batch, pixels)
        return tf.nn.log_softmax(logits, axis=-1)

    def call(self, images, training=False):
        """Reconstructed images (probabilities over pixels) at the posterior mean."""
        mean, _ = self.encode(images)
        probs = tf.exp(self._log_probs(tf.nn.softmax(mean, axis=-1)))
        return tf.reshape(probs, (-1,) + self.image_shape)

    def mixture_weights(self, images):
        """r = softmax(mu), (batch, R): the jet's position on the simplex."""
        mean, _ = self.encode(images)
        return tf.nn.softmax(mean, axis=-1)

    def latent(self, images):
        """Latent variables per jet: posterior mean and log-variance, and r = softmax(mean)."""
        mean, log_var = self.encode(images)
        return {"mean": mean, "log_var": log_var, "mixture_weights": tf.nn.softmax(mean, axis=-1)}

    def component_images(self):
        return self.mixture_images()

    def mixture_images(self):
        """The R learned component images softmax(W_k), shape (R, height, width), numpy."""
        w = keras.ops.convert_to_numpy(self.decoder.layers[-1].kernel)  # (R, pixels)
        w = w - w.max(axis=1, keepdims=True)
        p = np.exp(w) / np.exp(w).sum(axis=1, keepdims=True)
        return p.reshape((self.n_components,) + self.image_shape)

    # -- losses and scores ------------------------------------------------------------------
    def loss_terms(self, images):
        """Per-jet reconstruction (one sample of z) and KL, each (batch,)."""
        mean, log_var = self.encode(images)
        z = gaussian_sample(mean, log_var, self.noise)
        rec = categorical_cross_entropy(images, self._log_probs(tf.nn.softmax(z, axis=-1)))
        return {"reconstruction": rec, "kl": dirichlet_laplace_kl(mean, log_var, self.alpha)}

    def total_loss(self, terms):
        return tf.reduce_mean(terms["reconstruction"] + self.beta_kl * terms["kl"])

    def anomaly_scores(self, images):
        """Named per-jet scores, larger = more anomalous; 'mixture_weight' is the default."""
        mean, log_var = self.encode(images)
        r = tf.nn.softmax(mean, axis=-1)
        rec = categorical_cross_entropy(images, self._log_probs(r))
        kl = dirichlet_laplace_kl(mean, log_var, self.alpha)
        return {"mixture_weight": tf.reduce_sum(r * self.selector, axis=-1), "reconstruction": rec, "kl": kl}

    default_score = "mixture_weight"
    term_names = ("reconstruction", "kl")

    # -- the anomalous component ------------------------------------------------------------
    def _prior_choice(self):
        if self.anomalous_component is not None:
            return self.anomalous_component
        smallest = np.flatnonzero(np.isclose(self.alpha, min(self.alpha)))
        return int(smallest[-1])

    def image_spread(self):
        """Per component: mixture-image-weighted mean distance of pixels from the centre (pixels)."""
        return image_spread(self.mixture_images())

    def choose_anomalous_component(self):
        """Apply the label-free rule (module docstring); returns the chosen index and sets it."""
        if self.anomalous_component is not None:
            k = self.anomalous_component
        else:
            tied = np.flatnonzero(np.isclose(self.alpha, min(self.alpha)))
            k = int(tied[np.argmax(self.image_spread()[tied])])
        return self.select_component(k)

    def calibrate(self, train_images=None):
        """Post-training, label-free: fix the anomalous component (needs no data)."""
        return self.choose_anomalous_component()

    def get_config(self):
        return {
            **self.base_config(),
            "alpha": self.alpha,
            "hidden_units": self.hidden_units,
            "image_shape": list(self.image_shape),
            "beta_kl": self.beta_kl,
            "anomalous_component": self.anomalous_component,
            "seed": self.seed,
        }
