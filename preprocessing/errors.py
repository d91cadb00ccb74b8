"""The one exception type for bad input data, so command lines can report it cleanly."""

import errno
import sys


class DataError(ValueError):
    """Input data is missing, malformed or physically impossible; the message names what and where."""


def describe_os_error(err):
    """One line for an environmental failure (disk full, permission denied, port in use, ...)."""
    what = err.strerror or str(err)
    hint = {
        errno.ENOSPC: "; free some space and run again",
        errno.EDQUOT: "; free some space and run again",
        errno.EACCES: "; check the permissions",
        errno.EROFS: "; choose a writable place",
        errno.EADDRINUSE: "; choose another port",
    }.get(err.errno, "")
    where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
    return f"{where}: {what}{hint}" if where else f"{what}{hint}"


def run_command(run, args):
    """Run a command-line body; a DataError, or an OSError from the machine (disk full, permission
    denied, address in use), becomes one 'error: ...' line on stderr and exit status 2."""
    try:
        return run(args)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {describe_os_error(err)}", file=sys.stderr)
        return 2
