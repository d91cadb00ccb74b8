"""Converters of public jet data sets into the project's sample format
(``preprocessing.samples.format``): the LHC Olympics R&D table (``lhco``), the top-tagging
reference table (``toptagging``) and Delphes ROOT trees (``delphes``).

Event-level inputs are reclustered with anti-kT (``preprocessing.jets.clustering``) and the two
leading jets are kept, heavier first, with m_jj, as the ``lhco`` selection. Input is read in
chunks and appended through ``SampleWriter``, so memory stays bounded. The formats, their
columns and branches are described with the command line, ``python -m preprocessing.convert``.
"""

import dataclasses
import datetime
import pathlib
import sys

import numpy as np

from preprocessing.errors import DataError
from preprocessing.jets import observables, physics
from preprocessing.jets.clustering import cluster_and_select
from preprocessing.jets.selection import SELECTIONS, selection_record
from preprocessing.samples.format import JetSample, SampleWriter
from preprocessing.version import code_version

FORMATS = ("lhco", "toptagging", "delphes")
LHCO_PARTICLES = 700
TOPTAG_PARTICLES = 200
DELPHES_BRANCHES = {"EFlowTrack": "PT", "EFlowPhoton": "ET", "EFlowNeutralHadron": "ET"}


def _event_selection(radius, max_constituents):
    """Two leading anti-kT jets per event, no pT threshold (the public sets are already triggered)."""
    return dataclasses.replace(
        SELECTIONS["lhco"], jet_radius=radius, lead_pt_min=0.0, max_constituents=max_constituents
    )


def _pandas_store(path):
    import pandas as pd

    try:
        return pd.HDFStore(path, mode="r")
    except Exception as err:  # noqa: BLE001 - pandas/pytables raise many types for a bad file
        raise DataError(f"{path}: not a readable pandas HDF5 file ({type(err).__name__}: {err})") from None


