"""Characterise a trained bump-hunt VAE's latent space against m_jj (bortolato2021, Sec. 3).

    python -m evaluation.characterise --encoder exported/bumphunt_vae[/VERSION] --data events.h5 [--out DIR]

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
contours. Writes DIR/*.png, the decoder weights and a JSON summary (last stdout line).

Without ``--z-range`` the scan runs along the default score's direction instead of z
(`score_direction`, training events only): t = side * (z - median z) from the bulk (t = 0)
outwards, the side being the one that holds most of the training events with the largest default
score. The functions here also serve the reproduction (evaluation.papers.bortolato2021), which
draws the same heatmaps and marginals for every S/B it trains on.
"""

import json
import pathlib
import sys

import numpy as np

from preprocessing.cli import CommandParser, check_inputs, check_output_dir, integer
from preprocessing.errors import DataError, run_command

Z_RANGE = (-2.5, 0.0)  # the paper's latent range (bortolato2021, Fig. 7)
MJJ_RANGE = (2000.0, 8000.0)  # GeV


def main(argv=None):
    parser = CommandParser(prog="python -m evaluation.characterise", description=__doc__)
    parser.add_argument("--encoder", required=True, help="export of a bumphunt_vae: <base>/bumphunt_vae[/<version>]")
    parser.add_argument("--data", nargs="+", required=True, help="event samples (two jets per event)")
    parser.add_argument("--out", help="output folder (default: <export>/characterisation)")
    parser.add_argument("--epochs", type=integer(1), default=200)
    parser.add_argument("--seed", type=integer(0), default=0)
    parser.add_argument(
        "--z-range",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="latent range of the scan (default: the paper's [-2.5, 0] if it holds 90 %% of "
        "the training events, else their 1st-99th percentiles)",
    )
    args = parser.parse_args(argv)
    if args.z_range and not args.z_range[0] < args.z_range[1]:
        parser.error(f"--z-range: LOW must be below HIGH, got {args.z_range}")
    return run_command(run, args)


def run(args):
    if not pathlib.Path(args.encoder).is_dir():
        raise DataError(f"--encoder {args.encoder}: no such export folder")
    check_inputs(args.data, "--data")
    if args.out is not None:
        check_output_dir(args.out, "--out")

    summary = characterise(
        args.encoder,
        args.data,
        out=args.out,
        epochs=args.epochs,
        seed=args.seed,
        z_range=args.z_range,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    print(json.dumps(summary))
    return 0


def load_encoder(path):
    """The trained BumpHuntVAE (member 0) of an export, with its scaler; (model, card, folder)."""
    from models.bumphunt_vae import BumpHuntVAE
    from training.export import resolve_version
    from training.model_card import CARD_PATH, ModelCard

    folder = resolve_version(path)
    card = ModelCard.read(folder)
    if card.model != "bumphunt_vae":
        raise DataError(f"{folder}: exported model is {card.model!r}, not 'bumphunt_vae'")
    weights = folder / CARD_PATH.parent / "member0.weights.h5"
    if not weights.is_file():
        raise DataError(f"{weights}: missing; re-export the VAE with this version of training.fit")
    config = {k: v for k, v in card.config.items() if k not in ("name", "trainable")}
    vae = BumpHuntVAE(**config)
    vae.load_weights(str(weights))
    return vae, card, folder


def train_decoder(vae, features, mjj, train_idx, val_idx, epochs=200, batch_size=1000, seed=0, verbose=2):
    """Fit a MassDecoder on training events (encoder frozen); returns (decoder, keras History)."""
    import keras

    from models.bumphunt_vae import MassDecoder

    keras.utils.set_random_seed(seed)
    decoder = MassDecoder(vae, mjj[train_idx].mean(), mjj[train_idx].std(), seed=seed)
    decoder.compile(optimizer=keras.optimizers.Adam(1e-3))
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=8, restore_best_weights=True)
    history = decoder.fit(
        (features[train_idx], mjj[train_idx]),
        validation_data=((features[val_idx], mjj[val_idx]),),
        epochs=epochs,
        batch_size=batch_size,
        callbacks=[stop],
        verbose=verbose,
    )
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
    return rng, (
        f"the paper's z range {list(paper)} holds only {inside:.0%} of the training events; "
        f"scanned their 1st-99th percentiles [{rng[0]:.2f}, {rng[1]:.2f}] instead"
    )


