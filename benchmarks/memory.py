"""Peak memory of a streamed ``fit`` against its --memory-budget (tracker issue 17, "Bounded memory").

    python -m benchmarks.memory [--budget 128M] [--factor 3] [--model dvae] [--epochs 2]
                                 [--data FILE ...] [--dataset-jets N] [--no-compare]

Picks the jets of the model's default dataset (or of ``--data``) whose in-memory footprint
(``training.data.memory``) is ``--factor`` times the budget, then runs, each in its own process:

1. an idle process that imports TensorFlow and the modules fit imports, builds the model, trains
   it for one step on one batch of zeros and scores it: the footprint that the budget does not
   cover (TensorFlow, the model and its traced train step);
2. ``python -m training.fit ... --memory-budget BUDGET`` (the streamed path);
3. unless ``--no-compare``, the same fit with a budget above the footprint (the in-memory path).

The peak resident set size of each child comes from ``os.wait4`` (the kernel's ``ru_maxrss`` of
that process). Prints one JSON object: the budget, footprint, the peaks, ``budget + idle`` (the
bound the streamed fit must stay under) and, with the comparison, the largest difference between
the two fits' metrics.
"""

import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, integer
from preprocessing.errors import DataError, run_command
from training.data import memory

# arguments of `python -m benchmarks --quick`
# (a default dataset of 6000 jets: generating the full one takes minutes on first use)
QUICK = ["--budget", "24M", "--factor", "2", "--epochs", "1", "--no-compare", "--dataset-jets", "6000"]
MB = 1e-6


def figures(result):
    """The streamed fit's peak RSS against its bound (budget + idle) and the in-memory fit's."""
    bound = f"at most budget + idle process = {result['bound_budget_plus_idle'] * MB:.0f} MB"
    return [
        Figure("footprint_in_memory", "in-memory footprint of the sample, MB", scale=MB),
        Figure("idle_tensorflow_and_model_rss", "idle process (TensorFlow + model), MB", scale=MB),
        Figure(
            "streamed_fit_peak_rss",
            "streamed fit, peak RSS, MB",
            same_run="in_memory_fit_peak_rss",
            source="the same fit in memory, same run",
            target=bound,
            scale=MB,
        ),
        Figure("streamed_within_bound", "streamed fit within its bound", target="yes"),
    ]


FIGURES = figures

ROOT = pathlib.Path(__file__).resolve().parents[1]

IDLE = """
import sys
from preprocessing.cli import quiet_tensorflow
quiet_tensorflow()
import numpy as np
from training import pipeline, export, figures, metrics
from training.data import streaming, batches  # what fit imports
from preprocessing import representations
settings = pipeline.resolve(sys.argv[1])
shapes = representations.input_shapes(settings.representation)
x = {k: np.zeros((int(sys.argv[2]),) + tuple(s), np.float32) for k, s in shapes.items()}
x = x[next(iter(x))] if len(x) == 1 else x
model = settings.spec.cls(**settings.config, seed=0)
model.compile(optimizer=pipeline.build_optimizer(settings.training, 1000))
model.fit(x, epochs=1, batch_size=len(x), verbose=0)  # the traced train step
model.anomaly_scores(x)
"""


def _peak(argv, log):
    """(exit status, peak RSS in bytes) of a child process; its output goes to `log`."""
    with open(log, "w") as out:
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, usage.ru_maxrss * 1024  # Linux: kilobytes


def _summary(log):
    lines = [line for line in pathlib.Path(log).read_text().splitlines() if line.startswith("{")]
    if not lines:
        raise DataError(f"fit printed no summary; see {log}")
    return json.loads(lines[-1])


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--budget", default="128M", help="--memory-budget of the streamed fit (default 128M)")
    parser.add_argument("--factor", type=float, default=3.0, help="footprint / budget of the sample (default 3)")
    parser.add_argument("--model", default="dvae", help="model (default dvae)")
    parser.add_argument("--data", nargs="+", help="sample files (default: the model's default dataset)")
    parser.add_argument(
        "--dataset-jets", type=integer(2), help="size of the default dataset to use or generate (default: its own)"
    )
    parser.add_argument("--epochs", type=integer(1), default=2, help="training epochs (default 2)")
    parser.add_argument("--no-compare", action="store_true", help="skip the in-memory fit")
    parser.add_argument("--out", help="folder for the exports and logs (default: a temporary folder)")
    return parser


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


def collect(args):
    """The figures of one run as a JSON-ready dict (``run`` prints them)."""
    from training import pipeline
    from training.data import datasets

    budget = memory.parse_size(args.budget, "--budget")
    if not args.factor >= 1:
        raise DataError(f"--factor {args.factor}: must be at least 1")
    settings = pipeline.resolve(args.model)
    paths = args.data or datasets.materialise(settings.spec.dataset, args.dataset_jets)
    whole = memory.estimate_footprint(paths, settings.representation)
    per_jet = whole.total / max(whole.rows, 1)
    n_jets = math.ceil(args.factor * budget / per_jet)
    if n_jets > whole.rows:
        raise DataError(
            f"the data holds {whole.rows} jets ({whole.describe()}); {args.factor} x --budget {args.budget} needs "
            f"{n_jets}: give a smaller --budget or more --data"
        )
    footprint = memory.estimate_footprint(paths, settings.representation, n_jets=n_jets)
    out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="benchmark-memory-"))
    out.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    fit = [python, "-m", "training.fit", "--model", args.model, "--data", *map(str, paths), "--n-jets", str(n_jets)]
    fit += ["--epochs", str(args.epochs)]

    status, idle = _peak([python, "-c", IDLE, args.model, str(settings.training["batch_size"])], out / "idle.log")
    if status:
        raise DataError(f"the idle process failed; see {out / 'idle.log'}")
    status, streamed = _peak(
        [*fit, "--export-dir", str(out / "streamed"), "--memory-budget", args.budget], out / "streamed.log"
    )
    if status:
        raise DataError(f"the streamed fit failed; see {out / 'streamed.log'}")
    result = {
        "model": args.model,
        "n_jets": n_jets,
        "budget": budget,
        "footprint_in_memory": footprint.total,
        "footprint_over_budget": round(footprint.total / budget, 2),
        "idle_tensorflow_and_model_rss": idle,
        "bound_budget_plus_idle": budget + idle,
        "streamed_fit_peak_rss": streamed,
        "streamed_within_bound": streamed <= budget + idle,
        "streamed_metrics": _summary(out / "streamed.log")["metrics"],
    }
    if not args.no_compare:
        big = memory.format_size(4 * footprint.total + (1 << 30))
        status, in_memory = _peak(
            [*fit, "--export-dir", str(out / "memory"), "--memory-budget", big], out / "memory.log"
        )
        if status:
            raise DataError(f"the in-memory fit failed; see {out / 'memory.log'}")
        metrics = _summary(out / "memory.log")["metrics"]
        result["in_memory_fit_peak_rss"] = in_memory
        result["in_memory_metrics"] = metrics
        result["max_metric_difference"] = max(abs(metrics[k] - result["streamed_metrics"][k]) for k in metrics)
    result["logs"] = str(out)
    return result


def run(args):
    print(json.dumps(collect(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
