"""What every command line shares: its parser, argument types with ranges, and the rules for paths.

* ``CommandParser`` -- argparse with one ``error: ...`` line on stderr and exit status 2 for a
  bad command line, no abbreviated flags (``--epoch`` is a typo, not ``--epochs``), and an
  epilog computed only for ``--help`` (so a command can list its models without importing them
  to parse its arguments).
* ``integer``, ``number`` -- argument types with a range; the error names the flag and the value.
* ``check_inputs``, ``check_output_file``, ``check_output_dir`` -- the output rule, applied
  before any work starts: an output that resolves to an input (the same path, a link or a hard
  link to it, or a path inside an input folder) is refused, a folder where a file is expected
  (or a file where a folder is expected) is refused, and so is a place that cannot be written.
  Files are then written to a temporary sibling and renamed (``samples.format.atomic_path``).

This module imports nothing heavy: commands check their arguments with it before they load data
or TensorFlow.
"""

import argparse
import difflib
import math
import os
import pathlib
import sys
import tempfile

from preprocessing.errors import DataError


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one ``error:`` line (exit status 2).

    Args:
        epilog_fn: optional callable returning the epilog; called only when help is shown.
    """

    def __init__(self, *args, epilog_fn=None, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self._epilog_fn = epilog_fn

    def format_help(self):
        if self._epilog_fn is not None:
            self.epilog, self._epilog_fn = self._epilog_fn(), None
        return super().format_help()

    def parse_known_args(self, args=None, namespace=None):
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _unknown_flags(self):
        """Flags on the command line that this parser does not know, each with a close match if any."""
        known = set(self._option_string_actions)
        notes = []
        for token in getattr(self, "_argv", []):
            if token == "--":
                break
            flag = token.split("=", 1)[0]
            if flag.startswith("-") and len(flag) > 1 and not _is_number(flag) and flag not in known:
                close = difflib.get_close_matches(flag, known, n=1)
                notes.append(flag + (f" (did you mean {close[0]}?)" if close else ""))
        return notes

    def error(self, message):
        unknown = self._unknown_flags()
        if unknown:  # a typo explains the rest (e.g. a required flag 'missing' because it is misspelt)
            message = "unrecognized argument(s): " + ", ".join(unknown)
        if message.startswith(("unrecognized argument", "the following arguments are required")):
            message += f"; see {self.prog} --help"
        self.exit(2, f"error: {message}\n")


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _bounds_text(minimum, maximum, below):
    parts = []
    if minimum is not None:
        parts.append(f">= {minimum:g}")
    if maximum is not None:
        parts.append(f"{'<' if below else '<='} {maximum:g}")
    return " and ".join(parts)


def integer(minimum=None, maximum=None):
    """An argparse type: an integer in [minimum, maximum] (either bound may be None)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(
                f"must be an integer {_bounds_text(minimum, maximum, False)}, got {text!r}"
            )
        return value

    parse.__name__ = "integer"
    return parse


