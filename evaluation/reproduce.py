"""Paper-reproduction runs: put our numbers next to the paper's.

    python -m evaluation.reproduce dillon2021 [--scale small|paper] [--out DIR] [--seed S]

dillon2021 ("Better Latent Spaces for Better Autoencoders", arXiv:2104.08291) scenarios, all on
jets generated here (training.data's default QCD and top samples), each trained on train/validation
jets and evaluated on held-out test jets with balanced classes:

* t/Q = 1 with ae1d, vae1d, gmvae, dvae (Figs. 3, 5, 7): ROC curves and the development of the
  default score's distribution per class over the epochs;
* DVAE R=2, alpha=(1, 0.25) (alpha=(1, 1) at a fraction of 1): anomalous top at t/Q in
  {1, 0.25, 0.05, 0.01} and anomalous QCD at Q/t in the same fractions (Fig. 9), mixture-weight vs
  reconstruction score;
* DVAE R=3, alpha=(1, 0.25, 0.1) at t/Q = 0.01 and Q/t = 0.01, each mixture weight as a score
  (Fig. 11), the mixture images (Fig. 12) and Gibbs triangles (Fig. 13);
* the DVAE (alpha = (1, 0.25)) on primary Lund-plane images at t/Q = 1 and 0.05 (Fig. 15).

The anomalous class is the positive class of every AUC. Scores keep their one direction: the
default score of a model is chosen by its label-free rule; the per-component AUCs of the R=3
runs are shown for every component, as in the paper's Fig. 11, and the paper's 0.91 refers to
the best of them, a choice that looks at labels (marked in the report).

Writes DIR/report.md (tables) and figures, and prints the report path and a JSON summary.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

# sizes per scale: jets per class available for training (dominant class), test jets per class,
# epochs per model family
SCALES = {
    "small": {"n_jets": 60_000, "train_per_class": 12_000, "test_per_class": 3_000,
              "epochs": {"dvae": 30, "ae1d": 6, "vae1d": 6, "gmvae": 6}, "conv_train_per_class": 4_000},
    # a few minutes' check that every scenario runs end to end (used by the tests)
    "smoke": {"n_jets": 2_000, "train_per_class": 400, "test_per_class": 150,
              "epochs": {"dvae": 2, "ae1d": 1, "vae1d": 1, "gmvae": 1}, "conv_train_per_class": 200,
              "overrides": {"ae1d": {"filters": 4, "hidden_units": 16}, "vae1d": {"filters": 4, "hidden_units": 16},
                            "gmvae": {"filters": 4, "hidden_units": 16}}},
    "paper": {"n_jets": 200_000, "train_per_class": 80_000, "test_per_class": 10_000,
              "epochs": {"dvae": 200, "ae1d": 200, "vae1d": 200, "gmvae": 200}, "conv_train_per_class": 80_000},
}
FRACTIONS = (1.0, 0.25, 0.05, 0.01)
PAPER = {  # dillon2021 numbers quoted in the text (SPECS.md)
    ("balanced", "vae1d", "latent"): 0.83,
    ("balanced", "dvae", "mixture_weight"): 0.89,
    ("r3 Q/t=0.01", "dvae", "best component"): 0.91,
}


def prepare(scale, seed, paths=None):
    """Jet images, Lund-plane images and per-class train/validation/test indices (default dataset unless `paths`)."""
    from preprocessing import representations
    from training import data as datasets

    cfg = SCALES[scale]
    paths = paths or datasets.default_dataset(cfg["n_jets"])
    sample = datasets.load(paths)
    source = ", ".join(map(str, paths))
    x = representations.build("jet_image", sample, source=source)["jet_image"]
    lund = representations.build("lund_image", sample, source=source)["lund_image"]
    classes = {}
    for name in ("qcd", "top"):
        idx = np.flatnonzero(sample.labels == sample.label_of(name))
        # split by event inside each class (jets of one event stay together)
        tr, va, te = (idx[p] for p in _event_split(sample.event[idx], seed))
        classes[name] = {"train": tr, "val": va, "test": te[: cfg["test_per_class"]]}
    return x, lund, classes


def _event_split(event, seed):
    from training.data import split

    return split(event, seed=seed)


def mixed(classes, dominant, anomalous, fraction, n_dominant, part, rng):
    """Indices of `n_dominant` dominant jets plus fraction * n_dominant anomalous jets from one split."""
    scale = 1.0 if part == "train" else 0.125
    n_dom = min(int(n_dominant * scale), len(classes[dominant][part]))
    n_ano = min(max(1, int(round(fraction * n_dom))), len(classes[anomalous][part]))
    idx = np.concatenate([rng.choice(classes[dominant][part], n_dom, replace=False),
                          rng.choice(classes[anomalous][part], n_ano, replace=False)])
    return rng.permutation(idx)


def run_scenario(model_name, preset, x, train_idx, val_idx, test_idx, is_signal, epochs, seed, out, tag,
                 overrides=None, snapshot_probe=None):
    """Train one model and score the test jets; returns a result dict."""
    from evaluation import metrics
    from models.registry import MODELS
    from training.callbacks import ScoreSnapshots
    from training.fit import batched_scores, train

    spec = MODELS[model_name]
    config = {**spec.presets[preset]["config"], **(overrides or {})}
    training = {**spec.training, "epochs": epochs}
    callbacks = []
    if snapshot_probe is not None:
        marks = sorted({1, max(1, epochs // 4), max(1, epochs // 2), epochs})
        callbacks.append(ScoreSnapshots(x[snapshot_probe], marks))
    start = time.perf_counter()
    model, history, _ = train(spec, config, training, x[train_idx], x[val_idx], seed, out / ".runs" / tag,
                              callbacks=callbacks, verbose=0)
    scores = batched_scores(model, x[test_idx])
    result = {
        "tag": tag, "model": model_name, "preset": preset, "default_score": model.default_score,
        "n_train": len(train_idx), "epochs": epochs, "seconds": round(time.perf_counter() - start, 1),
        "metrics": {k: metrics.summary(v, is_signal) for k, v in scores.items()},
        "scores": scores, "model_obj": model,
        "snapshots": callbacks[0].snapshots if callbacks else None,
    }
    if hasattr(model, "mixture_weights"):
        r = np.concatenate([np.asarray(model.mixture_weights(x[test_idx][i:i + 4096]))
                            for i in range(0, len(test_idx), 4096)])
        result["mixture_weights"] = r
        result["component_auc"] = [metrics.summary(r[:, k], is_signal)["auc"] for k in range(r.shape[1])]
    print(f"  {tag}: " + ", ".join(f"AUC({k})={v['auc']:.3f}" for k, v in result["metrics"].items())
          + f"  [{result['seconds']} s]", file=sys.stderr)
    return result


def dillon2021(scale, out, seed, paths=None):
    from evaluation import plots

    cfg = SCALES[scale]
    overrides = cfg.get("overrides", {})
    rng = np.random.default_rng(seed)
    x, lund, classes = prepare(scale, seed, paths)
    results = []
    test = np.concatenate([classes["qcd"]["test"], classes["top"]["test"]])
    top_is_signal = np.r_[np.zeros(len(classes["qcd"]["test"]), bool), np.ones(len(classes["top"]["test"]), bool)]

    # 1. balanced t/Q = 1, every model
    probe = np.concatenate([classes["qcd"]["val"][:500], classes["top"]["val"][:500]])
    probe_top = np.r_[np.zeros(min(500, len(classes["qcd"]["val"])), bool),
                      np.ones(min(500, len(classes["top"]["val"])), bool)]
    balanced = {}
    for name in ("dvae", "vae1d", "gmvae", "ae1d"):
        per_class = cfg["train_per_class"] if name == "dvae" else cfg["conv_train_per_class"]
        tr = mixed(classes, "qcd", "top", 1.0, per_class, "train", rng)
        va = mixed(classes, "qcd", "top", 1.0, per_class, "val", rng)
        preset = "balanced" if name == "dvae" else "paper"
        res = run_scenario(name, preset, x, tr, va, test, top_is_signal, cfg["epochs"][name], seed, out,
                           f"balanced-{name}", overrides=overrides.get(name), snapshot_probe=probe)
        res["scenario"] = "balanced"
        balanced[name] = res
        results.append(res)
        plots.plot_snapshots(res["snapshots"], probe_top, ["qcd", "top"], out / f"latent_evolution_{name}.png",
                             title=f"{name}: {res['default_score']} on validation jets over training")
    plots.plot_roc({f"{n} ({r['default_score']})": (r["scores"][r["default_score"]], top_is_signal)
                    for n, r in balanced.items()} |
                   {f"{n} (reconstruction)": (r["scores"]["reconstruction"], top_is_signal)
                    for n, r in balanced.items() if n in ("ae1d", "vae1d")},
                   out / "roc_balanced_top_signal.png", title="t/Q = 1, top as signal")
    plots.plot_roc({f"{n} ({r['default_score']})": (r["scores"][r["default_score"]], ~top_is_signal)
                    for n, r in balanced.items()},
                   out / "roc_balanced_qcd_signal.png", title="t/Q = 1, QCD as signal (same scores)")
    plots.plot_images(balanced["dvae"]["model_obj"].mixture_images(), ["component 0", "component 1"],
                      out / "mixture_images_balanced.png", suptitle="DVAE R=2, t/Q = 1")

    # 2. DVAE R=2 imbalanced prior: anomalous top and anomalous QCD at several fractions
    scan = {"top": [], "qcd": []}
    for anomalous, dominant in (("top", "qcd"), ("qcd", "top")):
        is_sig = top_is_signal if anomalous == "top" else ~top_is_signal
        for f in FRACTIONS:
            tr = mixed(classes, dominant, anomalous, f, cfg["train_per_class"], "train", rng)
            va = mixed(classes, dominant, anomalous, f, cfg["train_per_class"], "val", rng)
            tag = f"{'t/Q' if anomalous == 'top' else 'Q/t'}={f}"
            # the paper's imbalanced prior alpha = (1, 0.25) where one class is rarer, balanced at f = 1
            preset = "balanced" if f == 1.0 else "imbalanced"
            res = run_scenario("dvae", preset, x, tr, va, test, is_sig, cfg["epochs"]["dvae"], seed, out,
                               f"r2-{anomalous}-{f}")
            res["scenario"] = f"r2 {tag}"
            results.append(res)
            scan[anomalous].append(res)
    plots.plot_fraction_scan(FRACTIONS, scan, out / "fraction_scan_dvae_r2.png")

    # 3. DVAE R=3 hierarchical prior at t/Q = 0.01 and Q/t = 0.01
    for anomalous, dominant in (("top", "qcd"), ("qcd", "top")):
        is_sig = top_is_signal if anomalous == "top" else ~top_is_signal
        tr = mixed(classes, dominant, anomalous, 0.01, cfg["train_per_class"], "train", rng)
        va = mixed(classes, dominant, anomalous, 0.01, cfg["train_per_class"], "val", rng)
        tag = "t/Q=0.01" if anomalous == "top" else "Q/t=0.01"
        res = run_scenario("dvae", "hierarchical3", x, tr, va, test, is_sig, cfg["epochs"]["dvae"], seed, out,
                           f"r3-{anomalous}")
        res["scenario"] = f"r3 {tag}"
        results.append(res)
        model = res["model_obj"]
        plots.plot_images(model.mixture_images(), [f"r{k}" for k in range(3)],
                          out / f"mixture_images_r3_{anomalous}_anomalous.png", suptitle=f"DVAE R=3, {tag}")
        plots.plot_gibbs(model.alpha, res["mixture_weights"], is_sig, [dominant, anomalous],
                         out / f"gibbs_r3_{anomalous}_anomalous.png", title=f"DVAE R=3, {tag}")

    # 4. DVAE on primary Lund-plane images (appendix, Fig. 15), anomalous top at t/Q = 1 and 0.05
    for f in (1.0, 0.05):
        tr = mixed(classes, "qcd", "top", f, cfg["train_per_class"], "train", rng)
        va = mixed(classes, "qcd", "top", f, cfg["train_per_class"], "val", rng)
        res = run_scenario("dvae", "lund", lund, tr, va, test, top_is_signal, cfg["epochs"]["dvae"], seed, out,
                           f"lund-top-{f}")
        res["scenario"] = f"lund t/Q={f}"
        results.append(res)
        if f == 1.0:
            plots.plot_images(res["model_obj"].mixture_images(), ["component 0", "component 1"],
                              out / "mixture_images_lund.png", suptitle="DVAE on Lund planes, t/Q = 1",
                              axis_labels=(r"$\ln 1/\Delta R$ pixel (0 to 6)", r"$\ln k_T$ pixel (-2 to 5)"))
    return results


def write_report(results, out, scale, seed, seconds):
    lines = [f"# dillon2021 reproduction ({scale} scale, seed {seed})", "",
             f"Generated Pythia8 + FastJet jets (see each run's sizes); {seconds / 60:.1f} minutes in all. "
             "AUC with the anomalous class as positive (top for t/Q = 1); scores keep one direction.", "",
             "| scenario | model | score | AUC | R50 | paper AUC | train jets | epochs |",
             "|---|---|---|---|---|---|---|---|"]
    summary = []
    for r in results:
        for score, m in r["metrics"].items():
            paper = PAPER.get((r["scenario"], r["model"], score), "")
            mark = " (default)" if score == r["default_score"] else ""
            r50 = f"{m['r50']:.1f}" if m["r50"] else "inf"
            lines.append(f"| {r['scenario']} | {r['model']} | {score}{mark} | {m['auc']:.3f} | {r50} | {paper} | "
                         f"{r['n_train']} | {r['epochs']} |")
            summary.append({"scenario": r["scenario"], "model": r["model"], "score": score, "auc": m["auc"],
                            "r50": m["r50"], "paper_auc": paper or None})
        if "component_auc" in r and r["model_obj"].n_components == 3:
            best = max(r["component_auc"])
            paper = PAPER.get((r["scenario"], "dvae", "best component"), "")
            comps = ", ".join(f"r{k}: {a:.3f}" for k, a in enumerate(r["component_auc"]))
            lines.append(f"| {r['scenario']} | dvae | per component ({comps}); best, chosen with labels | "
                         f"{best:.3f} | | {paper} | {r['n_train']} | {r['epochs']} |")
            summary.append({"scenario": r["scenario"], "model": "dvae", "score": "best component (label-chosen)",
                            "auc": best, "paper_auc": paper or None})
    lines += ["", "Figures: " + ", ".join(sorted(p.name for p in out.glob("*.png")))]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m evaluation.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paper", choices=["dillon2021", "bortolato2021"])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--out", default=None, help="output folder (default: reproductions/<paper>-<scale>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", nargs="+", help="instead of generated data: QCD and top jet files (dillon2021); "
                                                  "background and signal event files (bortolato2021)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out or f"reproductions/{args.paper}-{args.scale}")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.paper == "bortolato2021":
        if args.scale not in BH_SCALES:
            parser.error(f"bortolato2021 scales: {sorted(BH_SCALES)}")
        summary = bortolato2021(args.scale, out, args.seed, args.data)
        write_bh_report(summary, out, args.scale, args.seed, time.perf_counter() - start)
    else:
        results = dillon2021(args.scale, out, args.seed, args.data)
        summary = write_report(results, out, args.scale, args.seed, time.perf_counter() - start)
    print(f"report: {out / 'report.md'}", file=sys.stderr)
    print(json.dumps({"report": str(out / "report.md"), "results": summary}))
    return 0



# ---------------------------------------------------------------------------------------------
# bortolato2021: latent-space bump hunt
# ---------------------------------------------------------------------------------------------
BH_SCALES = {
    # seconds-scale check that every step runs (tests)
    "smoke": {"n_background": 1_500, "n_signal": 300, "members": 2, "epochs": 6, "batch_size": 100,
              "learning_rate": 1.0, "fractions": (0.1, 0.01), "subsets": 2, "decoder_epochs": 3,
              "stability_runs": 1, "stability_epochs": 4},
    # 60k events instead of 1M. The paper's Adadelta at TensorFlow's default learning rate (1e-3) makes
    # steps of ~3e-7 (lr * sqrt(epsilon)) and needs its 1000 steps per epoch; here Adadelta runs at 1.0
    # (Zeiler's setting) with batches of 100, i.e. 480 steps per epoch, so that the latent has time to
    # fill the prior (latent_spread in the report). With batches of 1000 it stays collapsed (spread
    # ~0.2) and the KL ranks signal *below* background (AUC ~0.2; see the issue note).
    "small": {"n_background": 60_000, "n_signal": 6_000, "members": 3, "epochs": 30, "batch_size": 100,
              "learning_rate": 1.0, "fractions": (0.1, 0.01, 0.001), "subsets": 2, "decoder_epochs": 40,
              "stability_runs": 1, "stability_epochs": 30},
    "paper": {"n_background": 1_000_000, "n_signal": 100_000, "members": 20, "epochs": 100, "batch_size": 1000,
              "learning_rate": 1e-3, "fractions": (0.1, 0.01, 0.001), "subsets": 10, "decoder_epochs": 200,
              "stability_runs": 5, "stability_epochs": 100},
}
BH_PAPER_SIC = {0.001: 2.75}  # SIC improvement at eps_S ~ 0.5, S/B = 0.1 % (Fig. 4)


def _bh_samples(cfg, seed, paths):
    """(background, signal) event samples: given files or generated ones (cached)."""
    from preprocessing.generate import generate
    from preprocessing.observables import OBSERVABLES_VERSION
    from preprocessing.sample import read_sample, write_sample
    from training import data as datasets

    if paths:
        if len(paths) != 2:
            raise ValueError("bortolato2021 --data takes two files: background events, then signal events")
        return read_sample(paths[0]), read_sample(paths[1])
    out = []
    for process, n, s, opts in (("dijet", cfg["n_background"], seed + 11, {}),
                                ("lhco-signal", cfg["n_signal"], seed + 12, {"prongs": 2})):
        # the observables' version is in the name: a cache from older code is not reused
        path = datasets.cache_dir() / f"{process}_events{n}_seed{s}_obs{OBSERVABLES_VERSION}.h5"
        if not path.exists():
            print(f"bortolato2021: generating {n} {process} events into {path} (cached)", file=sys.stderr)
            write_sample(path, generate(process, 2 * n, seed=s, workers=2, **opts))
        out.append(read_sample(path))
    return out


def _event_rows(sample):
    from preprocessing.highlevel import dijet_features

    features, mjj, pairs = dijet_features(sample)
    return features, mjj.astype(np.float32), sample.event[pairs[:, 0]]


def bortolato2021(scale, out, seed, paths=None):
    import keras

    from evaluation import metrics, plots
    from models.registry import MODELS
    from training import characterise
    from training.callbacks import ScoreSnapshots
    from training.data import split
    from training.fit import batched_scores, train

    cfg = BH_SCALES[scale]
    rng = np.random.default_rng(seed)
    bkg, sig = _bh_samples(cfg, seed, paths)
    xb, mb, eb = _event_rows(bkg)
    xs, ms, es = _event_rows(sig)
    b_tr, b_va, b_te = split(eb, seed=seed)
    s_tr, s_va, s_te = split(es, seed=seed)
    x_test = np.concatenate([xb[b_te], xs[s_te]])
    m_test = np.concatenate([mb[b_te], ms[s_te]])
    is_signal = np.r_[np.zeros(len(b_te), bool), np.ones(len(s_te), bool)]
    spec = MODELS["bumphunt_vae"]
    training = {**spec.training, "epochs": cfg["epochs"], "batch_size": cfg["batch_size"],
                "learning_rate": cfg["learning_rate"]}

    def mixture(fraction, part_b, part_s):
        n_s = min(int(round(fraction * len(part_b))), len(part_s))
        idx_s = rng.choice(part_s, n_s, replace=False) if n_s else np.array([], int)
        return np.concatenate([xb[part_b], xs[idx_s]]), np.concatenate([mb[part_b], ms[idx_s]])

    def ensemble_metrics(kls):
        m = metrics.summary(kls.mean(0), is_signal)
        return {"auc": m["auc"], "r50": m["r50"], "sic_at_0.5": m["sic_50"] or float("inf"),
                "member_auc": [round(metrics.summary(k, is_signal)["auc"], 3) for k in kls]}

    results, members_at = [], {}
    for fraction in (*cfg["fractions"], 0.0):
        x_tr, m_tr = mixture(fraction, b_tr, s_tr)
        x_va, _ = mixture(fraction, b_va, s_va)
        kls, kls_last, spreads, members = [], [], [], []
        for k in range(cfg["members"]):
            model, _, _ = train(spec, {}, training, x_tr, x_va, seed + k, out / ".runs" / f"sb{fraction}-{k}",
                                verbose=0)
            kls.append(batched_scores(model, x_test)["kl"])
            # label-free diagnostic: spread of the latent means (1 when the encodings fill the prior)
            spreads.append(float(np.std(np.asarray(model.encode(x_va)[0]))))
            # the same member at its last epoch, to compare the paper's stopping rule with training on
            peak = model.get_weights()
            model.set_weights(model.final_state[1])
            kls_last.append(batched_scores(model, x_test)["kl"])
            model.set_weights(peak)
            members.append(model)
        kls = np.stack(kls)  # (members, test events)
        mean, std = kls.mean(0), kls.std(0)
        res = {"fraction": fraction, **ensemble_metrics(kls), "members": cfg["members"], "n_train": len(x_tr),
               "peak_epochs": [int(mm.peak_epoch) for mm in members],
               "latent_spread": [round(v, 3) for v in spreads],
               "last_epoch": {"epochs": [int(mm.final_state[0]) for mm in members],
                              **ensemble_metrics(np.stack(kls_last))},
               "stopping": [getattr(mm, "stopping_reason", "") for mm in members],
               "paper_sic": BH_PAPER_SIC.get(fraction)}
        plots.plot_ensemble_roc(mean, std, is_signal, out / f"roc_sb{fraction:g}.png",
                                title=f"S/B = {fraction:.1%}: mean KL of {cfg['members']} VAEs (band: +-1 std)")
        print(f"  S/B={fraction:.2%}: AUC {res['auc']:.3f}, SIC(0.5) {res['sic_at_0.5']:.2f} (max-KL epochs "
              f"{res['peak_epochs']}); last epoch: AUC {res['last_epoch']['auc']:.3f}, SIC(0.5) "
              f"{res['last_epoch']['sic_at_0.5']:.2f}", file=sys.stderr)
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
        for k in range(cfg["stability_runs"]):
            snaps = ScoreSnapshots(x_va, range(1, cfg["stability_epochs"] + 1), score="kl")
            stab = {**training, "epochs": cfg["stability_epochs"], "optimizer": opt, "learning_rate": lr,
                    "stopping": "none"}
            train(spec, {}, stab, x_tr, x_va, seed + 100 + k, out / ".runs" / f"stab-{opt}-{k}",
                  callbacks=[snaps], verbose=0)
            curves[f"{opt} run {k}"] = [metrics.summary(snaps.snapshots[e], va_signal)["auc"]
                                        for e in sorted(snaps.snapshots)]
    plots.plot_curves(curves, out / "stability_adadelta_vs_adam.png", xlabel="epoch",
                      ylabel="AUC of the validation KL", title=f"S/B = {min(cfg['fractions']):.1%}")

    # characterisation (Figs. 7-9): decoder on (z, m_jj) for S/B = 1 % (or the nearest) and background only
    char_fraction = min(cfg["fractions"], key=lambda f: abs(f - 0.01))
    ratios = {}
    for fraction in (char_fraction, 0.0):
        x_tr, m_tr = mixture(fraction, b_tr, s_tr)
        n = len(x_tr)
        order = rng.permutation(n)
        tr, va = order[: int(0.9 * n)], order[int(0.9 * n):]
        vae = members_at[fraction][0]
        decoder, _ = characterise.train_decoder(vae, x_tr, m_tr, tr, va, epochs=cfg["decoder_epochs"], seed=seed,
                                                verbose=0)
        z_range, why = characterise.latent_range(characterise.latent_means(vae, x_tr))
        print(f"  heatmaps S/B={fraction:.2%}: z range {z_range}: {why}", file=sys.stderr)
        z, m, grid = characterise.scan(decoder, z_range=z_range)
        z_test = characterise.latent_means(vae, x_test)
        plots.plot_latent_heatmaps(z, m, grid, _features(), z_test, m_test, is_signal,
                                   out / f"heatmaps_sb{fraction:g}.png", title=f"S/B = {fraction:.1%}")
        ratios[fraction] = grid.mean(axis=0) / grid.mean(axis=(0, 1))
    # background-only subsets give the band of statistical fluctuations (Fig. 9)
    band = []
    for k in range(cfg["subsets"]):
        sub = rng.choice(b_tr, int(0.8 * len(b_tr)), replace=False)
        vae, _, _ = train(spec, {}, training, xb[sub], xb[b_va], seed + 200 + k, out / ".runs" / f"subset{k}",
                          verbose=0)
        order = rng.permutation(len(sub))
        decoder, _ = characterise.train_decoder(vae, xb[sub], mb[sub], order[: int(0.9 * len(sub))],
                                                order[int(0.9 * len(sub)):], epochs=cfg["decoder_epochs"],
                                                seed=seed + k, verbose=0)
        z_range, _ = characterise.latent_range(characterise.latent_means(vae, xb[sub]))
        _, m, grid = characterise.scan(decoder, z_range=z_range)
        band.append(grid.mean(axis=0) / grid.mean(axis=(0, 1)))
    band = np.stack(band)
    plots.plot_marginals(m, None, _features(), out / "marginals.png", bands=(band.min(0), band.max(0)),
                         ratio=ratios[char_fraction])
    keras.backend.clear_session()
    return results


def gaussian_mixture_reference(x_train, x_test, is_signal, seed, components=10):
    """AUC and SIC(0.5) of -log p(x) from a Gaussian mixture fitted to the (max-abs scaled) training
    events: the reference the VAE's KL is compared with (no labels are used in the fit)."""
    from sklearn.mixture import GaussianMixture

    from evaluation import metrics

    scale = np.max(np.abs(x_train), axis=0)
    gmm = GaussianMixture(components, random_state=seed).fit(x_train / scale)
    m = metrics.summary(-gmm.score_samples(x_test / scale), is_signal)
    return {"components": components, "auc": m["auc"], "sic_at_0.5": m["sic_50"] or float("inf")}


