"""bortolato2021: "Bump hunting in latent space" (B. Bortolato, B. M. Dillon, J. F. Kamenik,
A. Smolkovič, arXiv:2103.06595).

    python -m evaluation.reproduce bortolato2021 [--scale small|paper|smoke] [--out DIR] [--seed S]
    python -m evaluation.characterise --encoder exported/bumphunt_vae[/VERSION] --data events.h5

The reproduction trains ensembles of the bump-hunt VAE (models.bumphunt_vae) on dijet events
with signal injected at several S/B, scores held-out test events with the members' mean KL, and
compares the paper's stopping rule (weights of the max-KL epoch) with training on, Adadelta with
Adam (Fig. 2), and the KL with a label-free Gaussian-mixture density on the same observables.

The characterisation (Sec. 3, Figs. 7-9) freezes a trained encoder and fits a new decoder that
reconstructs the six observables from

    z ~ N(z_mean, sigma_z),   m ~ N(m_jj, 0.025 m_jj)   (m_jj standard-scaled),

reconstruction loss only, Adam until the validation loss stops improving. The decoder is then
scanned over a grid z x m_jj in [2, 8] TeV:

* heatmaps of every reconstructed observable over (m_jj, z) with the regions holding 68 % and 95 %
  of the signal and of the background events (Fig. 7; Fig. 8 for a background-only training),
* the marginal <O>_z / <O>_{z, m_jj} against m_jj (Fig. 9), with the band of background-only
  subsets in the reproduction.

The z range is the paper's [-2.5, 0] when it holds at least 90 % of the training events' latent
means; a latent placed elsewhere (the orientation and offset of a 1-D latent are arbitrary) gets
the range from the 1st to the 99th percentile of those means instead, widened to at least one
unit, so that the heatmaps show the decoder where events are rather than an extrapolation.
Truth labels are used only to draw the signal and background contours and for the metrics.
"""

import dataclasses
import pathlib
import sys

import numpy as np

from preprocessing.errors import DataError

SCALES = {
    # seconds-scale check that every step runs (tests)
    "smoke": {
        "n_background": 1_500,
        "n_signal": 300,
        "members": 2,
        "epochs": 6,
        "batch_size": 100,
        "learning_rate": 1.0,
        "fractions": (0.1, 0.01),
        "subsets": 2,
        "decoder_epochs": 3,
        "stability_runs": 1,
        "stability_epochs": 4,
    },
    # 60k events instead of 1M. The paper's Adadelta at TensorFlow's default learning rate (1e-3) makes
    # steps of ~3e-7 (lr * sqrt(epsilon)) and needs its 1000 steps per epoch; here Adadelta runs at 1.0
    # (Zeiler's setting) with batches of 100, i.e. 480 steps per epoch, so that the latent has time to
    # fill the prior (latent_spread in the report). With batches of 1000 it stays collapsed (spread
    # ~0.2) and the KL ranks signal *below* background (AUC ~0.2).
    "small": {
        "n_background": 60_000,
        "n_signal": 6_000,
        "members": 3,
        "epochs": 30,
        "batch_size": 100,
        "learning_rate": 1.0,
        "fractions": (0.1, 0.01, 0.001),
        "subsets": 2,
        "decoder_epochs": 40,
        "stability_runs": 1,
        "stability_epochs": 30,
    },
    "paper": {
        "n_background": 1_000_000,
        "n_signal": 100_000,
        "members": 20,
        "epochs": 100,
        "batch_size": 1000,
        "learning_rate": 1e-3,
        "fractions": (0.1, 0.01, 0.001),
        "subsets": 10,
        "decoder_epochs": 200,
        "stability_runs": 5,
        "stability_epochs": 100,
    },
}
PAPER_SIC = {0.001: 2.75}  # SIC improvement at eps_S ~ 0.5, S/B = 0.1 % (Fig. 4)
Z_RANGE = (-2.5, 0.0)
MJJ_RANGE = (2000.0, 8000.0)  # GeV


