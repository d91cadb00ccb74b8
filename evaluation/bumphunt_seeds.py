"""How the bump hunt's default depends on the training seed: one member per seed, every stopping
fallback and ensemble combination scored on the same held-out events (issue 32).

    python -m evaluation.bumphunt_seeds --run-seeds 0 2 --members 4 --fractions 0.001 --out runs/bh-select
    python -m evaluation.bumphunt_seeds --run-seeds 5000 6000 --members 5 --fractions 0.01 0.001 --out runs/bh-confirm

Each run seed S makes one independent sample pair with bortolato2021's small-scale recipe
(background dijet events with generator seed S + 11, 2-prong signal events with S + 12; 60k and
6k events, cached) and trains members with seeds S, S + 1, ... at the model's default preset
(Adadelta 1e-3, batch 1000, <= 100 epochs, KL-peak stop). Each member is scored on the sample's
held-out test events (by event, the split of ``training.data.datasets.split``) with its default
score under two fallbacks of the KL-peak rule, which differ only for members whose validation KL
shows no clean peak:

- ``largest KL``: the epoch with the largest validation KL (``training.callbacks.KLPeakStopping``
  before issue 32),
- ``last epoch``: the weights after the last epoch trained.

and for each fallback the members' mean and median of the default score (an ensemble). The
label-free facts about each member (whether a peak was found, the epoch kept, the final training
loss, the spread of its latent means) stand beside its AUC, so that what separates a failing
member can be read without labels. Labels are used only for the metrics.
"""

import json
import pathlib
import sys

import numpy as np

from models.selection_seeds import seed_ranges

FALLBACKS = ("largest KL", "last epoch")


def member_facts(member, model, x_val):
    """Label-free facts of one trained member (no test events, no labels)."""
    stopping = member.stopping
    return {
        "found_peak": bool(stopping.found_peak),
        "kept_epoch": stopping.epoch,
        "final_epoch": stopping.final_epoch,
        "final_train_loss": round(float(member.history["loss"][-1]), 4),
        "latent_spread": round(float(np.std(np.asarray(model.encode(x_val)[0]))), 3),
    }


def scored_fallbacks(member, x_train, x_test):
    """{fallback: default scores of the test events}; the last epoch's weights are recalibrated on
    the training events (bortolato2021.last_epoch_scores)."""
    from evaluation.papers.bortolato2021 import last_epoch_scores
    from models.base import batched_scores

    model = member.model
    out = {"largest KL": np.asarray(batched_scores(model, x_test)[model.default_score])}
    if member.stopping.found_peak or member.stopping.final_weights is None:
        out["last epoch"] = out["largest KL"]  # a found peak is kept under both fallbacks
    else:
        out["last epoch"] = np.asarray(last_epoch_scores(member, x_train, x_test)[model.default_score])
    return out


def run_sample(run_seed, n_members, fractions, out, scale="small"):
    """Rows of one sample pair: per (fraction, member) and per (fraction, ensemble combination)."""
    from evaluation.papers import bortolato2021 as paper
    from training import metrics, pipeline
    from training.data.datasets import split

    cfg = paper.SCALES[scale]
    rng = np.random.default_rng(run_seed)
    bkg, sig = paper.samples(cfg, run_seed)
    xb, _, eb = paper.event_rows(bkg)
    xs, _, es = paper.event_rows(sig)
    b_tr, b_va, b_te = split(eb, seed=run_seed)
    s_tr, s_va, s_te = split(es, seed=run_seed)
    x_test = np.concatenate([xb[b_te], xs[s_te]])
    is_signal = np.r_[np.zeros(len(b_te), bool), np.ones(len(s_te), bool)]
    # the model's defaults (the small scale's settings are the same: Adadelta 1e-3, batch 1000, 100 epochs)
    training = {key: cfg[key] for key in ("epochs", "batch_size", "learning_rate")}
    settings = pipeline.resolve("bumphunt_vae", sets=training)
    # members keep the largest-KL epoch when no clean peak shows, and their last epoch's weights
    # beside it (Stopping.final_weights): both fallbacks are scored from one training
    settings.training["kl_peak_fallback"] = "largest"

    def mixture(fraction, part_b, part_s):
        return (np.concatenate([xb[part_b], xs[paper.injected(rng, fraction, part_b, part_s)]]),)

    mixtures = {f: (mixture(f, b_tr, s_tr), mixture(f, b_va, s_va)) for f in fractions}
    trained = paper.train_scan_members(settings, mixtures, n_members, run_seed, out / ".runs")
    rows = []

    def summary(scores):
        m = metrics.summary(scores, is_signal)
        return {"auc": round(m["auc"], 4), "sic_at_0.5": round(m["sic_50"] or float("inf"), 3)}

    for fraction in fractions:
        x_train, x_val = mixtures[fraction][0][0], mixtures[fraction][1][0]
        per_fallback = {name: [] for name in FALLBACKS}
        for k, member in enumerate(trained[fraction]):
            facts = member_facts(member, member.model, x_val)
            scores = scored_fallbacks(member, x_train, x_test)
            for name in FALLBACKS:
                per_fallback[name].append(scores[name])
            rows.append(
                {
                    "run_seed": run_seed,
                    "fraction": fraction,
                    "member_seed": run_seed + k,
                    **facts,
                    **{name: summary(scores[name]) for name in FALLBACKS},
                }
            )
        for name in FALLBACKS:
            stacked = np.stack(per_fallback[name])
            for combination, values in (("mean", stacked.mean(0)), ("median", np.median(stacked, 0))):
                rows.append(
                    {
                        "run_seed": run_seed,
                        "fraction": fraction,
                        "ensemble": f"{combination} of {len(stacked)}",
                        "fallback": name,
                        **summary(values),
                    }
                )
    return rows