def detect_format(path):
    """'lhco', 'toptagging' or 'delphes' from the content of `path`; DataError if none fits."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such input file")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"root"):
        return "delphes"
    if head != b"\x89HDF\r\n\x1a\n":
        raise DataError(f"{path}: neither an HDF5 nor a ROOT file; formats are {FORMATS}")
    with _pandas_store(path) as store:
        keys = store.keys()
        if "/table" in keys:
            return "toptagging"
        if len(keys) == 1:
            return "lhco"
    raise DataError(
        f"{path}: HDF5 file with keys {keys} is neither the top-tagging set (key 'table') "
        f"nor the LHCO R&D set (one table); pass --format"
    )


def _table_chunks(path, key, chunk):
    """(start, DataFrame) chunks of a pandas HDF table (fixed or table format)."""
    with _pandas_store(path) as store:
        if key is None:
            keys = store.keys()
            if len(keys) != 1:
                raise DataError(f"{path}: expected one table, found keys {keys}")
            key = keys[0]
        if key not in store:
            raise DataError(f"{path}: no pandas key {key!r} (keys: {store.keys()})")
        storer = store.get_storer(key)
        n = storer.nrows if getattr(storer, "nrows", None) is not None else storer.shape[0]
        n = int(n)
        for start in range(0, n, chunk):
            try:
                df = store.select(key, start=start, stop=min(start + chunk, n))
            except Exception as err:  # noqa: BLE001 - any read failure means a damaged file
                raise DataError(
                    f"{path}: reading rows {start}..{min(start + chunk, n)} of {key!r} failed "
                    f"({type(err).__name__}: {err}); the file is corrupt or truncated"
                ) from None
            if len(df) != min(chunk, n - start):
                raise DataError(f"{path}: rows {start}.. of {key!r} came back short ({len(df)}); the file is truncated")
            yield n, start, df


def _particles(pt, eta, phi):
    """Awkward (events, var) massless particles from zero-padded (events, P) pT, eta, phi."""
    import awkward as ak

    real = pt > 0
    p4 = physics.from_pt_eta_phi(pt[real], eta[real], phi[real])
    counts = real.sum(axis=1)
    return ak.unflatten(ak.zip({"e": p4[:, 0], "px": p4[:, 1], "py": p4[:, 2], "pz": p4[:, 3]}), counts)


def _chunk_sample(got, labels_of_event, event_offset, label_names):
    """JetSample of `cluster_and_select` output; events numbered from `event_offset`."""
    fixed = ("constituents", "n_constituents", "event")
    return JetSample(
        constituents=got["constituents"],
        n_constituents=got["n_constituents"],
        labels=labels_of_event[got["event"]].astype(np.int32),
        event=got["event"] + event_offset,
        jets={k: v for k, v in got.items() if k not in fixed},
        label_names=label_names,
        provenance={},
    )


class _Progress:
    """A tqdm bar on stderr that appears with the first converted chunk (a file refused in its first
    chunk gives the error line alone) and is ended when its block exits, also on an error, so that
    an error message starts on a line of its own."""

    def __init__(self, total=None, **kwargs):
        self.total, self.kwargs, self.bar = total, kwargs, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False

    def update(self, n):
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, file=sys.stderr, **self.kwargs)
        self.bar.update(n)


def convert_lhco(path, writer_args, chunk=10_000, radius=1.0, max_constituents=200, progress=True):
    """LHCO R&D table -> event-level sample; returns the written path."""
    sel = _event_selection(radius, max_constituents)
    names = ["background", "signal"]
    prov = {"source_format": "lhco", "selection": selection_record(sel)}
    dropped = 0
    with (
        SampleWriter(n_particles=max_constituents, label_names=names, **_merge(writer_args, prov)) as w,
        _Progress(unit="event", desc="convert lhco", disable=not progress) as bar,
    ):
        for n, start, df in _table_chunks(path, None, chunk):
            bar.total = n
            if df.shape[1] != 3 * LHCO_PARTICLES + 1:
                raise DataError(
                    f"{path}: an LHCO R&D table has {3 * LHCO_PARTICLES + 1} columns "
                    f"(700 x pT, eta, phi, then the label), this one has {df.shape[1]}"
                )
            values = df.to_numpy(dtype=np.float64)
            _refuse_non_finite(values, list(df.columns), path, start)
            label = values[:, -1]
            if not np.all(np.isin(label, (0, 1))):
                raise DataError(
                    f"{path}: the last column (label) must be 0 or 1, found "
                    f"{sorted(set(label.tolist()) - {0.0, 1.0})[:5]}"
                )
            trip = values[:, :-1].reshape(len(df), LHCO_PARTICLES, 3)
            _refuse_negative(trip[..., 0], path, start, "pT")
            got = cluster_and_select(_particles(trip[..., 0], trip[..., 1], trip[..., 2]), sel)
            dropped += len(df) - len(got["event"]) // 2
            w.append(_chunk_sample(got, label.astype(np.int32), start, names))
            bar.update(len(df))
        w.provenance["events_without_two_jets"] = dropped
        _require_jets(w, path)
    return w.path


def convert_toptagging(path, writer_args, chunk=20_000, max_constituents=200, progress=True):
    """Top-tagging reference table -> one jet per row; returns the written path."""
    names = ["qcd", "top"]
    cols = [f"{c}_{i}" for i in range(TOPTAG_PARTICLES) for c in ("E", "PX", "PY", "PZ")]
    prov = {"source_format": "toptagging"}
    width = max_constituents
    with (
        SampleWriter(n_particles=width, label_names=names, **_merge(writer_args, prov)) as w,
        _Progress(unit="jet", desc="convert toptagging", disable=not progress) as bar,
    ):
        for n, start, df in _table_chunks(path, "/table", chunk):
            bar.total = n
            missing = [c for c in cols[:4] + ["is_signal_new"] if c not in df.columns]
            present = [c for c in cols if c in df.columns]
            if missing or len(present) % 4:
                raise DataError(f"{path}: key 'table' lacks column(s) {missing or 'of a complete E,PX,PY,PZ set'}")
            n_part = len(present) // 4
            used = cols[: 4 * n_part] + ["is_signal_new"]
            _refuse_non_finite(df[used].to_numpy(np.float64), used, path, start)
            c = df[cols[: 4 * n_part]].to_numpy(np.float64).reshape(len(df), n_part, 4)
            _refuse_negative(c[..., 0], path, start, "E")
            label = df["is_signal_new"].to_numpy()
            if not np.all(np.isin(label, (0, 1))):
                raise DataError(f"{path}: 'is_signal_new' must be 0 or 1")
            real = c[..., 0] > 0
            # pT order (the reference set is already ordered; a stable sort keeps it so)
            order = np.argsort(-np.where(real, physics.pt(c), -1.0), axis=1, kind="stable")
            c = np.take_along_axis(c, order[..., None], axis=1)
            n_all = real.sum(axis=1)
            c = np.where((np.arange(n_part)[None] < n_all[:, None])[..., None], c, 0.0)
            jet = c.sum(axis=1)
            stored = np.zeros((len(df), width, 4))
            k = min(width, n_part)
            stored[:, :k] = c[:, :k]
            fields = {
                "pt": physics.pt(jet),
                "eta": physics.eta(jet),
                "phi": physics.phi(jet),
                "mass": physics.mass(jet),
                "energy": jet[:, 0],
            }
            fields.update(observables.jet_observables(c, n_all))
            w.append(
                JetSample(
                    stored.astype(np.float32),
                    np.minimum(n_all, width).astype(np.int32),
                    label.astype(np.int32),
                    np.arange(start, start + len(df), dtype=np.int64),
                    fields,
                    names,
                    {},
                )
            )
            bar.update(len(df))
        _require_jets(w, path)
    return w.path


def _delphes_fields(tree, path):
    """{branch: (pt name, eta name, phi name)} in whichever spelling the file uses."""
    keys = set(tree.keys())
    found = {}
    for branch, pt_field in DELPHES_BRANCHES.items():
        for sep in (".", "_"):
            names = [f"{branch}{sep}{f}" for f in (pt_field, "Eta", "Phi")]
            full = [next((k for k in keys if k == n or k.endswith("/" + n)), None) for n in names]
            if all(full):
                found[branch] = tuple(full)
                break
        else:
            raise DataError(
                f"{path}: Delphes tree lacks branch {branch}.{pt_field}/Eta/Phi "
                f"(or {branch}_{pt_field}/...); it has {sorted(keys)[:12]}..."
            )
    return found


def convert_delphes(
    path,
    writer_args,
    label="unlabelled",
    chunk=5_000,
    radius=1.0,
    max_constituents=200,
    tree_name="Delphes",
    progress=True,
):
    """Delphes ROOT tree -> event-level sample from particle-flow objects; returns the written path."""
    import awkward as ak
    import uproot

    try:
        f = uproot.open(path)
    except Exception as err:  # noqa: BLE001 - uproot raises many types for a bad file
        raise DataError(f"{path}: not a readable ROOT file ({type(err).__name__}: {err})") from None
    with f:
        if tree_name not in f:
            raise DataError(f"{path}: no tree {tree_name!r} (keys: {f.keys()})")
        tree = f[tree_name]
        fields = _delphes_fields(tree, path)
        sel = _event_selection(radius, max_constituents)
        names = [label]
        prov = {"source_format": "delphes", "selection": selection_record(sel), "branches": fields}
        n = tree.num_entries
        dropped = 0
        with (
            SampleWriter(n_particles=max_constituents, label_names=names, **_merge(writer_args, prov)) as w,
            _Progress(total=n, unit="event", desc="convert delphes", disable=not progress) as bar,
        ):
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                parts = []
                try:
                    for names_of in fields.values():
                        # branch by branch: names may contain '.' or '/', which arrays() would parse
                        parts.append(
                            [tree[name].array(entry_start=start, entry_stop=stop, library="ak") for name in names_of]
                        )
                except Exception as err:  # noqa: BLE001 - any read failure means a damaged file
                    raise DataError(
                        f"{path}: reading events {start}..{stop} failed ({type(err).__name__}: "
                        f"{err}); the file is corrupt or truncated"
                    ) from None
                for names_of, arrays in zip(fields.values(), parts):
                    for name, values in zip(names_of, arrays):
                        bad = ak.to_numpy(ak.any(~np.isfinite(values), axis=1))
                        if bad.any():
                            event = start + int(np.argmax(bad))
                            raise DataError(
                                f"{path}: NaN or infinity in branch {name!r}, event {event} "
                                f"({int(bad.sum())} such event(s) in {start}..{stop}); a public file must hold "
                                f"finite numbers"
                            )
                pt, eta, phi = (
                    ak.values_astype(ak.concatenate([p[k] for p in parts], axis=1), np.float64) for k in range(3)
                )
                px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
                particles = ak.zip({"e": np.sqrt(px**2 + py**2 + pz**2), "px": px, "py": py, "pz": pz})
                got = cluster_and_select(particles, sel)
                dropped += (stop - start) - len(got["event"]) // 2
                w.append(_chunk_sample(got, np.zeros(stop - start, np.int32), start, names))
                bar.update(stop - start)
            w.provenance["events_without_two_jets"] = dropped
            _require_jets(w, path)
    return w.path


def _refuse_non_finite(values, columns, path, start):
    """A NaN or infinity in a public table (rows from `start`, `columns` naming the columns of
    `values`) is refused naming its column and row: it would pass the sign checks and come out as
    NaN jet fields, reported against the output file."""
    bad = ~np.isfinite(values)
    if np.any(bad):
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{path}: {values[row, col]} in column {columns[col]!r}, row {start + row} ({int(bad.sum())} "
            f"non-finite value(s) in rows {start}..{start + len(values)}); a public table must hold finite numbers"
        )


def _refuse_negative(values, path, start, name):
    """A negative constituent energy or pT is not a physical particle (nor padding, which is 0)."""
    bad = values < 0
    if np.any(bad):
        row, k = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{path}: negative constituent {name} ({name}_{k} = {values[row, k]:g} in row {start + row}; "
            f"{int(bad.sum())} such value(s) in rows {start}..{start + len(values)}); padding must be 0, "
            f"particles positive"
        )


def _require_jets(writer, path):
    if writer.n == 0:
        raise DataError(f"{path}: no event gave two jets; nothing to write (empty selection)")


def _merge(writer_args, extra):
    args = dict(writer_args)
    args["provenance"] = {**args.get("provenance", {}), **extra}
    return args


def convert(path, out, fmt="auto", label="unlabelled", chunk=None, radius=1.0, max_constituents=200, progress=True):
    """Convert `path` into a sample file at `out`; returns the output path."""
    path = pathlib.Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    elif fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose from auto, {', '.join(FORMATS)}")
    elif not path.is_file():
        raise DataError(f"{path}: no such input file")
    provenance = {
        "source": str(path.resolve()),
        "converter": "preprocessing.convert",
        "code_version": code_version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    writer_args = {"path": out, "provenance": provenance}
    kw = {"progress": progress, "max_constituents": max_constituents}
    if chunk:
        kw["chunk"] = chunk
    if fmt == "lhco":
        return convert_lhco(path, writer_args, radius=radius, **kw)
    if fmt == "toptagging":
        return convert_toptagging(path, writer_args, **kw)
    return convert_delphes(path, writer_args, label=label, radius=radius, **kw)
