"""Paper-reproduction runs: put our numbers next to the paper's.

    python -m evaluation.reproduce PAPER [--scale small|paper|smoke] [--out DIR] [--seed S] [--confirm]
                                         [--data FILE ...] [--workers N | --scheduler ADDRESS|serial]

PAPER is one of the modules in evaluation/papers (see each module's docstring for its scenarios):

* dillon2021: "Better Latent Spaces for Better Autoencoders" (arXiv:2104.08291): AE, VAE,
  GMVAE and Dirichlet VAE on top and QCD jet images at several anomalous fractions;
* bortolato2021: "Bump hunting in latent space" (arXiv:2103.06595): ensembles of a VAE on dijet
  observables at several S/B, and the decoder on (z, m_jj).

--confirm makes a confirmation run (evaluation.protocol): generation and member seeds disjoint from
every seed a label-free rule of the paper was chosen on (checked before any work; --seed defaults to
1000), the only numbers the README quotes as ours. Every report states its seeds and the rules'
selection seeds.

Writes DIR/report.md (tables) and figures, and prints the report path and a JSON summary
(last stdout line: {"report": ..., "results": [...]}).
"""

import json
import pathlib
import sys
import time

from evaluation import protocol
from evaluation.papers import bortolato2021, cheng2020, cheng2022, dillon2021, kahn2021
from preprocessing import tasks
from preprocessing.cli import CommandParser, check_inputs, check_output_dir, integer
from preprocessing.errors import run_command

# every module has SCALES, run(scale, out, seed, paths) and write_report(results, out, scale, seed, seconds)
PAPERS = {
    "dillon2021": dillon2021,
    "bortolato2021": bortolato2021,
    "kahn2021": kahn2021,
    "cheng2020": cheng2020,
    "cheng2022": cheng2022,
}


def main(argv=None):
    scales = sorted({scale for module in PAPERS.values() for scale in module.SCALES})
    parser = CommandParser(prog="python -m evaluation.reproduce", description=__doc__)
    parser.add_argument("paper", choices=list(PAPERS))
    parser.add_argument("--scale", choices=scales, default="small")
    parser.add_argument("--out", default=None, help="output folder (default: reproductions/<paper>-<scale>)")
    parser.add_argument(
        "--seed",
        type=integer(0),
        default=None,
        help="run seed (default 0; with --confirm the paper's confirmation seed, 1000 unless it names another)",
    )
    parser.add_argument(
        "--confirm",
        action="store_true",
        help="confirmation run: seeds disjoint from the selection seeds of the paper's label-free rules",
    )
    parser.add_argument(
        "--data",
        nargs="+",
        help="instead of generated data: QCD and top jet files (dillon2021); "
        "background and signal event files (bortolato2021, kahn2021), in any order: each file's role is read "
        "from its labels and provenance (training.data.roles)",
    )
    tasks.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.scale not in PAPERS[args.paper].SCALES:
        parser.error(f"{args.paper} scales: {sorted(PAPERS[args.paper].SCALES)}")
    if args.confirm and args.data:
        parser.error("--confirm generates its own samples with recorded seeds; it does not take --data")
    if args.seed is None:
        args.seed = protocol.confirmation_seed(PAPERS[args.paper]) if args.confirm else 0
    return run_command(run, args)


def run(args):
    paper = PAPERS[args.paper]
    if args.confirm:  # refused before any work when a seed was used to choose a rule
        protocol.check_confirmation(args.paper, paper, args.scale, args.seed)
    suffix = "-confirm" if args.confirm else ""
    out = pathlib.Path(args.out or f"reproductions/{args.paper}-{args.scale}{suffix}")
    if args.data:
        check_inputs(args.data, "--data")
    check_output_dir(out, "--out", inputs=[("--data", p) for p in args.data or ()])
    made = [p for p in (out, *out.parents) if not p.exists()]  # folders this run creates, deepest first
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        # independent trainings and generation shards run as Dask tasks on one cluster (preprocessing.tasks)
        with tasks.shared_session(args.scheduler, args.workers):
            results = paper.run(args.scale, out, args.seed, args.data)
    except BaseException:  # refused data (read first) leaves no empty output folder behind
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # not empty: keep what the run wrote
                break
        raise
    summary = paper.write_report(results, out, args.scale, args.seed, time.perf_counter() - start)
    protocol.stamp_report(
        out / "report.md", protocol.report_section(args.paper, paper, args.scale, args.seed, args.confirm)
    )
    print(f"report: {out / 'report.md'}", file=sys.stderr)
    print(json.dumps({"report": str(out / "report.md"), "results": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
