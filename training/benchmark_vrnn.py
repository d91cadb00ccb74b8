"""Throughput of the VRNN path (kahn2021): sequences, training at batch 256, scoring in memory and
through the SavedModel.

    python -m training.benchmark_vrnn [--data FILE ...] [--n-jets 12000] [--epochs 2] [--batch-size 256]

Without --data it uses the vrnn model's default dataset at --n-jets jets (cached, generated on
first use). Training is timed after one warm-up epoch (the first epoch traces the graph), so the
number is the steady-state jets/s of `model.fit`. Prints a table and a final JSON line.
"""

import sys
import tempfile
import time

from preprocessing.cli import CommandParser, check_inputs, integer, print_result
from preprocessing.errors import run_command


def main(argv=None):
    parser = CommandParser(prog="python -m training.benchmark_vrnn", description=__doc__)
    parser.add_argument("--data", nargs="+")
    parser.add_argument("--n-jets", type=integer(1), default=12000)
    parser.add_argument("--epochs", type=integer(1), default=2)
    parser.add_argument("--batch-size", type=integer(1), default=256)
    args = parser.parse_args(argv)
    return run_command(run, args)


def run(args):
    if args.data:
        check_inputs(args.data, "--data")

    import keras
    import numpy as np
    import tensorflow as tf

    from models.registry import MODELS
    from models.vrnn import MASK, SEQUENCE, VRNN
    from preprocessing import representations
    from training import datasets
    from training.export import export_tagger, load_tagger
    from training.model_card import ModelCard

    paths = args.data or datasets.materialise(MODELS["vrnn"].dataset, args.n_jets)
    sample = datasets.load(paths)
    if args.n_jets < len(sample):
        sample = sample.subset(np.sort(np.random.default_rng(0).choice(len(sample), args.n_jets, replace=False)))
    result = {"n_jets": len(sample), "epochs": args.epochs, "batch_size": args.batch_size}

    start = time.perf_counter()
    x = representations.build("vrnn", sample)
    result["sequences_jets_per_s"] = len(sample) / (time.perf_counter() - start)
    n = len(x[MASK])
    result["n_kept"] = n

    keras.utils.set_random_seed(0)
    model = VRNN()
    model.fit_scaler(x)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, epochs=1, batch_size=args.batch_size, verbose=0)  # warm-up: traces the graph
    start = time.perf_counter()
    model.fit(x, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    result["train_jets_per_s"] = n * args.epochs / (time.perf_counter() - start)

    model.calibrate(x)
    chunk = 4096
    model.anomaly_scores({k: v[:chunk] for k, v in x.items()})
    start = time.perf_counter()
    for i in range(0, n, chunk):
        model.anomaly_scores({k: v[i : i + chunk] for k, v in x.items()})
    result["score_in_memory_jets_per_s"] = n / (time.perf_counter() - start)

    shapes = {SEQUENCE: x[SEQUENCE].shape[1:], MASK: x[MASK].shape[1:]}
    with tempfile.TemporaryDirectory() as tmp:
        card = ModelCard.bare("vrnn", model, "vrnn", shapes, "signal", "cpu")
        export_tagger(model, shapes, f"{tmp}/vrnn", card)
        fn, _, _, _ = load_tagger(f"{tmp}/vrnn")
        fn(**{k: tf.constant(v[:chunk]) for k, v in x.items()})
        start = time.perf_counter()
        for i in range(0, n, chunk):
            fn(**{k: tf.constant(v[i : i + chunk]) for k, v in x.items()})
        result["score_saved_model_jets_per_s"] = n / (time.perf_counter() - start)

    print_result(result, width=32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