def summary(rows):
    """Per (S/B, fallback) over every member of every sample: the worst member's AUC and the
    median of the members' SIC at eps_S = 0.5 (issue 32's targets: >= 0.85 and >= 2.75)."""
    members = [r for r in rows if "member_seed" in r]
    out = []
    for fraction in sorted({r["fraction"] for r in members}, reverse=True):
        these = [r for r in members if r["fraction"] == fraction]
        for name in FALLBACKS:
            out.append(
                {
                    "fraction": fraction,
                    "fallback": name,
                    "members": len(these),
                    "samples": len({r["run_seed"] for r in these}),
                    "worst_auc": min(r[name]["auc"] for r in these),
                    "median_sic": float(np.median([r[name]["sic_at_0.5"] for r in these])),
                }
            )
    return out


def markdown(rows):
    members = [r for r in rows if "member_seed" in r]
    ensembles = [r for r in rows if "ensemble" in r]
    lines = [
        "| S/B | fallback | members (samples) | worst member AUC | median member SIC at eps_S = 0.5 |",
        "|---|---|---|---|---|",
    ]
    for s in summary(rows):
        lines.append(
            f"| {s['fraction']:.1%} | {s['fallback']} | {s['members']} ({s['samples']}) | {s['worst_auc']:.3f} | "
            f"{s['median_sic']:.2f} |"
        )
    lines += [
        "",
        "| sample (run seed) | S/B | member seed | KL peak found | epoch kept | final train loss | latent spread | "
        "AUC / SIC, fallback largest KL | AUC / SIC, fallback last epoch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in members:
        a, b = r["largest KL"], r["last epoch"]
        lines.append(
            f"| {r['run_seed']} | {r['fraction']:.1%} | {r['member_seed']} | {'yes' if r['found_peak'] else 'no'} | "
            f"{r['kept_epoch']} | {r['final_train_loss']} | {r['latent_spread']} | {a['auc']:.3f} / {a['sic_at_0.5']:.2f} "
            f"| {b['auc']:.3f} / {b['sic_at_0.5']:.2f} |"
        )
    lines += [
        "",
        "| sample (run seed) | S/B | ensemble | fallback | AUC | SIC at eps_S = 0.5 |",
        "|---|---|---|---|---|---|",
    ]
    for r in ensembles:
        lines.append(
            f"| {r['run_seed']} | {r['fraction']:.1%} | {r['ensemble']} | {r['fallback']} | {r['auc']:.3f} | "
            f"{r['sic_at_0.5']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def protocol_lines(rows):
    """Which seeds the rows used and whether any of them chose the fallback (evaluation.protocol)."""
    from evaluation.papers.bortolato2021 import BACKGROUND_SEED, SIGNAL_SEED
    from training.callbacks import KL_PEAK_FALLBACK_SELECTION as chosen

    run_seeds = sorted({r["run_seed"] for r in rows})
    generation = {s + offset for s in run_seeds for offset in (BACKGROUND_SEED, SIGNAL_SEED)}
    members = {r["member_seed"] for r in rows if "member_seed" in r}
    shared = chosen.overlap(generation, members)
    kind = (
        "**Confirmation run**: no seed of it played a part in choosing the fallback"
        if not shared["generation"] and not shared["member"]
        else f"**Not a confirmation run**: it shares seeds with the fallback's selection ({shared})"
    )
    return [
        kind,
        "",
        f"- run seeds {seed_ranges(run_seeds)}: generation seeds {seed_ranges(generation)}, member seeds "
        f"{seed_ranges(members)}",
        f"- selection seeds of {chosen.describe()}",
        "",
    ]


def report(rows):
    return "\n".join(["# bump-hunt default by training seed", "", *protocol_lines(rows), markdown(rows)])


def main(argv=None):
    from preprocessing.cli import CommandParser
    from preprocessing.errors import run_command

    parser = CommandParser(prog="python -m evaluation.bumphunt_seeds", description=__doc__)
    parser.add_argument("--run-seeds", type=int, nargs="+", help="one independent sample per seed")
    parser.add_argument("--members", type=int, default=4, help="training seeds per sample (default 4)")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.001], help="S/B values (default 0.001)")
    parser.add_argument("--scale", choices=("smoke", "small"), default="small", help="sample sizes (bortolato2021's)")
    parser.add_argument(
        "--results", nargs="+", help="instead of training: results.json files of earlier runs, merged into one report"
    )
    parser.add_argument("--out", required=True, help="folder for report.md and results.json")
    args = parser.parse_args(argv)
    if not args.run_seeds and not args.results:
        parser.error("give --run-seeds (train) or --results (merge earlier runs)")

    def write(out, rows):
        out.mkdir(parents=True, exist_ok=True)
        for name, text in (("results.json", json.dumps(rows, indent=1) + "\n"), ("report.md", report(rows))):
            tmp = out / f".{name}.tmp"
            tmp.write_text(text)
            tmp.replace(out / name)

    def job(args):
        out = pathlib.Path(args.out)
        rows = []
        for path in args.results or ():
            rows += json.loads(pathlib.Path(path).read_text())
        for run_seed in args.run_seeds or ():
            rows += run_sample(run_seed, args.members, args.fractions, out, args.scale)
            write(out, rows)  # after each sample
        write(out, rows)
        print(report(rows))
        return 0

    return run_command(job, args)


if __name__ == "__main__":
    sys.exit(main())
