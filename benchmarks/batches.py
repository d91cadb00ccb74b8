"""Training speed of Keras' own array batching (``shuffle=True``) against ``training.data.batches.BatchSource``.

    python -m benchmarks.batches [--model dvae] [--n-jets 60000] [--epochs 3] [--repeats 2]

Builds the model's representation of its default dataset (or ``--data``) in memory, then trains a
fresh model for ``--epochs`` epochs on the training rows with each batching in turn, alternating
(A B A B ...) so that a change in the machine's load hits both alike, and prints the training rows
per second of each run and the ratio of the medians as JSON. The first epoch of every run includes
tracing, for both.
"""

import json
import statistics
import sys
import time

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, integer
from preprocessing.errors import run_command

# arguments of `python -m benchmarks --quick`
QUICK = ["--n-jets", "2000", "--epochs", "1", "--repeats", "1"]
FIGURES = [
    Figure(
        "rows_per_second.batch_source.0",
        "BatchSource training, rows/s (first run)",
        same_run="rows_per_second.keras.0",
        source="Keras' own batching (shuffle=True), same run",
    ),
    Figure("batch_source_over_keras", "BatchSource / Keras, medians", 1.0, "Keras' own batching, same run"),
]


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.batches", description=__doc__)
    parser.add_argument("--model", default="dvae", help="model name (default dvae)")
    parser.add_argument("--data", nargs="+", help="sample files (default: the model's default dataset)")
    parser.add_argument("--n-jets", type=integer(10), help="jets of the default dataset, or a subset of --data")
    parser.add_argument("--epochs", type=integer(1), default=3, help="epochs per run (default 3)")
    parser.add_argument("--repeats", type=integer(1), default=2, help="runs of each batching (default 2)")
    return parser


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


def collect(args):
    """The figures of one run as a JSON-ready dict (``run`` prints them)."""
    import keras

    from training import pipeline
    from training.data.batches import BatchSource
    from training.data.rows import load_inputs, split_rows

    settings = pipeline.resolve(args.model)
    inputs = load_inputs(settings, args.data, n_jets=args.n_jets)
    split = split_rows(inputs)
    x_train, x_val = inputs.training_inputs(split.train), inputs.training_inputs(split.validation)
    batch_size = settings.training["batch_size"]

    def train(kind):
        keras.utils.set_random_seed(0)
        model = settings.spec.cls(**settings.config, seed=0)
        model.fit_scaler(x_train)
        model.compile(optimizer=pipeline.build_optimizer(settings.training, len(split.train)))
        start = time.perf_counter()
        if kind == "keras":
            model.fit(
                x_train, validation_data=(x_val,), epochs=args.epochs, batch_size=batch_size, shuffle=True, verbose=0
            )
        else:
            source = BatchSource(x_train, None, batch_size, True, 0)
            model.fit(
                source.dataset(args.epochs),
                steps_per_epoch=source.steps,
                validation_data=BatchSource(x_val, None, batch_size).dataset(),
                epochs=args.epochs,
                shuffle=False,
                verbose=0,
            )
        return len(split.train) * args.epochs / (time.perf_counter() - start)

    rates = {"keras": [], "batch_source": []}
    for _ in range(args.repeats):
        for kind in rates:
            rates[kind].append(round(train(kind), 1))
            print(f"{kind}: {rates[kind][-1]} {inputs.unit}/s", file=sys.stderr)
    medians = {kind: statistics.median(r) for kind, r in rates.items()}
    return {
        "model": args.model,
        "train_rows": len(split.train),
        "epochs": args.epochs,
        "rows_per_second": rates,
        "batch_source_over_keras": round(medians["batch_source"] / medians["keras"], 3),
    }


def run(args):
    print(json.dumps(collect(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