def _features():
    from preprocessing.highlevel import FEATURES

    return FEATURES


def write_bh_report(results, out, scale, seed, seconds):
    def r50(r):
        return f"{r['r50']:.1f}" if r["r50"] else "inf"

    lines = [f"# bortolato2021 reproduction ({scale} scale, seed {seed})", "",
             f"Pythia8 + FastJet dijet events; {seconds / 60:.1f} minutes in all. Ensemble score: mean per-event "
             "KL of the members; test events are held out, signal as the positive class. 'max-KL epoch' is the "
             "paper's rule (KLPeakStopping: the validation-KL peak, else the largest validation KL); 'last "
             "epoch' scores the same members after their last epoch. Latent spread: standard deviation of the "
             "validation events' latent means per member (1 when the encodings fill the N(0, 1) prior).", "",
             "| S/B | weights | AUC | R50 | SIC at eps_S = 0.5 | paper SIC | members' AUC | epochs | latent spread |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        last = r["last_epoch"]
        lines.append(f"| {r['fraction']:.1%} | max-KL epoch | {r['auc']:.3f} | {r50(r)} | {r['sic_at_0.5']:.2f} | "
                     f"{r['paper_sic'] or ''} | {r['member_auc']} | {r['peak_epochs']} | {r['latent_spread']} |")
        lines.append(f"| {r['fraction']:.1%} | last epoch | {last['auc']:.3f} | {r50(last)} | "
                     f"{last['sic_at_0.5']:.2f} | | {last['member_auc']} | {last['epochs']} | |")
        ref = r["density_reference"]
        lines.append(f"| {r['fraction']:.1%} | reference: {ref['components']}-Gaussian mixture -log p | "
                     f"{ref['auc']:.3f} | | {ref['sic_at_0.5']:.2f} | | | | |")
    lines += ["", f"Members: {results[0]['members']}; training events: "
              + ", ".join(f"{r['fraction']:.1%}: {r['n_train']}" for r in results), "",
              "Stopping: " + "; ".join(sorted({s for r in results for s in r["stopping"]}))[:2000], "",
              "Figures: " + ", ".join(sorted(p.name for p in out.glob("*.png")))]
    (out / "report.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
