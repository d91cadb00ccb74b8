"""EdgeConv block of ParticleNet (H. Qu, L. Gouskos, arXiv:1902.08570; used by cheng2022,
T. Cheng, A. Courville, "Invariant Representation Driven Neural Classifier for Anti-QCD Jet Tagging",
arXiv:2201.07199), written with ``keras.ops`` only so that it runs on symbolic Keras 3 tensors.

For particle i of a jet with coordinates y_i (points in block 1, the current features after it)
and features x_i (C channels), with m_i = 1 for real particles and 0 for padding:

    d_ij    = |y_i - y_j|^2 + BIG (1 - m_j) + 4 BIG delta_ij    padded points pushed far away,
                                                                 i never its own neighbour
    N(i)    = the k indices j of smallest d_ij
    e_ij    = [x_i, x_j - x_i]                                   (2C) edge features, j in N(i)
    h_ij    = ReLU(BN(W3 ReLU(BN(W2 ReLU(BN(W1 e_ij))))))       1x1 convolutions without bias

The first convolution is evaluated as W1 e_ij = (W1_top - W1_bottom)^T x_i + W1_bottom^T x_j, per
particle before the gather, so the (2C)-wide edge tensor is never formed (the same numbers, a
fraction of the memory traffic, which is what limits these layers on a CPU).
    h_i     = sum_{j in N(i)} m_j h_ij / max(1, sum_{j in N(i)} m_j)    mean over real neighbours
    out_i   = m_i ReLU(BN(W_s x_i) + h_i)                        shortcut: 1x1 convolution + BN

A jet with at least k + 1 real particles has only real neighbours, and the neighbour mean is the
reference's plain mean over k; a jet with fewer real particles averages over its real neighbours
only, so the number of padded slots never changes a real particle's output (the reference
averages over padded neighbours too). Outputs at padded slots are zero. Batch normalisation in
inference mode is per channel and so per particle; during training its batch statistics are taken
over the real edges (m_i m_j = 1) and real particles only, so padding changes nothing in training
either (the reference includes padded slots in them); ``masked_batch_norm`` takes them in one pass.

Packing. Only real particles need the per-edge work (the (k, channels) tensors that dominate the
cost), and on our jets a third of the 100 slots are padding. With ``packing = (rows, inverse)``
(``pack_real_particles``) the block evaluates only the flat slots ``rows`` -- the real particles
first, then padded slots to fill a fixed capacity -- and scatters the results back; without it,
every slot. Both give the same numbers: padded rows are masked out of every statistic and zeroed.
"""

import keras
from keras import ops

BIG = 1e9  # squared distance added for padded neighbours (4 BIG for the particle itself)


def knn_indices(coordinates, mask, k):
    """Indices of the k nearest real neighbours of every particle (never itself).

    Args:
        coordinates: (batch, particles, dims) float.
        mask: (batch, particles) 1 for real particles, 0 for padding.
        k: neighbours per particle (at most particles - 1).

    Returns:
        (batch, particles, k) int32 indices, nearest first.
    """
    sq = ops.sum(ops.square(coordinates), axis=-1)  # (batch, particles)
    inner = ops.matmul(coordinates, ops.transpose(coordinates, (0, 2, 1)))  # (batch, particles, particles)
    dist = sq[:, :, None] - 2.0 * inner + sq[:, None, :]
    n = ops.shape(coordinates)[1]
    # padding is far; the particle itself farther still, so it is never taken (padding is masked later)
    dist = dist + BIG * (1.0 - mask[:, None, :]) + 4.0 * BIG * ops.eye(n, dtype=dist.dtype)[None]
    _, index = ops.top_k(-dist, k=k, sorted=True)  # (batch, particles, k)
    return ops.cast(index, "int32")


def gather_neighbours(values, index):
    """values[b, index[b, i, j]] for every b, i, j: (batch, particles, k, channels)."""
    flat = ops.reshape(values, (-1, ops.shape(values)[-1]))  # (batch * particles, channels)
    return ops.take(flat, index + _offsets(values[..., 0]), axis=0)