# -- data ------------------------------------------------------------------------------------
def samples(cfg, seed, paths=None):
    """(background, signal) event samples: the two given files, or generated ones (cached)."""
    from preprocessing.events.generator import generate
    from preprocessing.jets.observables import OBSERVABLES_VERSION
    from preprocessing.samples.format import read_sample, write_sample
    from training import datasets

    if paths:
        if len(paths) != 2:
            raise ValueError("bortolato2021 --data takes two files: background events, then signal events")
        return read_sample(paths[0]), read_sample(paths[1])
    out = []
    for process, n, s, opts in (
        ("dijet", cfg["n_background"], seed + 11, {}),
        ("lhco-signal", cfg["n_signal"], seed + 12, {"prongs": 2}),
    ):
        # the observables' version is in the name: a cache from older code is not reused
        path = datasets.cache_dir() / f"{process}_events{n}_seed{s}_obs{OBSERVABLES_VERSION}.h5"
        if not path.exists():
            print(f"bortolato2021: generating {n} {process} events into {path} (cached)", file=sys.stderr)
            write_sample(path, generate(process, 2 * n, seed=s, workers=2, **opts))
        out.append(read_sample(path))
    return out


def event_rows(sample):
    """(observables (events, 6), m_jj (events,), event ids (events,)) of a two-jets-per-event sample."""
    from preprocessing.representations.highlevel import dijet_features

    features, mjj, pairs = dijet_features(sample)
    return features, mjj.astype(np.float32), sample.event[pairs[:, 0]]


# -- the S/B scan ----------------------------------------------------------------------------
def gaussian_mixture_reference(x_train, x_test, is_signal, seed, components=10):
    """AUC and SIC(0.5) of -log p(x) from a Gaussian mixture fitted to the (max-abs scaled) training
    events: the reference the VAE's KL is compared with (no labels are used in the fit)."""
    from sklearn.mixture import GaussianMixture

    from preprocessing.representations.scalers import max_abs_scale
    from training import metrics

    scale = max_abs_scale(x_train, dtype=x_train.dtype)  # the bump-hunt VAE's input scaling
    gmm = GaussianMixture(components, random_state=seed).fit(x_train / scale)
    m = metrics.summary(-gmm.score_samples(x_test / scale), is_signal)
    return {"components": components, "auc": m["auc"], "sic_at_0.5": m["sic_50"] or float("inf")}


