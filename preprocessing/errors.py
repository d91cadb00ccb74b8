"""The one exception type for bad input data, so command lines can report it cleanly."""

import sys


class DataError(ValueError):
    """Input data is missing, malformed or physically impossible; the message names what and where."""


def run_command(run, args):
    """Run a command-line body; a DataError becomes 'error: ...' on stderr and exit status 2."""
    try:
        return run(args)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
