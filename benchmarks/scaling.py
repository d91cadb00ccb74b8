"""How independent work scales over Dask workers: generation events/s and training members/hour.

    python -m benchmarks.scaling                      # 1 and 2 local workers
    python -m benchmarks.scaling --workers 1 2 4 --jets 1200 --members 8
    python -m benchmarks.scaling --scheduler tcp://head:8786 --workers 40   # a running cluster

For each worker count: QCD jets generated as shards (``preprocessing.events.generator``, written
with ``generate_to_file``) and bump-hunt VAE members trained on synthetic six-observable events
(``training.members``), both through ``preprocessing.tasks`` exactly as the commands run them.
1 worker is the serial path (in this process); more start a LocalCluster first, warmed up with
one small task per worker (Pythia and TensorFlow imported), so the rates are steady-state rates:
the start-up is printed separately. The scaling ratio is rate(w) / rate(1), the efficiency
ratio / w.

The extrapolation to 100 workers assumes every worker keeps the efficiency measured at the
largest worker count (independent tasks, no shared state; a real cluster adds scheduling and file
transfer), and counts the work each paper's ``--scale paper`` asks for: jets to generate and
independent trainings (members, scan points). Generation time uses the measured QCD rate (other
processes differ: event-level selections keep fewer jets per event); training is stated as the
speed-up over one worker, bounded by the number of independent trainings.

The last stdout line is a JSON summary.
"""

import dataclasses
import json
import sys
import tempfile
import time

from benchmarks.table import Figure
from preprocessing import tasks
from preprocessing.cli import CommandParser, integer, quiet_tensorflow
from preprocessing.errors import run_command

# arguments of `python -m benchmarks --quick`
QUICK = [
    "--workers",
    "1",
    "2",
    "--jets",
    "100",
    "--shard-jets",
    "50",
    "--members",
    "2",
    "--epochs",
    "1",
    "--events",
    "1000",
]
README = "README (idle 2 cores, --jets 400 --shard-jets 100 --members 4 --epochs 2 --events 5000)"
# the README's measurement at 1 and 2 workers: generation events/s, training members/hour
MEASURED = {1: ("343", "1,487"), 2: ("637", "2,799")}


def figures(result):
    """Generation events/s and training members/hour per worker count, and the scaling ratios."""
    out = []
    runs = result["runs"]
    for i, r in enumerate(runs):
        w = r["workers"]
        gen, train = MEASURED.get(w, (None, None))
        out.append(
            Figure(
                f"runs.{i}.generation.events_per_s", f"generation, {w} worker(s), events/s", gen, README if gen else ""
            )
        )
        out.append(
            Figure(
                f"runs.{i}.training.members_per_hour",
                f"training, {w} worker(s), members/hour",
                train,
                README if train else "",
            )
        )
        if i:
            ideal = w / runs[0]["workers"]
            for what in ("generation", "training"):
                out.append(
                    Figure(
                        f"runs.{i}.ratio_to_1.{what}",
                        f"{what} scaling {w}/{runs[0]['workers']}",
                        ideal,
                        "linear in workers",
                    )
                )
    return out


FIGURES = figures

# work of each paper's --scale paper: (jets generated, independent trainings, what they are). Jets
# are read from each module's SCALES["paper"]; the counts of independent trainings are estimates
# read from the modules' run() (recount when a module changes)
PAPER_WORK = {
    "bortolato2021": (
        2 * (1_000_000 + 100_000),
        4 * 20 + 10 + 2 * 5,
        "80 ensemble VAEs, 10 subsets, 10 stability runs",
    ),
    "cheng2020": (480_000 + 120_000 + 240_000 + 20_000 + 20_000, 4, "one training per model (VAE, OE-VAE, DNN, ...)"),
    "cheng2022": (1_050_000 + 410_000 + 300_000, 10, "10 ensemble members"),
    "dillon2021": (200_000, 4 * 3, "4 models x 3 anomalous fractions"),
    "kahn2021": (2 * (1_000_000 + 2 * 100_000), 2 * 4, "2 prong types x 4 contamination levels"),
}


def _warm(fn, tasks_, scheduler):
    for _ in tasks.run_tasks(fn, tasks_, scheduler=scheduler, progress=False):
        pass