def run(scale, out, seed, paths=None):
    """The S/B scan with ensembles, the optimiser stability study and the characterisation at
    `scale`; figures into `out`; returns one result dict per S/B (the summary rows)."""
    import keras

    from evaluation import plots
    from models.base import batched_scores
    from preprocessing.representations.highlevel import FEATURES
    from training import metrics, pipeline
    from training.callbacks import ScoreSnapshots
    from training.datasets import split

    cfg = SCALES[scale]
    rng = np.random.default_rng(seed)
    bkg, sig = samples(cfg, seed, paths)
    xb, mb, eb = event_rows(bkg)
    xs, ms, es = event_rows(sig)
    b_tr, b_va, b_te = split(eb, seed=seed)
    s_tr, s_va, s_te = split(es, seed=seed)
    x_test = np.concatenate([xb[b_te], xs[s_te]])
    m_test = np.concatenate([mb[b_te], ms[s_te]])
    is_signal = np.r_[np.zeros(len(b_te), bool), np.ones(len(s_te), bool)]
    settings = pipeline.resolve(
        "bumphunt_vae",
        sets={"epochs": cfg["epochs"], "batch_size": cfg["batch_size"], "learning_rate": cfg["learning_rate"]},
    )

    def mixture(fraction, part_b, part_s):
        n_s = min(int(round(fraction * len(part_b))), len(part_s))
        idx_s = rng.choice(part_s, n_s, replace=False) if n_s else np.array([], int)
        return np.concatenate([xb[part_b], xs[idx_s]]), np.concatenate([mb[part_b], ms[idx_s]])

    def ensemble_metrics(kls):
        m = metrics.summary(kls.mean(0), is_signal)
        return {
            "auc": m["auc"],
            "r50": m["r50"],
            "sic_at_0.5": m["sic_50"] or float("inf"),
            "member_auc": [round(metrics.summary(k, is_signal)["auc"], 3) for k in kls],
        }

    results, members_at = [], {}
    for fraction in (*cfg["fractions"], 0.0):
        x_tr, m_tr = mixture(fraction, b_tr, s_tr)
        x_va, _ = mixture(fraction, b_va, s_va)
        kls, kls_last, spreads, members = [], [], [], []
        for k in range(cfg["members"]):
            member = pipeline.train_member(
                settings, x_tr, x_va, seed + k, out / ".runs" / f"sb{fraction}-{k}", verbose=0
            )
            model = member.model
            kls.append(batched_scores(model, x_test)["kl"])
            # label-free diagnostic: spread of the latent means (1 when the encodings fill the prior)
            spreads.append(float(np.std(np.asarray(model.encode(x_va)[0]))))
            # the same member at its last epoch, to compare the paper's stopping rule with training on
            peak = model.get_weights()
            model.set_weights(member.stopping.final_weights)
            kls_last.append(batched_scores(model, x_test)["kl"])
            model.set_weights(peak)
            members.append(member)
        # the ensemble's score is the members' mean KL (models.ensemble.Ensemble); the members'
        # own scores are kept for their AUCs and the band of the ROC
        kls = np.stack(kls)  # (members, test events)
        mean, std = kls.mean(0), kls.std(0)
        res = {
            "fraction": fraction,
            **ensemble_metrics(kls),
            "members": cfg["members"],
            "n_train": len(x_tr),
            "peak_epochs": [int(mm.stopping.epoch) for mm in members],
            "latent_spread": [round(v, 3) for v in spreads],
            "last_epoch": {
                "epochs": [int(mm.stopping.final_epoch) for mm in members],
                **ensemble_metrics(np.stack(kls_last)),
            },
            "stopping": [mm.stopping.reason for mm in members],
            "paper_sic": PAPER_SIC.get(fraction),
        }
        plots.plot_ensemble_roc(
            mean,
            std,
            is_signal,
            out / f"roc_sb{fraction:g}.png",
            title=f"S/B = {fraction:.1%}: mean KL of {cfg['members']} VAEs (band: +-1 std)",
        )
        print(
            f"  S/B={fraction:.2%}: AUC {res['auc']:.3f}, SIC(0.5) {res['sic_at_0.5']:.2f} (max-KL epochs "
            f"{res['peak_epochs']}); last epoch: AUC {res['last_epoch']['auc']:.3f}, SIC(0.5) "
            f"{res['last_epoch']['sic_at_0.5']:.2f}",
            file=sys.stderr,
        )
        # reference: a label-free density estimate on the same training events and inputs (what an
        # anomaly score built on these six observables can reach on these samples)
        res["density_reference"] = gaussian_mixture_reference(x_tr, x_test, is_signal, seed)
        results.append(res)
        members_at[fraction] = members

    # Adadelta vs Adam over the epochs, smallest S/B (Fig. 2): AUC of the validation KL per epoch
    x_tr, m_tr = mixture(min(cfg["fractions"]), b_tr, s_tr)
    x_va = np.concatenate([xb[b_va], xs[s_va]])
    va_signal = np.r_[np.zeros(len(b_va), bool), np.ones(len(s_va), bool)]
    curves = {}
    for opt, lr in (("adadelta", cfg["learning_rate"]), ("adam", 1e-3)):
        stable = dataclasses.replace(
            settings,
            training={
                **settings.training,
                "epochs": cfg["stability_epochs"],
                "optimizer": opt,
                "learning_rate": lr,
                "stopping": "none",
            },
        )
        for k in range(cfg["stability_runs"]):
            snaps = ScoreSnapshots(x_va, range(1, cfg["stability_epochs"] + 1), score="kl")
            pipeline.train_member(
                stable, x_tr, x_va, seed + 100 + k, out / ".runs" / f"stab-{opt}-{k}", callbacks=[snaps], verbose=0
            )
            curves[f"{opt} run {k}"] = [
                metrics.summary(snaps.snapshots[e], va_signal)["auc"] for e in sorted(snaps.snapshots)
            ]
    plots.plot_curves(
        curves,
        out / "stability_adadelta_vs_adam.png",
        xlabel="epoch",
        ylabel="AUC of the validation KL",
        title=f"S/B = {min(cfg['fractions']):.1%}",
    )

    # characterisation (Figs. 7-9): decoder on (z, m_jj) for S/B = 1 % (or the nearest) and background only
    char_fraction = min(cfg["fractions"], key=lambda f: abs(f - 0.01))
    ratios = {}
    for fraction in (char_fraction, 0.0):
        x_tr, m_tr = mixture(fraction, b_tr, s_tr)
        n = len(x_tr)
        order = rng.permutation(n)
        tr, va = order[: int(0.9 * n)], order[int(0.9 * n) :]
        vae = members_at[fraction][0].model
        decoder, _ = train_decoder(vae, x_tr, m_tr, tr, va, epochs=cfg["decoder_epochs"], seed=seed, verbose=0)
        z_range, why = latent_range(latent_means(vae, x_tr))
        print(f"  heatmaps S/B={fraction:.2%}: z range {z_range}: {why}", file=sys.stderr)
        z, m, grid = scan(decoder, z_range=z_range)
        z_test = latent_means(vae, x_test)
        plots.plot_latent_heatmaps(
            z,
            m,
            grid,
            FEATURES,
            z_test,
            m_test,
            is_signal,
            out / f"heatmaps_sb{fraction:g}.png",
            title=f"S/B = {fraction:.1%}",
        )
        ratios[fraction] = grid.mean(axis=0) / grid.mean(axis=(0, 1))
    # background-only subsets give the band of statistical fluctuations (Fig. 9)
    band = []
    for k in range(cfg["subsets"]):
        sub = rng.choice(b_tr, int(0.8 * len(b_tr)), replace=False)
        vae = pipeline.train_member(
            settings, xb[sub], xb[b_va], seed + 200 + k, out / ".runs" / f"subset{k}", verbose=0
        ).model
        order = rng.permutation(len(sub))
        decoder, _ = train_decoder(
            vae,
            xb[sub],
            mb[sub],
            order[: int(0.9 * len(sub))],
            order[int(0.9 * len(sub)) :],
            epochs=cfg["decoder_epochs"],
            seed=seed + k,
            verbose=0,
        )
        z_range, _ = latent_range(latent_means(vae, xb[sub]))
        _, m, grid = scan(decoder, z_range=z_range)
        band.append(grid.mean(axis=0) / grid.mean(axis=(0, 1)))
    band = np.stack(band)
    plots.plot_marginals(
        m, None, FEATURES, out / "marginals.png", bands=(band.min(0), band.max(0)), ratio=ratios[char_fraction]
    )
    keras.backend.clear_session()
    return results