def pack_real_particles(mask, capacity):
    """(rows, inverse) that let EdgeConv evaluate `capacity` flat slots instead of all of them.

    rows (capacity,) are flat slot indices b * particles + i: every real particle, in order, then
    padded slots in order up to the capacity; inverse (batch * particles,) is each slot's position in
    rows, or `capacity` (a zero row) for the padded slots left out. Needs capacity >= the number of
    real particles (ParticleNetBackbone checks, and evaluates every slot otherwise).
    """
    m = ops.cast(ops.reshape(mask, (-1,)) > 0, "int32")  # (slots,)
    n_real = ops.sum(m)
    position = ops.where(m > 0, ops.cumsum(m) - 1, n_real + ops.cumsum(1 - m) - 1)  # a permutation
    slots = ops.shape(m)[0]
    rows = ops.scatter(position[:, None], ops.arange(slots, dtype="int32"), (slots,))[:capacity]
    inverse = ops.where(position < capacity, position, capacity)
    return rows, ops.cast(inverse, "int32")


def edge_features(features, index):
    """[x_i, x_j - x_i] for the k neighbours j of every particle i: (batch, particles, k, 2 channels)."""
    neighbours = gather_neighbours(features, index)  # (batch, particles, k, C)
    centre = ops.repeat(features[:, :, None, :], ops.shape(index)[-1], axis=2)  # (batch, particles, k, C)
    return ops.concatenate([centre, neighbours - centre], axis=-1)


@keras.saving.register_keras_serializable(package="anomalous_jets")
class EdgeConv(keras.layers.Layer):
    """One EdgeConv block; call with (coordinates, features, mask).

    Args:
        k: nearest neighbours per particle.
        channels: widths of the three 1x1 convolutions (the last is the output width).
        dense: optional callable(units, name) -> layer used for every 1x1 convolution (a
            spectrally normalised Dense for SNGP); plain Dense without bias by default.
    """

    def __init__(self, k=16, channels=(64, 64, 64), dense=None, **kwargs):
        super().__init__(**kwargs)
        self.k = int(k)
        self.channels = tuple(int(c) for c in channels)
        if self.k < 1 or not self.channels:
            raise ValueError(f"EdgeConv needs k >= 1 and at least one channel, got k={k}, channels={channels}")
        make = dense or (lambda units, name: keras.layers.Dense(units, use_bias=False, name=name))
        self.convs = [make(c, f"conv{i}") for i, c in enumerate(self.channels)]
        self.norms = [keras.layers.BatchNormalization(name=f"bn{i}") for i in range(len(self.channels))]
        self.shortcut = make(self.channels[-1], "shortcut")
        self.shortcut_norm = keras.layers.BatchNormalization(name="shortcut_bn")

    def build(self, input_shapes):
        _, feature_shape, _ = input_shapes
        width = int(feature_shape[-1])
        shape = (None, 2 * width)  # edges are evaluated as (rows * k, channels)
        for conv, norm, c in zip(self.convs, self.norms, self.channels):
            conv.build(shape)
            shape = (None, c)
            norm.build(shape)
        self.shortcut.build((None, width))
        self.shortcut_norm.build((None, self.channels[-1]))
        self.built = True

    def call(self, coordinates, features, mask, training=False, packing=None):
        """(batch, particles, channels[-1]) outputs; ``packing`` = pack_real_particles(mask, capacity)
        evaluates only the packed rows (the same numbers, less work)."""
        shape = ops.shape(features)
        batch, n, width = shape[0], shape[1], shape[2]
        index = knn_indices(coordinates, mask, self.k)  # (batch, particles, k)
        neighbours = ops.reshape(index + _offsets(mask), (-1, self.k))  # (slots, k) flat indices
        x = ops.reshape(features, (-1, width))  # (slots, C), slots = batch * particles
        m = ops.reshape(mask, (-1,))  # (slots,)
        if packing is None:
            x_i, m_i = x, m
        else:
            rows, _ = packing
            x_i, m_i, neighbours = ops.take(x, rows, axis=0), ops.take(m, rows), ops.take(neighbours, rows, axis=0)
        m_j = ops.take(m, neighbours)  # (rows, k)
        edge_mask = m_i[:, None] * m_j  # real edges: batch statistics are taken over these only
        # first convolution of e_ij = [x_i, x_j - x_i] without forming e_ij:
        # W e_ij = x_i (W_top - W_bottom) + x_j W_bottom, both per particle, then gathered
        kernel = _kernel(self.convs[0], training)  # (2C, C1)
        top, bottom = kernel[:width], kernel[width:]
        h = ops.matmul(x_i, top - bottom)[:, None, :] + ops.take(ops.matmul(x, bottom), neighbours, axis=0)
        # the edges as a (rows * k, channels) matrix: plain matmuls, whose gradients XLA compiles
        # inside the packing's cond also when the batch size is unknown (a 3-D Dense's would not)
        h, edge_mask = ops.reshape(h, (-1, ops.shape(h)[-1])), ops.reshape(edge_mask, (-1,))
        n_edges = ops.maximum(ops.sum(edge_mask), 1.0)
        h = ops.relu(masked_batch_norm(self.norms[0], h, edge_mask, n_edges, training))  # (rows * k, C1)
        for conv, norm in zip(self.convs[1:], self.norms[1:]):
            h = ops.relu(masked_batch_norm(norm, conv(h), edge_mask, n_edges, training))
        h = ops.reshape(h, (-1, self.k, self.channels[-1]))  # (rows, k, channels)
        count = ops.maximum(ops.sum(m_j, axis=-1, keepdims=True), 1.0)  # (rows, 1)
        pooled = ops.sum(h * m_j[..., None], axis=1) / count  # mean over real neighbours
        n_real = ops.maximum(ops.sum(m_i), 1.0)
        short = masked_batch_norm(self.shortcut_norm, self.shortcut(x_i), m_i, n_real, training)
        out = ops.relu(short + pooled) * m_i[:, None]  # (rows, channels)
        if packing is not None:  # back to every slot: slots outside the rows read the zero row
            out = ops.take(ops.concatenate([out, ops.zeros_like(out[:1])], axis=0), packing[1], axis=0)
        return ops.reshape(out, (batch, n, self.channels[-1]))

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[1][:-1]) + (self.channels[-1],)

    def get_config(self):
        return {**super().get_config(), "k": self.k, "channels": list(self.channels)}


