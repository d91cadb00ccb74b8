"""Summarise a sample file as JSON: jets and events per label, provenance, observable means.

    python -m preprocessing.inspect FILE

Only the per-jet arrays are read (not the constituents), so large files are cheap to inspect;
the file is checked to be a sample file first, and a wrong or damaged file is a DataError.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

from preprocessing.errors import DataError
from preprocessing.sample import open_sample


def summarize(path):
    """A JSON-ready dict describing the sample file at `path`."""
    path = pathlib.Path(path)
    with open_sample(path) as f:
        try:
            names = json.loads(f.attrs["label_names"])
            labels = f["labels"][...]
            event = f["event"][...]
            jets = {k: f["jets"][k][...].astype(np.float64) for k in f["jets"]}
            provenance = json.loads(f.attrs.get("provenance", "{}"))
            shape = list(f["constituents"].shape)
        except (OSError, KeyError, ValueError) as err:
            raise DataError(f"{path}: corrupt or truncated sample ({err})") from None
    per_label = {}
    for i, name in enumerate(names):
        sel = labels == i
        per_label[name] = {
            "jets": int(sel.sum()),
            "events": len(np.unique(event[sel])),
            "means": {k: _finite_mean(v[sel]) for k, v in sorted(jets.items())},
        }
    return {
        "file": str(path),
        "jets": len(labels),
        "events": len(np.unique(event)),
        "constituents_shape": shape,
        "labels": per_label,
        "jet_fields": sorted(jets),
        "means": {k: _finite_mean(v) for k, v in sorted(jets.items())},
        "provenance": provenance,
    }


def _strict(value):
    """Replace non-finite floats (not valid JSON) by strings, recursively."""
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _finite_mean(values):
    return round(float(np.mean(values)), 6) if len(values) else None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m preprocessing.inspect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--indent", type=int, default=2, help="JSON indentation (0: one line)")
    args = parser.parse_args(argv)
    try:
        summary = summarize(args.file)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(_strict(summary), indent=args.indent or None, default=str, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
