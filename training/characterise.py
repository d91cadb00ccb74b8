"""Characterise a trained bump-hunt VAE's latent space against m_jj (bortolato2021, Sec. 3).

    python -m training.characterise --encoder exported/bumphunt_vae[/VERSION] --data events.h5 [--out DIR]

The encoder of the exported VAE (its first member for an ensemble) is rebuilt from the export's
Keras weights and frozen; a new decoder learns to reconstruct the six observables from
(z ~ N(z_mean, sigma_z), m ~ N(m_jj, 0.025 m_jj)) with m_jj standard-scaled, reconstruction loss
only, Adam until the validation loss stops improving. Then the decoder is scanned over a grid
z x m_jj in [2, 8] TeV and the report draws

* heatmaps of every reconstructed observable over (m_jj, z) with the regions holding 68 % and 95 %
  of the signal and of the background events (Fig. 7; Fig. 8 for a background-only training),
* the marginal <O>_z / <O>_{z, m_jj} against m_jj (Fig. 9).

The z range is the paper's [-2.5, 0] when it holds at least 90 % of the training events' latent
means; a latent placed elsewhere (the orientation and offset of a 1-D latent are arbitrary) gets
the range from the 1st to the 99th percentile of those means instead, widened to at least one
unit, so that the heatmaps show the decoder where events are rather than an extrapolation.
``--z-range LOW HIGH`` fixes it. Truth labels are used only to draw the signal and background
contours. Writes DIR/*.png, the
decoder weights and a JSON summary (last stdout line).
"""

import argparse
import json
import pathlib
import sys

import numpy as np

from preprocessing.errors import DataError, run_command

Z_RANGE = (-2.5, 0.0)
MJJ_RANGE = (2000.0, 8000.0)  # GeV


def load_encoder(path):
    """The trained BumpHuntVAE (member 0) of an export, with its scaler; (model, card, folder)."""
    from models.bumphunt_vae import BumpHuntVAE
    from training.export import CARD_PATH, resolve_version

    folder = resolve_version(path)
    card_file = folder / CARD_PATH
    if not card_file.is_file():
        raise DataError(f"{folder}: no {CARD_PATH}; not an export of this project")
    card = json.loads(card_file.read_text())
    if card.get("model") != "bumphunt_vae":
        raise DataError(f"{folder}: exported model is {card.get('model')!r}, not 'bumphunt_vae'")
    weights = folder / CARD_PATH.parent / "member0.weights.h5"
    if not weights.is_file():
        raise DataError(f"{weights}: missing; re-export the VAE with this version of training.fit")
    config = {k: v for k, v in card["config"].items() if k not in ("name", "trainable")}
    vae = BumpHuntVAE(**config)
    vae.load_weights(str(weights))
    return vae, card, folder


def train_decoder(vae, features, mjj, train_idx, val_idx, epochs=200, batch_size=1000, seed=0, verbose=2):
    """Fit a MassDecoder on training events (encoder frozen); returns (decoder, history)."""
    import keras

    from models.bumphunt_vae import MassDecoder

    keras.utils.set_random_seed(seed)
    decoder = MassDecoder(vae, mjj[train_idx].mean(), mjj[train_idx].std(), seed=seed)
    decoder.compile(optimizer=keras.optimizers.Adam(1e-3))
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=8, restore_best_weights=True)
    history = decoder.fit((features[train_idx], mjj[train_idx]),
                          validation_data=((features[val_idx], mjj[val_idx]),),
                          epochs=epochs, batch_size=batch_size, callbacks=[stop], verbose=verbose)
    return decoder, history


def latent_means(vae, features):
    """First latent coordinate of the encoder's mean, (events,), for raw observables."""
    return np.asarray(vae.encode(features)[0])[:, 0]


