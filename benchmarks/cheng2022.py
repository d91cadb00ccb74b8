"""Throughput of the cheng2022 classifiers: training and scoring jets/s on this machine.

    python -m benchmarks.cheng2022 [--models particlenet:lite particlenet:paper fcn:paper]
        [--n-jets 3072] [--epochs 1] [--batch-size N]

Inputs are synthetic jets of the real shapes (point clouds of 100 slots; 20 x 4 constituents)
whose multiplicities follow our generated cheng2022 training classes (QCD, W, top: mean 66.6, 45.9,
81.5 constituents, cut at 100 slots): the cost of these networks depends on how many slots are real
(ParticleNet packs the real particles), not on the values. Training speed is measured over --epochs epochs
after one untimed warm-up epoch (which traces and compiles), with each preset's batch size
(ParticleNet 384, FCN 256) unless --batch-size is given; scoring is the in-memory ``anomaly_scores`` (both scores, inference
mode) in chunks of 4096 after one warm-up chunk. Prints one line per model and a final JSON line.
"""

import json
import sys

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, integer
from preprocessing.errors import DataError, run_command

DEFAULT_MODELS = ("particlenet:lite", "particlenet:paper", "fcn:paper")
# constituents per jet of the generated QCD, W and top training jets (mean, spread of the 10-90 % range / 2.56)
MULTIPLICITY = [[66.6, 29.7], [45.9, 14.5], [81.5, 20.0]]
# arguments of `python -m benchmarks --quick`
QUICK = ["--models", "particlenet:lite", "fcn:paper", "--n-jets", "768"]
# the README's measurement of this command with its defaults on the idle 2 cores (jets/s)
README = "README (this command's defaults, idle 2 cores)"
MEASURED = {
    ("particlenet", "lite"): ("759–915", "1,700–2,800"),
    ("particlenet", "paper"): ("55", "266"),
    ("fcn", "paper"): ("7,200–8,800", None),
}


def figures(result):
    """Training and scoring jets/s of every model run, beside the README's earlier measurement."""
    out = []
    for i, r in enumerate(result["results"]):
        train, score = MEASURED.get((r["model"], r["preset"]), (None, None))
        name = f"{r['model']}:{r['preset']}"
        out.append(Figure(f"results.{i}.train_jets_per_s", f"{name} training, jets/s", train, README if train else ""))
        out.append(Figure(f"results.{i}.score_jets_per_s", f"{name} scoring, jets/s", score, README if score else ""))
    return out


FIGURES = figures


def synthetic_inputs(name, n, seed=0):
    """(inputs, labels) of `n` synthetic jets shaped like model `name`'s representation."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    if name == "fcn":
        return rng.normal(size=(n, 20, 4)).astype(np.float32) * 100, labels
    mean, spread = np.asarray(MULTIPLICITY)[labels].T
    counts = np.clip(np.rint(rng.normal(mean, spread)), 5, 100).astype(int)
    mask = (np.arange(100)[None] < counts[:, None]).astype(np.float32)
    points = rng.normal(scale=0.3, size=(n, 100, 2)).astype(np.float32) * mask[..., None]
    feats = np.concatenate([rng.normal(size=(n, 100, 2)), points], axis=-1).astype(np.float32) * mask[..., None]
    return {"points": points, "features": feats, "mask": mask}, labels


def measure(name, preset, n_jets, epochs, batch_size=None):
    """{"model", "preset", "train_jets_per_s", "score_jets_per_s", ...} of one model."""
    import keras

    from benchmarks.timing import scoring_rate, training_rate
    from models.base import batched_scores
    from models.registry import MODELS
    from training import pipeline

    settings = pipeline.resolve(name, preset)
    batch = batch_size or settings.training["batch_size"]
    x, y = synthetic_inputs(name, n_jets)
    keras.utils.set_random_seed(0)
    model = settings.spec.cls(**settings.config, seed=0)
    model.fit_scaler(x)
    model.compile(optimizer=pipeline.build_optimizer(settings.training, n_jets))
    train_rate = training_rate(model, x, epochs, batch, y)
    model.calibrate(x, y)
    score_rate = scoring_rate(lambda rows: batched_scores(model, rows), x)
    return {
        "model": name,
        "preset": settings.preset,
        "class": MODELS[name].cls.__name__,
        "parameters": int(model.count_params()),
        "batch_size": batch,
        "n_jets": n_jets,
        "epochs_timed": epochs,
        "train_jets_per_s": round(train_rate, 1),
        "score_jets_per_s": round(score_rate, 1),
    }


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.cheng2022", description=__doc__)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="MODEL:PRESET pairs")
    parser.add_argument("--n-jets", type=integer(64), default=3072)
    parser.add_argument(
        "--epochs", type=integer(1), default=1, help="timed training epochs (after one untimed warm-up epoch)"
    )
    parser.add_argument("--batch-size", type=integer(1), help="batch size (default: each preset's)")
    return parser


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


def collect(args):
    """The figures of one run as a JSON-ready dict (``run`` prints them)."""
    pairs = []
    for item in args.models:
        name, _, preset = item.partition(":")
        if name not in ("particlenet", "fcn"):
            raise DataError(f"--models {item!r}: this benchmark measures particlenet and fcn")
        pairs.append((name, preset or None))
    import os

    results = []
    for name, preset in pairs:
        r = measure(name, preset, args.n_jets, args.epochs, args.batch_size)
        results.append(r)
        print(
            f"{r['model']:<12} {r['preset']:<6} {r['parameters']:>9} params  batch {r['batch_size']:>4}  "
            f"train {r['train_jets_per_s']:>9.1f} jets/s  score {r['score_jets_per_s']:>9.1f} jets/s",
            file=sys.stderr,
        )
    return {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "results": results}


def run(args):
    print(json.dumps(collect(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
