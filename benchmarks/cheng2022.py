"""Throughput of the cheng2022 classifiers: training and scoring jets/s on this machine.

    python -m benchmarks.cheng2022 [--models particlenet:lite particlenet:paper fcn:paper]
        [--n-jets 3072] [--epochs 1] [--cycles 3] [--batch-size N]

Inputs are synthetic jets of the real shapes (point clouds of 100 slots; 20 x 4 constituents)
whose multiplicities follow our generated cheng2022 training classes (QCD, W, top: mean 66.6, 45.9,
81.5 constituents, cut at 100 slots): the cost of these networks depends on how many slots are real
(ParticleNet packs the real particles), not on the values. Training speed is measured over --epochs
epochs after one untimed warm-up epoch (which traces and compiles), with each preset's batch size
(ParticleNet 384, FCN 256) unless --batch-size is given; scoring is the in-memory ``anomaly_scores``
(both scores, inference mode) in chunks of 4096 (ParticleNet: 1024, see ``compare``) after one
warm-up chunk. Prints one line per model and a final JSON line.

Every ParticleNet preset is timed beside a reference: the same architecture in stock Keras layers
(``benchmarks.stock_particlenet``: the official Keras model's layers, every slot computed, batch
statistics including padding, no XLA), trained on the same batches and scored on the same jets.
The two are alternated call by call in one process (--cycles cycles of one training epoch and one
scoring pass each, the order swapped every cycle, after one untimed warm-up of each), because on
shared cores only rates taken side by side compare: the ratio is the median of the per-cycle
ratios ours / stock (``*_cpu_ratio``: the same in CPU seconds per call).
"""

import json
import statistics
import sys
import time

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, integer
from preprocessing.errors import DataError, run_command

DEFAULT_MODELS = ("particlenet:lite", "particlenet:paper", "fcn:paper")
# constituents per jet of the generated QCD, W and top training jets (mean, spread of the 10-90 % range / 2.56)
MULTIPLICITY = [[66.6, 29.7], [45.9, 14.5], [81.5, 20.0]]
# arguments of `python -m benchmarks --quick`
QUICK = ["--models", "particlenet:lite", "fcn:paper", "--n-jets", "768", "--cycles", "2"]
STOCK = "stock Keras ParticleNet (benchmarks.stock_particlenet), alternated in the same run"
RATIO_TARGET = ">= 1.5 (issue 28)"
# the README's measurement of this command with its defaults on the idle 2 cores (jets/s), for the
# models without a stock reference (ParticleNet presets stand beside theirs, timed in the same run)
README = "README (this command's defaults, idle 2 cores)"
MEASURED = {
    ("fcn", "paper"): ("7,200–8,800", None),
}


def figures(result):
    """Training and scoring jets/s of every model run, beside the README's earlier measurement."""
    out = []
    for i, r in enumerate(result["results"]):
        name = f"{r['model']}:{r['preset']}"
        if "stock" in r:  # ParticleNet: beside the stock reference timed in the same run
            for what in ("train", "score"):
                label = "training" if what == "train" else "scoring"
                key = f"results.{i}.{what}_jets_per_s"
                stock = f"results.{i}.stock.{what}_jets_per_s"
                out.append(Figure(key, f"{name} {label}, jets/s", source=STOCK, same_run=stock))
                out.append(Figure(f"results.{i}.{what}_ratio", f"{name} {label}, ours / stock", target=RATIO_TARGET))
                out.append(Figure(f"results.{i}.{what}_cpu_ratio", f"{name} {label}, ours / stock in CPU time"))
            continue
        train, score = MEASURED.get((r["model"], r["preset"]), (None, None))
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


