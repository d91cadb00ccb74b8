"""Throughput of the DVAE path: jet images, training, in-memory scoring and SavedModel scoring.

    python -m benchmarks.dvae [--data FILE ...] [--n-jets 20000] [--epochs 3] [--dataset-jets N]

Without --data it uses the cached default dataset (generating it if needed), of --dataset-jets
jets if given. Prints a table and a final JSON line with jets/s for each stage.
"""

import sys
import tempfile
import time

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, check_inputs, integer, print_result
from preprocessing.errors import run_command

# arguments of `python -m benchmarks --quick`
# (a default dataset of 1000 jets: generating the full one takes minutes on first use)
QUICK = ["--n-jets", "1000", "--epochs", "1", "--dataset-jets", "1000"]
FIGURES = [
    Figure("images_jets_per_s", "jet images, jets/s"),
    Figure("train_jets_per_s", "training, jets/s"),
    Figure("score_in_memory_jets_per_s", "scoring in memory, jets/s"),
    Figure(
        "score_saved_model_jets_per_s",
        "scoring through the SavedModel, jets/s",
        same_run="score_in_memory_jets_per_s",
        source="in-memory model, same run",
    ),
]


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.dvae", description=__doc__)
    parser.add_argument("--data", nargs="+")
    parser.add_argument("--n-jets", type=integer(1), default=20000)
    parser.add_argument("--epochs", type=integer(1), default=3)
    parser.add_argument("--batch-size", type=integer(1), default=100)
    parser.add_argument(
        "--dataset-jets",
        type=integer(2),
        help="size of the default dataset to use or generate (default: the dvae default dataset's)",
    )
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
    from models.dvae import DirichletVAE
    from models.registry import MODELS
    from preprocessing import representations
    from training.data import datasets
    from training.export import export_tagger, load_tagger
    from training.model_card import ModelCard

    paths = args.data or datasets.materialise(MODELS["dvae"].dataset, args.dataset_jets)
    sample = datasets.load(paths)
    if args.n_jets < len(sample):
        sample = sample.subset(np.random.default_rng(0).choice(len(sample), args.n_jets, replace=False))
    n = len(sample)
    result = {"n_jets": n, "epochs": args.epochs, "batch_size": args.batch_size}

    start = time.perf_counter()
    x = representations.build("jet_image", sample)["jet_image"]
    result["images_jets_per_s"] = n / (time.perf_counter() - start)

    keras.utils.set_random_seed(0)
    model = DirichletVAE()
    model.compile(optimizer=keras.optimizers.Adam(5e-3, beta_2=0.99))
    result["train_jets_per_s"] = training_rate(model, x, args.epochs, args.batch_size)
    result["score_in_memory_jets_per_s"] = scoring_rate(tf.function(model.anomaly_scores), x)

    with tempfile.TemporaryDirectory() as tmp:
        card = ModelCard.bare("dvae", model, "jet_image", {"jet_image": x.shape[1:]}, "top", "balanced")
        export_tagger(model, {"jet_image": x.shape[1:]}, f"{tmp}/dvae", card)
        fn, _, _, _ = load_tagger(f"{tmp}/dvae")
        result["score_saved_model_jets_per_s"] = scoring_rate(lambda rows: fn(jet_image=tf.constant(rows)), x)

    return result


def run(args):
    print_result(collect(args), width=32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