def _synthetic_events(n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.abs(rng.normal(1.0, 0.5, (n, 6))).astype(np.float32)  # (events, observables)


def measure(workers, scheduler, jets, shard_jets, members, epochs, events):
    """{workers, startup_s, generation: {...}, training: {...}} at `workers` workers."""
    from preprocessing.events.generator import generate_shard, generate_to_file
    from preprocessing.events.processes import PROCESSES
    from preprocessing.jets.selection import SELECTIONS
    from training import members as member_tasks
    from training import pipeline

    settings = pipeline.resolve("bumphunt_vae", sets={"epochs": epochs, "batch_size": 100})
    x = _synthetic_events(events)
    split = int(0.8 * len(x))
    data = {"x_train": x[:split], "x_val": x[split:]}
    start = time.perf_counter()
    serial = workers == 1 and scheduler is None
    with tasks.shared_session(tasks.SERIAL if serial else scheduler, workers):
        if not serial:  # start the cluster; one small task per worker imports Pythia and TensorFlow there
            qcd, sel = PROCESSES["qcd"], SELECTIONS[PROCESSES["qcd"].preset]
            _warm(generate_shard, [(qcd, 4, 1000 + k, k, sel, 200) for k in range(workers)], None)
            tiny = dict(settings.training, epochs=1)
            warm = [
                member_tasks.MemberTask(dataclasses.replace(settings, training=tiny), k, None, data)
                for k in range(workers)
            ]
            _warm(member_tasks.train_member_task, warm, None)
        startup = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as folder:
            t = time.perf_counter()
            _, n_jets, n_events = generate_to_file(
                f"{folder}/bench.h5", "qcd", jets, seed=7, workers=workers, shard_jets=shard_jets, progress=False
            )
            gen_s = time.perf_counter() - t
        t = time.perf_counter()
        member_tasks.train_members(settings, range(members), shared=data, workers=workers, progress=False)
        train_s = time.perf_counter() - t
    return {
        "workers": workers,
        "startup_s": round(startup, 1),
        "generation": {
            "jets": n_jets,
            "events": n_events,
            "seconds": round(gen_s, 1),
            "events_per_s": round(n_events / gen_s, 1),
            "jets_per_s": round(n_jets / gen_s, 1),
        },
        "training": {
            "members": members,
            "epochs": epochs,
            "events": split,
            "seconds": round(train_s, 1),
            "members_per_hour": round(members * 3600 / train_s, 1),
        },
    }


def extrapolate(runs, target=100):
    """Rows of the 100-worker table from the measured rates (see the module docstring)."""
    one, last = runs[0], runs[-1]
    w = last["workers"] / one["workers"]
    gen_eff = last["generation"]["jets_per_s"] / one["generation"]["jets_per_s"] / w if w > 1 else 1.0
    train_eff = last["training"]["members_per_hour"] / one["training"]["members_per_hour"] / w if w > 1 else 1.0
    rows = []
    for paper, (jets, trainings, what) in PAPER_WORK.items():
        gen_1 = jets / one["generation"]["jets_per_s"] / 3600
        rows.append(
            {
                "paper": paper,
                "jets": jets,
                "generation_h_1_worker": round(gen_1, 1),
                f"generation_h_{target}_workers": round(gen_1 / (target * min(gen_eff, 1.0)), 2),
                "independent_trainings": trainings,
                "trainings": what,
                f"training_speedup_{target}_workers": round(min(target, trainings) * min(train_eff, 1.0), 1),
            }
        )
    return {"generation_efficiency": round(gen_eff, 3), "training_efficiency": round(train_eff, 3), "papers": rows}


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.scaling", description=__doc__)
    parser.add_argument("--workers", type=integer(1), nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler instead of local clusters (workers > 1)"
    )
    parser.add_argument("--jets", type=integer(2), default=600, help="QCD jets to generate per worker count")
    parser.add_argument("--shard-jets", type=integer(1), default=100)
    parser.add_argument("--members", type=integer(1), default=4, help="members to train per worker count")
    parser.add_argument("--epochs", type=integer(1), default=2)
    parser.add_argument("--events", type=integer(100), default=20_000, help="synthetic training events")
    return parser


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


def collect(args):
    """The figures of one run as a JSON-ready dict (``run`` prints them)."""
    quiet_tensorflow()
    tasks.check_scheduler(args.scheduler)
    runs = []
    for w in sorted(set(args.workers)):
        res = measure(
            w, args.scheduler if w > 1 else None, args.jets, args.shard_jets, args.members, args.epochs, args.events
        )
        g, t = res["generation"], res["training"]
        print(
            f"{w} worker(s): generation {g['events_per_s']} events/s ({g['jets_per_s']} jets/s), "
            f"training {t['members_per_hour']} members/hour; cluster start-up {res['startup_s']} s",
            file=sys.stderr,
        )
        runs.append(res)
    for res in runs[1:]:
        g = res["generation"]["events_per_s"] / runs[0]["generation"]["events_per_s"]
        t = res["training"]["members_per_hour"] / runs[0]["training"]["members_per_hour"]
        res["ratio_to_1"] = {"generation": round(g, 2), "training": round(t, 2)}
        print(f"scaling {res['workers']}/{runs[0]['workers']}: generation x{g:.2f}, training x{t:.2f}", file=sys.stderr)
    table = extrapolate(runs)
    return {"runs": runs, "extrapolation_100_workers": table}


def run(args):
    print(json.dumps(collect(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
