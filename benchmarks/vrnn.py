"""Throughput of the VRNN path (kahn2021): sequences, training at batch 256, scoring in memory and
through the SavedModel.

    python -m benchmarks.vrnn [--data FILE ...] [--n-jets 12000] [--epochs 2] [--batch-size 256]
                                      [--repeats 3]

Without --data it uses the vrnn model's default dataset at --n-jets jets (cached, generated on
first use). Training is timed after one warm-up epoch (the first epoch traces the graph), so the
number is the steady-state jets/s of `model.fit` with the model's compile defaults (16 steps per
call). The timed fit of --epochs epochs runs --repeats times: on shared cores the median
(``train_jets_per_s``) and the best run are both reported, with the 1-minute load average before
and after. Prints a table and a final JSON line.
"""

import os
import sys
import tempfile
import time

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, check_inputs, integer, print_result
from preprocessing.errors import run_command

# arguments of `python -m benchmarks --quick`
QUICK = ["--n-jets", "1000", "--epochs", "1", "--repeats", "1"]
FIGURES = [
    Figure("sequences_jets_per_s", "VRNN sequences, jets/s"),
    Figure("train_jets_per_s", "training (median of the repeats), jets/s"),
    Figure("score_in_memory_jets_per_s", "scoring in memory, jets/s"),
    Figure(
        "score_saved_model_jets_per_s",
        "scoring through the SavedModel, jets/s",
        same_run="score_in_memory_jets_per_s",
        source="in-memory model, same run",
    ),
]


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.vrnn", description=__doc__)
    parser.add_argument("--data", nargs="+")
    parser.add_argument("--n-jets", type=integer(1), default=12000)
    parser.add_argument("--epochs", type=integer(1), default=2)
    parser.add_argument("--batch-size", type=integer(1), default=256)
    parser.add_argument("--repeats", type=integer(1), default=3)
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
    from models.registry import MODELS
    from models.vrnn import MASK, SEQUENCE, VRNN
    from preprocessing import representations
    from training.data import datasets
    from training.export import export_tagger, load_tagger
    from training.model_card import ModelCard

    paths = args.data or datasets.materialise(MODELS["vrnn"].dataset, args.n_jets)
    sample = datasets.load(paths)
    if args.n_jets < len(sample):
        sample = sample.subset(np.sort(np.random.default_rng(0).choice(len(sample), args.n_jets, replace=False)))
    result = {"n_jets": len(sample), "epochs": args.epochs, "batch_size": args.batch_size}
    result["load_average_before"] = round(os.getloadavg()[0], 2)

    start = time.perf_counter()
    x = representations.build("vrnn", sample)
    result["sequences_jets_per_s"] = len(sample) / (time.perf_counter() - start)
    n = len(x[MASK])
    result["n_kept"] = n

    keras.utils.set_random_seed(0)
    model = VRNN()
    model.fit_scaler(x)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    result["steps_per_execution"] = int(model.steps_per_execution)
    rates = [training_rate(model, x, args.epochs, args.batch_size) for _ in range(args.repeats)]
    result["train_jets_per_s"] = float(np.median(rates))
    result["train_jets_per_s_best"] = max(rates)

    model.calibrate(x)
    result["score_in_memory_jets_per_s"] = scoring_rate(model.anomaly_scores, x)

    shapes = {SEQUENCE: x[SEQUENCE].shape[1:], MASK: x[MASK].shape[1:]}
    with tempfile.TemporaryDirectory() as tmp:
        card = ModelCard.bare("vrnn", model, "vrnn", shapes, "signal", "cpu")
        export_tagger(model, shapes, f"{tmp}/vrnn", card)
        fn, _, _, _ = load_tagger(f"{tmp}/vrnn")
        result["score_saved_model_jets_per_s"] = scoring_rate(
            lambda rows: fn(**{k: tf.constant(v) for k, v in rows.items()}), x
        )

    result["load_average_after"] = round(os.getloadavg()[0], 2)
    return result


def run(args):
    print_result(collect(args), width=32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
