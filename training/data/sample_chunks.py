"""Sample files read chunk by chunk, joined exactly as ``training.data.datasets.load`` joins them.

    sample = ChunkedSample(paths, n_jets=None, seed=0)
    sample.event, sample.labels, sample.jets           # (jets,) per-jet arrays, read whole (small)
    for rows, chunk in sample.chunks(4096):            # rows: positions in the joined sample
        build(chunk)                                   # chunk: a JetSample of those jets

Only the per-jet scalars (event, label, constituent count, /jets/<field>) are held for the whole
sample; constituents are read in windows of at most ``rows_per_chunk`` jets per file (h5py
slicing). Joining follows ``datasets.load``: one file as it is; several files with their label
tables merged by name, event numbers shifted past the previous file's, padding widened to the
widest file and the jet fields every file has. The same checks run: a file given twice and jets
that occur twice (hashed chunk by chunk, collisions compared exactly); ``--n-jets`` keeps the
same seeded subset.
"""

import json
import pathlib

import numpy as np

from preprocessing.errors import DataError
from preprocessing.samples.format import JetSample, _validate, concatenate, open_sample, validate_per_jet
from training.data import datasets


class ChunkedSample:
    """The joined sample of `paths` (a ``--n-jets`` subset if given) with constituents read on demand.

    Attributes:
        event, labels, n_constituents: (jets,) arrays of the joined sample.
        jets: {field: (jets,) float32}.
        label_names, provenance: as ``datasets.load`` gives them.
        width: particles per jet after joining.
    """

    def __init__(self, paths, n_jets=None, seed=0, window=16384):
        self.paths = [pathlib.Path(p) for p in paths]
        self.window = max(1, int(window))  # jets read at once by the overlap check
        datasets.check_distinct(self.paths)
        files = [self._read_scalars(p) for p in self.paths]
        self.width = max(f["width"] for f in files)
        self._files = files
        self._check_overlap(files)
        # joined as datasets.load joins samples (label tables by name, events shifted, common jet
        # fields), on samples whose constituents are not read (width 0)
        scalars = [f["scalars"] for f in files]
        joined = scalars[0] if len(scalars) == 1 else concatenate(scalars)
        self.label_names = list(joined.label_names)
        self.provenance = joined.provenance
        labels, event, jets = joined.labels, joined.event, joined.jets
        counts = np.concatenate([f["n_constituents"] for f in files])
        starts = np.cumsum([0] + [f["n"] for f in files])
        self._file_start = starts  # first joined row of each file
        n_all = int(starts[-1])
        self.keep = None if n_jets is None else datasets.subset_rows(n_all, n_jets, seed)
        pick = slice(None) if self.keep is None else self.keep
        self.labels, self.event, self.n_constituents = labels[pick], event[pick], counts[pick]
        self.jets = {k: v[pick] for k, v in jets.items()}

    def __len__(self):
        return len(self.labels)

    @staticmethod
    def _read_scalars(path):
        """Per-jet scalars, label table, provenance and padding width of one file (no constituents)."""
        with open_sample(path) as f:
            try:
                out = {
                    "n_constituents": f["n_constituents"][...],
                    "labels": f["labels"][...],
                    "event": f["event"][...],
                    "jets": {k: f["jets"][k][...] for k in f["jets"]},
                    "label_names": json.loads(f.attrs["label_names"]),
                    "provenance": {"file": str(path), **json.loads(f.attrs.get("provenance", "{}"))},
                    "shape": f["constituents"].shape,
                }
            except (OSError, KeyError, ValueError) as err:
                raise DataError(f"{path}: corrupt or truncated sample ({err})") from None
        shape = out["shape"]
        if len(shape) != 3 or shape[-1] != 4:
            raise DataError(f"{path}: '/constituents' must have shape (jets, particles, 4), got {shape}")
        out["n"], out["width"] = int(shape[0]), int(shape[1])
        # the checks of read_sample that need no constituents; theirs run chunk by chunk
        out["scalars"] = JetSample(
            np.zeros((out["n"], 0, 4), np.float32),
            out["n_constituents"],
            out["labels"],
            out["event"],
            out["jets"],
            out["label_names"],
            out["provenance"],
        )
        validate_per_jet(out["scalars"], out["width"], str(path))
        return out

    def _window(self, f, start, stop):
        """JetSample of jets [start, stop) of file `f` as read_sample would give them (validated)."""
        info = self._files[f]
        with open_sample(self.paths[f]) as h5:
            constituents = h5["constituents"][start:stop]
        sample = JetSample(
            constituents,
            info["n_constituents"][start:stop],
            info["labels"][start:stop],
            info["event"][start:stop],
            {k: v[start:stop] for k, v in info["jets"].items()},
            info["label_names"],
            {},
        )
        _validate(sample, f"{self.paths[f]} (jets {start}..{stop - 1})")
        return sample

    def _check_overlap(self, files):
        """datasets.check_overlap, with the constituents hashed window by window."""
        fields, multipliers = datasets.overlap_keys([f["width"] for f in files], [set(f["jets"]) for f in files])
        hashes = []
        for k, f in enumerate(files):
            parts = []
            for start in range(0, f["n"], self.window):
                window = self._window(k, start, min(start + self.window, f["n"]))
                parts.append(datasets._jet_hashes(window, fields, multipliers))
            hashes.append(np.concatenate(parts + [np.empty(0, np.uint64)]))

        def jet(k, i):
            window = self._window(k, int(i), int(i) + 1)
            return (
                window.constituents[0, : window.n_constituents[0]],
                [window.jets[x][0] for x in fields],
                window.event[0],
            )

        datasets.report_repeats(hashes, jet, [str(p) for p in self.paths])

    def chunks(self, rows_per_chunk):
        """Yield (rows, JetSample) for consecutive chunks of at most `rows_per_chunk` jets.

        `rows` is the slice of the joined sample's jets in the chunk; chunks come in order and
        cover every jet once. A chunk holds the joined labels, events and jet fields, and
        constituents padded to ``width``.
        """
        rows_per_chunk = max(1, int(rows_per_chunk))
        done = 0
        for f, info in enumerate(self._files):
            lo = int(self._file_start[f])
            for start in range(0, info["n"], rows_per_chunk):
                stop = min(start + rows_per_chunk, info["n"])
                if self.keep is None:
                    local, joined = slice(None), slice(lo + start, lo + stop)
                else:
                    a, b = np.searchsorted(self.keep, [lo + start, lo + stop])
                    if a == b:
                        continue
                    local, joined = self.keep[a:b] - lo - start, slice(int(a), int(b))
                window = self._window(f, start, stop)
                constituents = window.constituents[local]
                if constituents.shape[1] < self.width:
                    padded = np.zeros((len(constituents), self.width, 4), np.float32)
                    padded[:, : constituents.shape[1]] = constituents
                    constituents = padded
                chunk = JetSample(
                    constituents,
                    self.n_constituents[joined],
                    self.labels[joined],
                    self.event[joined],
                    {k: v[joined] for k, v in self.jets.items()},
                    list(self.label_names),
                    dict(self.provenance),
                )
                assert joined.start == done, "chunks must cover the joined sample in order"
                done = joined.stop
                yield joined, chunk

    def take(self, rows):
        """JetSample of the joined sample's jets at `rows` (a few: each is read on its own)."""
        rows = np.asarray(rows, np.int64)
        index = rows if self.keep is None else self.keep[rows]  # rows of the files joined whole
        constituents = np.zeros((len(rows), self.width, 4), np.float32)
        for k, g in enumerate(index.tolist()):
            f = int(np.searchsorted(self._file_start, g, side="right")) - 1
            jet = self._window(f, g - int(self._file_start[f]), g - int(self._file_start[f]) + 1)
            constituents[k, : jet.constituents.shape[1]] = jet.constituents[0]
        return JetSample(
            constituents,
            self.n_constituents[rows],
            self.labels[rows],
            self.event[rows],
            {k: v[rows] for k, v in self.jets.items()},
            list(self.label_names),
            dict(self.provenance),
        )

    def skeleton(self):
        """The joined sample without constituents ((jets, 0, 4)): per-jet scalars, labels, provenance."""
        return JetSample(
            np.zeros((len(self), 0, 4), np.float32),
            self.n_constituents,
            self.labels,
            self.event,
            dict(self.jets),
            list(self.label_names),
            dict(self.provenance),
        )
