"""Summarise a sample file as JSON: jets and events per label, provenance, observable means.

    python -m preprocessing.inspect FILE

The file gets the checks of every command that reads samples (layout, per-jet arrays, finite
constituents, read window by window), so a wrong or damaged file is one ``error:`` line and exit
status 2 here as it is for ``mix`` or ``fit``.
"""

import json
import sys

from preprocessing.cli import CommandParser, integer
from preprocessing.errors import run_command
from preprocessing.samples.summary import strict_json, summarize


def main(argv=None):
    parser = CommandParser(prog="python -m preprocessing.inspect", description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--indent", type=integer(0), default=2, help="JSON indentation (0: one line)")
    args = parser.parse_args(argv)
    return run_command(run, args)


def run(args):
    summary = summarize(args.file)
    print(json.dumps(strict_json(summary), indent=args.indent or None, default=str, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
