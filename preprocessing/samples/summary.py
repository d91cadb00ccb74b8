"""Summary of a sample file as a JSON-ready dict: jets and events per label, provenance and the
means of the per-jet observables. The file gets the checks every command reading it makes (so a file
that ``fit`` or ``mix`` refuses is refused here too): the per-jet arrays are read whole, the
constituents only window by window, for finiteness. The command line is ``python -m preprocessing.inspect``.
"""

import json
import pathlib

import numpy as np

from preprocessing.errors import DataError
from preprocessing.samples.format import JetSample, check_constituents_finite, open_sample, validate_per_jet


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
            counts = f["n_constituents"][...]
            scalars = JetSample(np.zeros((len(labels), 0, 4), np.float32), counts, labels, event, jets, names, {})
            validate_per_jet(scalars, shape[1], str(path))
            check_constituents_finite(f, str(path))
        except DataError:
            raise
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


def strict_json(value):
    """Replace non-finite floats (not valid JSON) by strings, recursively."""
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def _finite_mean(values):
    return round(float(np.mean(values)), 6) if len(values) else None
