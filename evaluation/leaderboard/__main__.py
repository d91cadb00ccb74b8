"""The common bench: every registered model on the same jets and events, one table, one page of figures.

    python -m evaluation.leaderboard [--scale smoke|small|paper] [--models NAME ...] [--seed S]
                                     [--workers N | --scheduler ADDRESS|serial] [--retrain] --out DIR

Trains (or reuses from the cache, ``evaluation.leaderboard.train``) every chosen model at its default
preset on fixed generated training sets (``evaluation.leaderboard.tasks``), exports each tagger, scores
fixed test suites through the exports and writes

* ``DIR/results.json``: one record per model x task x signal (AUC with a bootstrap 68 % interval, R50,
  max SIC, the ROC at fixed eps_S, sculpting histograms and JSD, the m_jj bump significance for
  events, the best named output chosen with labels) and one per model (cost: parameters, training time
  and rate, scoring rate through the SavedModel);
* ``DIR/report.md`` and the figures, both drawn from results.json;
* ``DIR/exported/<model>/<version>/`` and ``DIR/models.config``, which serves every export at once:
  ``python -m serving --model_config_file DIR/models.config``.

The run seed defaults to a confirmation seed (7000, ``tasks.CONFIRMATION_SEED``): generator seeds of every sample and the
training seed are disjoint from the seeds any label-free default was chosen on
(``evaluation.protocol``); the report says which kind of run it is.

Scales: ``smoke`` (a few hundred jets, 1 epoch: every step runs), ``small`` (minutes per model on
2 cores, >= 2000 test jets per signal), ``paper`` (the papers' sizes; run it on a cluster with
``--scheduler``: every training is a Dask task). Task 4 of the bench: QCD test jets from a shifted
simulation (MPI on, Tune 4C, 14 TeV; ``tasks.MISMODELLED_QCD``) scored by every jet-level entry.
"""

import sys

from preprocessing import tasks as dask_tasks
from preprocessing.cli import CommandParser, check_output_dir, integer
from preprocessing.errors import DataError, run_command


def build_parser():
    from evaluation.leaderboard.tasks import CONFIRMATION_SEED, SCALES

    parser = CommandParser(prog="python -m evaluation.leaderboard", description=__doc__)
    parser.add_argument("--scale", choices=list(SCALES), default="small")
    parser.add_argument("--models", nargs="+", help="registry names (default: every registered model)")
    parser.add_argument(
        "--seed",
        type=integer(0),
        default=CONFIRMATION_SEED,
        help=f"run seed: moves every generator seed and seeds the trainings (default {CONFIRMATION_SEED}, "
        "a confirmation seed: disjoint from every selection seed of the bench's label-free rules)",
    )
    parser.add_argument("--retrain", action="store_true", help="train again even where the cache holds the training")
    parser.add_argument("--out", required=True, help="output folder")
    dask_tasks.add_arguments(parser)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return run_command(lambda a: run(a, argv), args)


def run(args, argv):
    from evaluation.leaderboard import bench, tasks
    from models.registry import MODELS

    dask_tasks.check_scheduler(args.scheduler)
    known = tasks.UNSUPERVISED_JET_MODELS + tasks.SUPERVISED_JET_MODELS + tasks.EVENT_MODELS
    args.models = list(dict.fromkeys(args.models or [m for m in MODELS if m in known]))
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        raise DataError(f"--models: unknown model(s) {unknown}; known: {sorted(MODELS)}")
    missing = [m for m in args.models if m not in known]
    if missing:
        raise DataError(f"--models: {missing} have no task on the bench (tasks: {sorted(set(known))})")
    check_output_dir(args.out, "--out")
    return bench.run(args, argv)


if __name__ == "__main__":
    sys.exit(main())