def masked_batch_norm(norm, z, weights, count, training):
    """``norm(z, training=training, mask=weights)`` of a built BatchNormalization on (rows, C).

    In training the statistics are taken over the rows of weight 1 (`count` of them, counted once
    per block by the caller) in one pass: the sums of w z and w z^2, which XLA fuses into one
    reduction, then var = E[z^2] - E[z]^2. Keras's masked moments take two passes over z and
    broadcast the mask to z's shape for each layer; this made the Lite training step ~1.45x
    cheaper (issue 28). The moving statistics are updated as Keras does.
    """
    if training and norm.trainable:
        w = weights[:, None]
        mean = ops.sum(z * w, axis=0) / count
        variance = ops.maximum(ops.sum(ops.square(z) * w, axis=0) / count - ops.square(mean), 0.0)
        momentum = norm.momentum
        norm.moving_mean.assign(norm.moving_mean * momentum + mean * (1.0 - momentum))
        norm.moving_variance.assign(norm.moving_variance * momentum + variance * (1.0 - momentum))
    else:
        mean, variance = norm.moving_mean, norm.moving_variance
    scale = norm.gamma * ops.rsqrt(variance + norm.epsilon)
    return z * scale + (norm.beta - mean * scale)


def _kernel(conv, training):
    """The kernel a 1x1 convolution applies: its own, or the spectrally normalised one."""
    if hasattr(conv, "normalized_kernel"):
        return conv.normalized_kernel(training)
    return conv.kernel


def _offsets(mask):
    """(batch, 1, 1) offsets b * particles that turn per-jet indices into flat indices."""
    shape = ops.shape(mask)
    return ops.reshape(ops.arange(shape[0], dtype="int32") * shape[1], (-1, 1, 1))