def number(minimum=None, maximum=None, above=None, below=None):
    """An argparse type: a finite float with inclusive (minimum, maximum) or exclusive (above, below) bounds."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        bad = not math.isfinite(value)
        bad |= minimum is not None and value < minimum
        bad |= maximum is not None and value > maximum
        bad |= above is not None and value <= above
        bad |= below is not None and value >= below
        if bad:
            limits = []
            if minimum is not None:
                limits.append(f">= {minimum:g}")
            if above is not None:
                limits.append(f"> {above:g}")
            if maximum is not None:
                limits.append(f"<= {maximum:g}")
            if below is not None:
                limits.append(f"< {below:g}")
            what = "a finite number" + (" " + " and ".join(limits) if limits else "")
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def _same(a, b):
    """Whether paths `a` and `b` name the same file (links and hard links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they resolve to
        return pathlib.Path(a).resolve() == pathlib.Path(b).resolve()


def _inside(path, folder):
    try:
        return pathlib.Path(path).resolve().is_relative_to(pathlib.Path(folder).resolve())
    except OSError:
        return False


def check_inputs(paths, flag):
    """Input files of `flag` exist, are files, and no file is given twice (also through a link)."""
    paths = [pathlib.Path(p) for p in paths]
    for p in paths:
        if p.is_dir():
            raise DataError(f"{flag} {p}: is a folder; give a file")
        if not p.is_file():
            raise DataError(f"{flag} {p}: no such file")
    for i, p in enumerate(paths):
        for q in paths[:i]:
            if _same(p, q):
                same = "twice" if str(p) == str(q) else f"twice ({q} and {p} are the same file)"
                raise DataError(
                    f"{flag} names {p} {same}; its jets would be counted twice and could land "
                    f"in both the training and the test split"
                )


def _writable(path, flag, target):
    """The nearest existing folder above `path` is a folder we can create files in."""
    anchor = pathlib.Path(path).absolute()
    while not anchor.exists():
        if anchor.is_symlink():  # a dangling link: writing would follow it somewhere unexpected
            raise DataError(f"{flag} {target}: {anchor} is a broken link")
        anchor = anchor.parent
    if not anchor.is_dir():
        raise DataError(f"{flag} {target}: {anchor} is a file, not a folder")
    try:  # os.access says yes to root even on read-only or special file systems: try it
        with tempfile.TemporaryFile(dir=anchor):
            pass
    except OSError as err:
        raise DataError(f"{flag} {target}: cannot write in {anchor} ({err.strerror or err})") from None


def check_output_file(path, flag="--out", inputs=()):
    """Refuse an output file path before any work: see the module docstring.

    Args:
        path: the output file.
        flag: the command-line flag, for the message.
        inputs: (flag, path) pairs of everything the command reads (files or folders).
    """
    out = pathlib.Path(path)
    for in_flag, inp in inputs:
        if inp is None:
            continue
        if _same(out, inp):
            raise DataError(
                f"{flag} {out} is the same file as {in_flag} {inp}; writing it would destroy the input, "
                f"choose another output path"
            )
        if pathlib.Path(inp).is_dir() and _inside(out, inp):
            raise DataError(f"{flag} {out} lies inside {in_flag} {inp}; choose an output path outside it")
    if out.is_dir():
        raise DataError(f"{flag} {out} is a folder; give a file path")
    _writable(out.parent, flag, out)
    return out


def check_output_dir(path, flag="--out", inputs=()):
    """Refuse an output folder before any work: an existing file there, an input folder, no permission."""
    out = pathlib.Path(path)
    for in_flag, inp in inputs:
        if inp is not None and _same(out, inp):
            raise DataError(f"{flag} {out} is the same as {in_flag} {inp}; choose another output folder")
    if out.exists() and not out.is_dir():
        raise DataError(f"{flag} {out} is a file; give a folder")
    _writable(out, flag, out)
    return out


def quiet_tensorflow():
    """Keep TensorFlow's C++ start-up log out of command output; a user's own setting wins.

    Level 2 hides TensorFlow's info and warning lines. On a machine without an NVIDIA device the
    CUDA probe still logs an error-level "failed call to cuInit" line that means nothing there,
    so level 3 is used on such machines (TensorFlow's real errors reach Python as exceptions).
    """
    has_gpu = os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/dxg")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if has_gpu else "3")


def print_result(result, digits=1, width=32):
    """A benchmark's `result` dict as an aligned table on stderr and one JSON line on stdout (the last line).

    Args:
        digits: decimals floats are rounded to: one number for every float, or {key: decimals}
            with 1 for the keys it does not name.
    """
    import json

    def decimals(key):
        return digits.get(key, 1) if isinstance(digits, dict) else digits

    result = {k: round(v, decimals(k)) if isinstance(v, float) else v for k, v in result.items()}
    for k, v in result.items():
        print(f"{k:<{width}}{v}", file=sys.stderr)
    print(json.dumps(result))
