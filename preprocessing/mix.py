"""Build a contaminated sample: background with signal events mixed in at a chosen fraction.

For the weakly supervised / unsupervised set-ups of bortolato2021 (S/B = 10 %, 1 %, 0.1 %) and
kahn2021 (signal contamination from 0.01 % to 50 %). With N_B background events kept, the number
of signal events is::

    N_S = round(F / (1 - F) * N_B),   so that   F = N_S / (N_S + N_B),   S/B = F / (1 - F).

Whole events are drawn (both jets of an event-level sample stay together), signal events without
replacement, with ``--seed``; the events are then shuffled so that the signal is not at the end.
The truth labels are kept (label table merged by class name) for evaluation only: training code
on a contaminated sample must not read them.

    python -m preprocessing.mix --background B.h5 --signal S.h5 --fraction 0.01 --out OUT.h5
"""

import sys

from preprocessing.cli import CommandParser, check_inputs, check_output_file, integer, number
from preprocessing.errors import run_command
from preprocessing.samples.format import read_sample, write_sample
from preprocessing.samples.mix import mix


def main(argv=None):
    parser = CommandParser(prog="python -m preprocessing.mix", description=__doc__)
    parser.add_argument("--background", required=True)
    parser.add_argument("--signal", required=True)
    parser.add_argument(
        "--fraction", type=number(minimum=0, below=1), required=True, help="signal events / all events, in [0, 1)"
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=integer(0), default=0)
    parser.add_argument("--n-background", type=integer(1), help="background events to keep (default: all)")
    args = parser.parse_args(argv)
    return run_command(run, args)


def run(args):
    check_inputs([args.background], "--background")
    check_inputs([args.signal], "--signal")
    check_output_file(args.out, "--out", [("--background", args.background), ("--signal", args.signal)])
    out = mix(
        read_sample(args.background),
        read_sample(args.signal),
        args.fraction,
        args.seed,
        args.n_background,
        args.background,
        args.signal,
    )
    write_sample(args.out, out)
    m = out.provenance["mix"]
    print(
        f"wrote {len(out)} jets ({m['background_events']} background + {m['signal_events']} signal events, "
        f"signal fraction {m['achieved_fraction']:.4g} for {args.fraction:g} asked) to {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