def score_direction(vae, train_features, tail=0.01, n_t=60):
    """The side of the latent towards which the default score points, from training events only.

    The default score (``rarity``, whose latent term is the negative log density of the latent
    mean) is large in both tails of the training events' latent distribution; the anomalous side
    is the one holding most of the `tail` fraction of training events with the largest default
    score (a signal forms such a tail). The scan then runs along t = side * (z - median z) from
    the bulk (t = 0) to the 99.9th percentile of t, and the t where the latent term,
    ``latent_nll`` (a function of z alone), first passes its 90th and 99th training percentiles
    are marked.

    Returns:
        {"side", "median", "t_max", "levels": [(t, label)], "to_axis": z -> t, "label", "reason"}.
    """
    import tensorflow as tf

    z_all = np.asarray(vae.encode(train_features)[0], np.float64)  # (events, latent_dim)
    z = z_all[:, 0]
    scores = vae.anomaly_scores(train_features)
    score = np.asarray(scores[vae.default_score], np.float64)
    latent_score = np.asarray(scores["latent_nll"], np.float64)  # the latent term: a function of z
    median = float(np.median(z))
    top = score >= np.quantile(score, 1.0 - tail)
    above = float(np.mean(z[top] > median))
    side = 1.0 if above >= 0.5 else -1.0
    t_events = side * (z - median)
    t_max = float(max(np.percentile(t_events, 99.9) * 1.1, 1e-3))
    t = np.linspace(0.0, t_max, n_t)
    ray = np.zeros((n_t, vae.latent_dim), np.float32)
    ray[:, 0] = median + side * t  # other latent directions (if any) at the prior mean, as in scan
    along = -np.asarray(vae.latent_log_density(tf.constant(ray)), np.float64)
    levels = []
    for q in (0.9, 0.99):
        passed = np.flatnonzero(along >= np.quantile(latent_score, q))
        if len(passed):
            levels.append((float(t[passed[0]]), f"latent_nll > training {q:.0%}"))
    return {
        "side": side,
        "median": median,
        "t_max": t_max,
        "levels": levels,
        "to_axis": lambda values: side * (np.asarray(values, np.float64) - median),
        "label": f"t = {'+' if side > 0 else '-'}(z - {median:.2f}): towards the anomalous side",
        "reason": (
            f"{above if side > 0 else 1.0 - above:.0%} of the training events in the top {tail:.0%} of "
            f"{vae.default_score} lie "
            f"{'above' if side > 0 else 'below'} the median latent {median:.3f}; scanned t in [0, {t_max:.3f}]"
        ),
    }


def directed_scan(decoder, direction, n_t=60, n_m=60):
    """scan() along t = side * (z - median) in [0, t_max]: (t values, m_jj values, (n_t, n_m, features))."""
    z_range = (direction["median"], direction["median"] + direction["side"] * direction["t_max"])
    _, m, grid = scan(decoder, n_t, n_m, z_range=z_range)  # linspace runs from the bulk outwards
    return np.linspace(0.0, direction["t_max"], n_t), m, grid


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


def characterise(encoder, data, out=None, epochs=200, seed=0, z_range=None, verbose=2):
    """Decoder on (z, m_jj) behind the frozen encoder of an export, its heatmaps and marginals.

    Args:
        encoder: export of a bumphunt_vae, ``<base>/bumphunt_vae[/<version>]``.
        data: event samples (two jets per event), split by event 80/10/10 with `seed`.
        out: output folder (default: ``<export version>/characterisation``).
        z_range: (low, high) of the scan; None scans along the default score's direction
            (score_direction, training events only).

    Returns:
        the summary dict (encoder, out, epochs run, best validation loss, split sizes, z range and
        why, the largest deviation of each marginal from 1).
    """
    from evaluation import plots
    from preprocessing.representations.highlevel import FEATURES, dijet_features, event_labels
    from training.data import datasets

    vae, card, folder = load_encoder(encoder)
    sample = datasets.load(data)
    source = ", ".join(map(str, data))
    features, mjj, pairs = dijet_features(sample, source)
    labels = event_labels(sample, pairs)
    event = sample.event[pairs[:, 0]]
    train_idx, val_idx, test_idx = datasets.split(event, seed=seed)
    decoder, history = train_decoder(
        vae, features, mjj.astype(np.float32), train_idx, val_idx, epochs, seed=seed, verbose=verbose
    )
    out = pathlib.Path(out or folder / "characterisation")
    out.mkdir(parents=True, exist_ok=True)
    decoder.save_weights(str(out / "mass_decoder.weights.h5"))

    z_mean = latent_means(vae, features[test_idx])
    signal = card.signal_label
    is_signal = labels[test_idx] == sample.label_of(signal) if signal in sample.label_names else None
    axis = {"ylabel": "z", "levels": ()}
    if z_range:
        z_range, why = tuple(z_range), "given with --z-range"
        z, m, grid = scan(decoder, z_range=z_range)
    else:  # along the default score's direction, from the training events (no labels)
        direction = score_direction(vae, features[train_idx])
        z, m, grid = directed_scan(decoder, direction)
        z_mean = direction["to_axis"](z_mean)
        z_range = tuple(sorted((direction["median"], direction["median"] + direction["side"] * direction["t_max"])))
        why = direction["reason"]
        axis = {"ylabel": direction["label"], "levels": direction["levels"]}
    print(f"characterise: z range {z_range}: {why}", file=sys.stderr)
    plots.plot_latent_heatmaps(
        z,
        m,
        grid,
        FEATURES,
        z_mean,
        mjj[test_idx],
        is_signal,
        out / "heatmaps.png",
        title=f"decoder on (z, m_jj); encoder {folder}",
        **axis,
    )
    ratio = plots.plot_marginals(m, grid, FEATURES, out / "marginals.png")
    return {
        "encoder": str(folder),
        "out": str(out),
        "epochs_run": len(history.history["loss"]),
        "final_val_loss": float(min(history.history["val_loss"])),
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "z_range": list(z_range),
        "z_range_reason": why,
        "marginal_max_deviation": {f: float(np.max(np.abs(ratio[:, k] - 1))) for k, f in enumerate(FEATURES)},
    }


if __name__ == "__main__":
    sys.exit(main())