def latent_range(z_mean, paper=Z_RANGE, coverage=0.9):
    """z range of the scan from training events' latent means (no labels): the paper's range if it
    holds at least `coverage` of them, else their 1st-99th percentiles (at least one unit wide).

    Returns ((low, high), reason).
    """
    z_mean = np.asarray(z_mean, np.float64).ravel()
    inside = float(np.mean((z_mean >= paper[0]) & (z_mean <= paper[1]))) if len(z_mean) else 0.0
    if inside >= coverage:
        return tuple(paper), f"the paper's z range holds {inside:.0%} of the training events"
    low, high = np.percentile(z_mean, [1.0, 99.0])
    centre, half = 0.5 * (low + high), max(0.5 * (high - low), 0.5)
    rng = (float(centre - half), float(centre + half))
    return rng, (f"the paper's z range {list(paper)} holds only {inside:.0%} of the training events; "
                 f"scanned their 1st-99th percentiles [{rng[0]:.2f}, {rng[1]:.2f}] instead")


def scan(decoder, n_z=60, n_m=60, z_range=Z_RANGE):
    """Decoded observables on the (z, m_jj) grid: (z values, m_jj values, (n_z, n_m, features))."""
    import tensorflow as tf

    z = np.linspace(*z_range, n_z)
    m = np.linspace(*MJJ_RANGE, n_m)
    zz, mm = np.meshgrid(z, m, indexing="ij")
    latent = np.zeros((zz.size, decoder.vae.latent_dim), np.float32)
    latent[:, 0] = zz.ravel()  # other latent directions (if any) at the prior mean
    out = decoder.decode(tf.constant(latent), tf.constant(mm.ravel(), tf.float32)).numpy()
    return z, m, out.reshape(n_z, n_m, -1)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.characterise", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", required=True, help="export of a bumphunt_vae: <base>/bumphunt_vae[/<version>]")
    parser.add_argument("--data", nargs="+", required=True, help="event samples (two jets per event)")
    parser.add_argument("--out", help="output folder (default: <export>/characterisation)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--z-range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="latent range of the scan (default: the paper's [-2.5, 0] if it holds 90 %% of "
                             "the training events, else their 1st-99th percentiles)")
    args = parser.parse_args(argv)
    if args.z_range and not args.z_range[0] < args.z_range[1]:
        parser.error(f"--z-range: LOW must be below HIGH, got {args.z_range}")
    return run_command(run, args)


def run(args):
    from evaluation import plots
    from preprocessing.highlevel import FEATURES, dijet_features, event_labels
    from training import data as datasets

    vae, card, folder = load_encoder(args.encoder)
    sample = datasets.load(args.data)
    source = ", ".join(args.data)
    features, mjj, pairs = dijet_features(sample, source)
    labels = event_labels(sample, pairs)
    event = sample.event[pairs[:, 0]]
    train_idx, val_idx, test_idx = datasets.split(event, seed=args.seed)
    decoder, history = train_decoder(vae, features, mjj.astype(np.float32), train_idx, val_idx, args.epochs,
                                     seed=args.seed, verbose=1 if sys.stdout.isatty() else 2)
    out = pathlib.Path(args.out or folder / "characterisation")
    out.mkdir(parents=True, exist_ok=True)
    decoder.save_weights(str(out / "mass_decoder.weights.h5"))

    z_mean = latent_means(vae, features[test_idx])
    signal = card.get("signal_label", "signal")
    is_signal = labels[test_idx] == sample.label_of(signal) if signal in sample.label_names else None
    if args.z_range:
        z_range, why = tuple(args.z_range), "given with --z-range"
    else:
        z_range, why = latent_range(latent_means(vae, features[train_idx]))
    print(f"characterise: z range {z_range}: {why}", file=sys.stderr)
    z, m, grid = scan(decoder, z_range=z_range)
    plots.plot_latent_heatmaps(z, m, grid, FEATURES, z_mean, mjj[test_idx], is_signal, out / "heatmaps.png",
                               title=f"decoder on (z, m_jj); encoder {folder}")
    ratio = plots.plot_marginals(m, grid, FEATURES, out / "marginals.png")
    summary = {"encoder": str(folder), "out": str(out), "epochs_run": len(history.history["loss"]),
               "final_val_loss": float(min(history.history["val_loss"])),
               "n_train": len(train_idx), "n_test": len(test_idx), "z_range": list(z_range), "z_range_reason": why,
               "marginal_max_deviation": {f: float(np.max(np.abs(ratio[:, k] - 1))) for k, f in enumerate(FEATURES)}}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