def write_report(results, out, scale, seed, seconds):
    """out/report.md: per S/B the max-KL-epoch and last-epoch ensembles and the density reference;
    returns `results` (already the summary rows)."""

    def r50(r):
        return f"{r['r50']:.1f}" if r["r50"] else "inf"

    lines = [
        f"# bortolato2021 reproduction ({scale} scale, seed {seed})",
        "",
        f"Pythia8 + FastJet dijet events; {seconds / 60:.1f} minutes in all. Ensemble score: mean per-event "
        "KL of the members; test events are held out, signal as the positive class. 'max-KL epoch' is the "
        "paper's rule (KLPeakStopping: the validation-KL peak, else the largest validation KL); 'last "
        "epoch' scores the same members after their last epoch. Latent spread: standard deviation of the "
        "validation events' latent means per member (1 when the encodings fill the N(0, 1) prior).",
        "",
        "| S/B | weights | AUC | R50 | SIC at eps_S = 0.5 | paper SIC | members' AUC | epochs | latent spread |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        last = r["last_epoch"]
        lines.append(
            f"| {r['fraction']:.1%} | max-KL epoch | {r['auc']:.3f} | {r50(r)} | {r['sic_at_0.5']:.2f} | "
            f"{r['paper_sic'] or ''} | {r['member_auc']} | {r['peak_epochs']} | {r['latent_spread']} |"
        )
        lines.append(
            f"| {r['fraction']:.1%} | last epoch | {last['auc']:.3f} | {r50(last)} | "
            f"{last['sic_at_0.5']:.2f} | | {last['member_auc']} | {last['epochs']} | |"
        )
        ref = r["density_reference"]
        lines.append(
            f"| {r['fraction']:.1%} | reference: {ref['components']}-Gaussian mixture -log p | "
            f"{ref['auc']:.3f} | | {ref['sic_at_0.5']:.2f} | | | | |"
        )
    lines += [
        "",
        f"Members: {results[0]['members']}; training events: "
        + ", ".join(f"{r['fraction']:.1%}: {r['n_train']}" for r in results),
        "",
        "Stopping: " + "; ".join(sorted({s for r in results for s in r["stopping"]}))[:2000],
        "",
        "Figures: " + ", ".join(sorted(p.name for p in out.glob("*.png"))),
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return results


# -- the (z, m_jj) characterisation ----------------------------------------------------------
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
        z_range: (low, high) of the scan; None chooses it with latent_range on the training events.

    Returns:
        the summary dict (encoder, out, epochs run, best validation loss, split sizes, z range and
        why, the largest deviation of each marginal from 1).
    """
    from evaluation import plots
    from preprocessing.representations.highlevel import FEATURES, dijet_features, event_labels
    from training import datasets

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
    if z_range:
        z_range, why = tuple(z_range), "given with --z-range"
    else:
        z_range, why = latent_range(latent_means(vae, features[train_idx]))
    print(f"characterise: z range {z_range}: {why}", file=sys.stderr)
    z, m, grid = scan(decoder, z_range=z_range)
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
