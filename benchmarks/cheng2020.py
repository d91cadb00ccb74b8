"""Training and scoring throughput of the cheng2020 beta-VAE (models.beta_vae).

    python -m benchmarks.cheng2020 [--data FILE ...] [--n-jets 20000] [--epochs 3]
        [--preset paper|lstm|robust] [--model beta_vae|disco_vae|oe_vae]

With --data the jets of the files are used (the ``constituents`` representation is built and its
speed measured); without, random constituent arrays of the right shape stand in (throughput does
not depend on the physics). Training runs the model's own ``fit`` (annealing callback included)
at the paper's batch size 100. Prints a table and a final JSON line in jets/s.
"""

import sys
import time

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, check_inputs, integer, print_result
from preprocessing.errors import run_command

# arguments of `python -m benchmarks --quick`
QUICK = ["--n-jets", "1000", "--epochs", "1"]
FIGURES = [
    Figure("representation_jets_per_s", "constituents representation (with --data), jets/s"),
    Figure("train_jets_per_s", "training (beta_vae), jets/s"),
    Figure("score_jets_per_s", "scoring, jets/s"),
]


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.cheng2020", description=__doc__)
    parser.add_argument("--data", nargs="+", help="sample files (default: random constituents)")
    parser.add_argument("--n-jets", type=integer(100), default=20000)
    parser.add_argument("--epochs", type=integer(1), default=3)
    parser.add_argument("--batch-size", type=integer(1), default=100)
    parser.add_argument("--model", choices=("beta_vae", "disco_vae", "oe_vae"), default="beta_vae")
    parser.add_argument("--preset", default=None, help="preset of the model (default: the model's)")
    return parser


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


def collect(args):
    """The figures of one run as a JSON-ready dict (``run`` prints them)."""
    if args.data:
        check_inputs(args.data, "--data")

    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks.timing import scoring_rate, training_rate
    from training import pipeline

    settings = pipeline.resolve(args.model, args.preset)
    result = {"model": args.model, "preset": settings.preset, "epochs": args.epochs, "batch_size": args.batch_size}
    rng = np.random.default_rng(0)
    if args.data:
        from preprocessing import representations
        from training.data import datasets

        sample = datasets.load(args.data)
        if args.n_jets < len(sample):
            sample = sample.subset(np.sort(rng.choice(len(sample), args.n_jets, replace=False)))
        start = time.perf_counter()
        x = representations.build("constituents", sample)["constituents"]
        result["representation_jets_per_s"] = len(x) / (time.perf_counter() - start)
        mass = np.asarray(sample.jets["mass"], np.float32)
    else:
        x = (rng.normal(size=(args.n_jets, 20, 4)) * 50.0).astype(np.float32)
        mass = rng.gamma(3.0, 25.0, args.n_jets).astype(np.float32)
    n = len(x)
    result["n_jets"] = n
    batch = {"constituents": x}
    if "jet_mass" in settings.spec.training_arrays:
        batch["jet_mass"] = mass
    if "outliers" in settings.spec.training_arrays:
        batch["outliers"] = x[rng.permutation(n)]
    batch = batch if len(batch) > 1 else x

    keras.utils.set_random_seed(0)
    model = settings.spec.cls(**settings.config)
    model.fit_scaler(batch)
    model.compile(optimizer=pipeline.build_optimizer(settings.training))
    result["train_jets_per_s"] = training_rate(model, batch, args.epochs, args.batch_size)
    result["score_jets_per_s"] = scoring_rate(tf.function(model.anomaly_scores), x)

    return result


def run(args):
    print_result(collect(args), width=28)
    return 0


if __name__ == "__main__":
    sys.exit(main())