def compare(preset, n_jets, cycles, batch_size=None, chunk=1024):
    """Ours (``measure``'s result keys) with "stock": the stock reference's, timed alternately.

    Both train one epoch per call on the same full batches (``BatchSource``, as ``training.fit``
    feeds ours), timed from its first batch to its last, and score the same jets in chunks of
    `chunk` (ours: both anomaly scores; stock: its class probabilities; 1024, as issue 28 timed
    the official code: the stock edge tensors of 4096 jets take GBs), after one untimed epoch and
    chunk each (tracing, XLA compilation).
    """
    import keras
    import tf_keras

    from benchmarks.stock_particlenet import compiled, stock_particlenet, trainable_weights
    from benchmarks.timing import scoring_rate
    from models.base import batched_scores
    from training import pipeline
    from training.data.batches import BatchSource

    settings = pipeline.resolve("particlenet", preset)
    batch = batch_size or settings.training["batch_size"]
    x, y = synthetic_inputs("particlenet", n_jets)
    keras.utils.set_random_seed(0)
    ours = settings.spec.cls(**settings.config, seed=0)
    ours.fit_scaler(x)
    ours.compile(optimizer=pipeline.build_optimizer(settings.training, n_jets))
    tf_keras.utils.set_random_seed(0)
    config = settings.config
    stock = compiled(stock_particlenet(config["k"], config["channels"], config["fc_units"]))
    source = BatchSource(x, y, batch, shuffle=True, seed=0, full_batches=True)

    def train(model, callbacks):
        seconds = []
        begin = callbacks.LambdaCallback(on_epoch_begin=lambda *_: seconds.append(time.perf_counter()))
        end = callbacks.LambdaCallback(on_epoch_end=lambda *_: seconds.append(time.perf_counter() - seconds.pop()))
        model.fit(source.dataset(1), steps_per_epoch=source.steps, epochs=1, verbose=0, callbacks=[begin, end])
        return source.steps * source.batch_size / seconds[-1]

    calls = {
        "ours": (
            lambda: train(ours, keras.callbacks),
            lambda: scoring_rate(lambda rows: batched_scores(ours, rows, chunk), x, chunk),
        ),
        "stock": (lambda: train(stock, tf_keras.callbacks), lambda: scoring_rate(stock.predict_on_batch, x, chunk)),
    }
    for name, (fit, score) in calls.items():  # warm-up: traces and compiles
        fit()
        if name == "ours":
            ours.calibrate(x, y)
        score()
    rates = {name: {"train": [], "score": []} for name in calls}
    cpu = {name: {"train": [], "score": []} for name in calls}  # CPU seconds per call
    for cycle in range(cycles):
        for what, index in (("train", 0), ("score", 1)):
            for name in sorted(calls, reverse=bool(cycle % 2)):  # swapped every cycle
                start = time.process_time()
                rates[name][what].append(calls[name][index]())
                cpu[name][what].append(time.process_time() - start)
    result = {
        "model": "particlenet",
        "preset": settings.preset,
        "class": type(ours).__name__,
        "parameters": int(ours.count_params()),
        "trainable_weights": trainable_weights(ours),
        "batch_size": batch,
        "n_jets": n_jets,
        "cycles": cycles,
    }
    for what in ("train", "score"):
        result[f"{what}_jets_per_s"] = round(statistics.median(rates["ours"][what]), 1)
        ratios = [a / b for a, b in zip(rates["ours"][what], rates["stock"][what])]
        result[f"{what}_ratio"] = round(statistics.median(ratios), 3)
        result[f"{what}_ratios"] = [round(r, 3) for r in ratios]
        # the same in CPU time (both do the same jets per call): steadier than wall time when other
        # programs share the cores, though it also counts the threads' spinning
        cpu_ratios = [b / a for a, b in zip(cpu["ours"][what], cpu["stock"][what])]
        result[f"{what}_cpu_ratio"] = round(statistics.median(cpu_ratios), 3)
    result["stock"] = {"trainable_weights": trainable_weights(stock)}
    for what in ("train", "score"):
        result["stock"][f"{what}_jets_per_s"] = round(statistics.median(rates["stock"][what]), 1)
    result["runs"] = {name: {w: [round(v, 1) for v in r] for w, r in rs.items()} for name, rs in rates.items()}
    return result


def _spread(values):
    return f"{statistics.median(values):8.1f} [{min(values):.0f}-{max(values):.0f}]"


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.cheng2022", description=__doc__)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="MODEL:PRESET pairs")
    parser.add_argument("--n-jets", type=integer(64), default=3072)
    parser.add_argument(
        "--epochs", type=integer(1), default=1, help="timed training epochs (after one untimed warm-up epoch)"
    )
    parser.add_argument("--batch-size", type=integer(1), help="batch size (default: each preset's)")
    parser.add_argument(
        "--cycles", type=integer(1), default=3, help="alternated cycles of ParticleNet and its stock reference"
    )
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
        if name == "particlenet":
            r = compare(preset, args.n_jets, args.cycles, args.batch_size)
            for what in ("train", "score"):
                print(
                    f"particlenet:{r['preset']} {what:<5} jets/s  ours {_spread(r['runs']['ours'][what])}  "
                    f"stock {_spread(r['runs']['stock'][what])}  ours/stock {r[f'{what}_ratio']:.2f} "
                    f"(per cycle {' '.join(f'{v:.2f}' for v in r[f'{what}_ratios'])}; "
                    f"in CPU time {r[f'{what}_cpu_ratio']:.2f})",
                    file=sys.stderr,
                )
        else:
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
