"""The project's one HDF5 sample format.

Every source of jets (generated here or converted from a public file) is written once in this
format; nothing downstream parses anything else.

Layout of a sample file::

    /constituents     (N, P, 4) float32  (E, px, py, pz) in GeV, pT-descending, zero padded
    /n_constituents   (N,)      int32    number of real constituents per jet
    /labels           (N,)      int32    index into the attribute ``label_names``
    /event            (N,)      int64    event number within the file (jets of one event share it)
    /jets/<name>      (N,)      float32  jet kinematics and observables: pt, eta, phi, mass, energy
                                         (required), and where available tau1..tau4, tau21, tau32,
                                         d2, n_const (preprocessing.jets.observables); event-level
                                         samples add mjj and mass_rank (0 = heavier jet)
    attrs: format="anomalous-jet-sample", format_version, label_names (JSON list),
           provenance (JSON: generator settings, seeds, code version, creation time, ...)

Files are written to a temporary name in the same folder and renamed when complete, so a
reader never sees a half-written sample. Large conversions append chunks through
``SampleWriter``, which writes the same layout with bounded memory. libhdf5 writes through a
Python file object that keeps the first failed write (disk full, file too large): the writer then
raises it as an OSError naming the output path, closes its HDF5 handles without writing and
removes the temporary file, so a full disk is one error line and never a crash in libhdf5.
"""

import contextlib
import dataclasses
import errno
import json
import os
import pathlib
import tempfile

import h5py
import numpy as np

from preprocessing.errors import DataError

FORMAT_NAME = "anomalous-jet-sample"
FORMAT_VERSION = 1
REQUIRED_JET_FIELDS = ("pt", "eta", "phi", "mass", "energy")
OBSERVABLE_FIELDS = ("tau1", "tau2", "tau3", "tau4", "tau21", "tau32", "d2", "n_const")
EVENT_FIELDS = ("mjj", "mass_rank")


@dataclasses.dataclass
class JetSample:
    """Jets in memory, exactly the content of one sample file."""

    constituents: np.ndarray  # (jets, particles, 4)
    n_constituents: np.ndarray  # (jets,)
    labels: np.ndarray  # (jets,)
    event: np.ndarray  # (jets,)
    jets: dict  # name -> (jets,)
    label_names: list
    provenance: dict

    def __len__(self):
        return len(self.labels)

    def subset(self, index):
        """The jets at `index` (an integer array or boolean mask), same label table and provenance."""
        return JetSample(
            self.constituents[index],
            self.n_constituents[index],
            self.labels[index],
            self.event[index],
            {k: v[index] for k, v in self.jets.items()},
            list(self.label_names),
            dict(self.provenance),
        )

    def label_of(self, name):
        """Integer label of class `name`; DataError if the sample has no such class."""
        if name not in self.label_names:
            raise DataError(f"sample has no class {name!r}; its classes are {self.label_names}")
        return self.label_names.index(name)


def atomic_path(path):
    """A temporary sibling of `path` to write to before renaming (same filesystem, hidden name)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give the finished file the usual permissions
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return pathlib.Path(tmp)


def write_sample(path, sample):
    """Write `sample` to `path` atomically (temporary file, then rename)."""
    _validate(sample, str(path))
    part = _PartFile(path)
    try:
        with part.reporting():
            f = part.h5
            f.attrs["format"] = FORMAT_NAME
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["label_names"] = json.dumps(list(sample.label_names))
            f.attrs["provenance"] = json.dumps(sample.provenance, default=str)
            f.create_dataset(
                "constituents",
                data=sample.constituents.astype(np.float32),
                compression="gzip",
                compression_opts=4,
                shuffle=True,
                chunks=(min(max(len(sample), 1), 256),) + sample.constituents.shape[1:],
            )
            f.create_dataset("n_constituents", data=sample.n_constituents.astype(np.int32))
            f.create_dataset("labels", data=sample.labels.astype(np.int32))
            f.create_dataset("event", data=sample.event.astype(np.int64))
            grp = f.create_group("jets")
            for name, values in sample.jets.items():
                grp.create_dataset(name, data=np.asarray(values, dtype=np.float32))
        part.commit()
    except BaseException:
        part.abort()
        raise
    return pathlib.Path(path)


class _GuardedFile:
    """The file libhdf5 writes a sample through (h5py's file-object driver), so that a failed write
    (disk full, file too large, quota) is kept here as an OSError for the writer to raise, instead
    of a libhdf5 error raised from a garbage-collected handle ("Exception ignored in ...
    __dealloc__") or a segfault in its cache flush at interpreter exit.

    Writes are complete (short writes are retried) or fail; from the first failure on, and after
    ``discard()``, writes go nowhere and report success, so libhdf5 never sees an error and its
    handles close cleanly; the file is then only fit to be removed."""

    def __init__(self, path):
        self._raw = open(path, "w+b", buffering=0)  # noqa: SIM115 - closed by close()
        self.error = None
        self._discard = False

    def write(self, data):
        view = memoryview(data).cast("B")
        n = len(view)
        if self._discard or self.error is not None:
            return n
        try:
            while view:
                view = view[self._raw.write(view) :]
        except OSError as err:
            self.error = err
        return n

    def readinto(self, buf):
        view = memoryview(buf).cast("B")
        n = self._raw.readinto(view) or 0
        view[n:] = bytes(len(view) - n)  # past the end of the file (or of what was written): zeros
        return len(view)

    def read(self, size=-1):
        return self._raw.read(size)

    def seek(self, offset, whence=os.SEEK_SET):
        return self._raw.seek(offset, whence)

    def tell(self):
        return self._raw.tell()

    def truncate(self, size=None):
        if self._discard or self.error is not None:
            return size
        try:
            return self._raw.truncate(size)
        except OSError as err:
            self.error = err
            return size

    def flush(self):
        pass

    def discard(self):
        self._discard = True

    def close(self):
        self._raw.close()


class _PartFile:
    """An HDF5 file being written at a temporary sibling of `path` (``atomic_path``): ``commit()``
    closes it and renames it into place, ``abort()`` closes its handles and removes it. A write
    that failed (at any point, closing included) is an OSError naming `path`."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.tmp = atomic_path(self.path)
        self._io = _GuardedFile(self.tmp)
        try:
            self.h5 = h5py.File(self._io, "w")
        except BaseException:
            self._io.close()
            self.tmp.unlink(missing_ok=True)
            raise

    def _raise_write_error(self):
        err = self._io.error
        if err is not None:
            raise OSError(err.errno or errno.EIO, err.strerror or str(err), str(self.path)) from None

    @contextlib.contextmanager
    def reporting(self):
        """Turn an exception met while writing into the write failure behind it, if any."""
        try:
            yield
        except BaseException:
            self._raise_write_error()
            raise
        self._raise_write_error()

    def commit(self):
        with self.reporting():
            self.h5.close()  # flushes libhdf5's caches: may be where the disk turns out to be full
        self._io.close()
        os.replace(self.tmp, self.path)

    def abort(self):
        self._io.discard()
        try:
            self.h5.close()
        except Exception:  # noqa: S110 - the file is being dropped; its first error is what is reported
            pass
        finally:
            self._io.close()
            self.tmp.unlink(missing_ok=True)


def open_sample(path):
    """Open a sample file read-only after checking its format and required datasets.

    Returns an open h5py.File (use it as a context manager); every problem is a DataError naming
    the file and the field.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such sample file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: not a readable HDF5 file ({err})") from None
    try:
        if f.attrs.get("format") != FORMAT_NAME:
            raise DataError(
                f"{path}: not an {FORMAT_NAME} file (attribute 'format' is "
                f"{f.attrs.get('format')!r}); convert public files with preprocessing.convert"
            )
        version = int(f.attrs.get("format_version", -1))
        if version > FORMAT_VERSION:
            raise DataError(f"{path}: format_version {version} is newer than this code ({FORMAT_VERSION})")
        for key in ("constituents", "n_constituents", "labels", "event", "jets"):
            if key not in f:
                raise DataError(f"{path}: missing dataset '/{key}'")
        for key in REQUIRED_JET_FIELDS:
            if key not in f["jets"]:
                raise DataError(f"{path}: missing dataset '/jets/{key}'")
        _check_layout(f, path)
    except BaseException:
        f.close()
        raise
    return f


# dtype kinds and dimensions of the datasets (checked on opening, from the metadata alone)
_LAYOUT = {"labels": ("iu", 1), "event": ("iu", 1), "n_constituents": ("iu", 1), "constituents": ("f", 3)}
_KINDS = {"iu": "integers", "f": "floating-point numbers", "fiu": "numbers"}


def _check_layout(f, path):
    """Every dataset of an open sample file has the type, dimensions and length the format says, and
    the label table is a JSON list of names: a malformed file is one DataError naming the field."""
    fields = [*_LAYOUT.items(), *((f"jets/{k}", ("fiu", 1)) for k in f["jets"])]
    n = None
    for key, (kinds, ndim) in fields:
        d = f[key]
        if not isinstance(d, h5py.Dataset):
            raise DataError(f"{path}: '/{key}' is not a dataset")
        if d.dtype.kind not in kinds:
            raise DataError(f"{path}: '/{key}' must hold {_KINDS[kinds]}, got {d.dtype.name}")
        if key == "constituents" and (d.ndim != 3 or d.shape[-1] != 4):
            raise DataError(f"{path}: '/constituents' must have shape (jets, particles, 4), got {d.shape}")
        if d.ndim != ndim:
            raise DataError(f"{path}: '/{key}' must have one entry per jet (1-D), got shape {d.shape}")
        n = d.shape[0] if n is None else n
        if d.shape[0] != n:
            raise DataError(f"{path}: '/{key}' has {d.shape[0]} entries but '/labels' has {n}")
    try:
        names = json.loads(f.attrs.get("label_names", "[]"))
    except (TypeError, ValueError):
        names = None
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise DataError(f"{path}: attribute 'label_names' must be a JSON list of class names")


def read_sample(path):
    """Read and validate a sample file; every problem is a DataError naming the file and field."""
    path = pathlib.Path(path)
    with open_sample(path) as f:
        try:
            sample = JetSample(
                constituents=f["constituents"][...],
                n_constituents=f["n_constituents"][...],
                labels=f["labels"][...],
                event=f["event"][...],
                jets={k: f["jets"][k][...] for k in f["jets"]},
                label_names=json.loads(f.attrs["label_names"]),
                provenance=json.loads(f.attrs.get("provenance", "{}")),
            )
        except (OSError, KeyError, ValueError) as err:
            raise DataError(f"{path}: corrupt or truncated sample ({err})") from None
    _validate(sample, str(path))
    return sample


def _validate(sample, where):
    c = sample.constituents
    if c.ndim != 3 or c.shape[-1] != 4:
        raise DataError(f"{where}: '/constituents' must have shape (jets, particles, 4), got {c.shape}")
    if len(c) != len(sample.labels):
        raise DataError(f"{where}: '/constituents' has {len(c)} entries but '/labels' has {len(sample.labels)}")
    validate_per_jet(sample, c.shape[1], where)
    if not np.all(np.isfinite(c)):
        bad = int(np.argwhere(~np.isfinite(c))[0][0])
        raise DataError(f"{where}: '/constituents' contains NaN or infinity (first at jet {bad})")


def check_constituents_finite(f, where, window=16384):
    """The constituents of an open sample file `f` are finite, read `window` jets at a time."""
    c = f["constituents"]
    for start in range(0, c.shape[0], window):
        block = c[start : start + window]
        if not np.all(np.isfinite(block)):
            bad = start + int(np.argwhere(~np.isfinite(block))[0][0])
            raise DataError(f"{where}: '/constituents' contains NaN or infinity (first at jet {bad})")


def validate_per_jet(sample, width, where):
    """The per-jet checks of a sample (every check but the constituents'): lengths, finite jet
    fields, counts within the `width` particle slots and labels within the label table."""
    n = len(sample.labels)
    arrays = {"n_constituents": sample.n_constituents, "event": sample.event}
    arrays.update({f"jets/{k}": v for k, v in sample.jets.items()})
    for name, arr in arrays.items():
        if len(arr) != n:
            raise DataError(f"{where}: '/{name}' has {len(arr)} entries but '/labels' has {n}")
    for name, arr in sample.jets.items():
        if not np.all(np.isfinite(arr)):
            bad = int(np.argwhere(~np.isfinite(arr))[0][0])
            raise DataError(f"{where}: '/jets/{name}' contains NaN or infinity (first at jet {bad})")
    if n and (sample.n_constituents.min() < 0 or sample.n_constituents.max() > width):
        raise DataError(f"{where}: '/n_constituents' outside [0, {width}]")
    if n and (sample.labels.min() < 0 or sample.labels.max() >= len(sample.label_names)):
        raise DataError(f"{where}: '/labels' outside the label table {sample.label_names}")


def concatenate(samples):
    """Join samples into one, merging their label tables by class name.

    Padding is widened to the largest particle count; provenance keeps each source under 'sources'.
    """
    if not samples:
        raise DataError("no samples to concatenate")
    names = []
    for s in samples:
        names += [n for n in s.label_names if n not in names]
    width = max(s.constituents.shape[1] for s in samples)
    common = set.intersection(*(set(s.jets) for s in samples))
    parts, offset = [], 0
    for s in samples:
        c = np.zeros((len(s), width, 4), np.float32)
        c[:, : s.constituents.shape[1]] = s.constituents
        remap = np.array([names.index(n) for n in s.label_names], dtype=np.int32)
        # event numbers stay unique after joining: shift each source past the previous ones
        ev = s.event.astype(np.int64) + offset
        offset = int(ev.max()) + 1 if len(ev) else offset
        parts.append((c, s.n_constituents, remap[s.labels] if len(s) else s.labels, ev, {k: s.jets[k] for k in common}))
    return JetSample(
        constituents=np.concatenate([p[0] for p in parts]),
        n_constituents=np.concatenate([p[1] for p in parts]),
        labels=np.concatenate([p[2] for p in parts]).astype(np.int32),
        event=np.concatenate([p[3] for p in parts]),
        jets={k: np.concatenate([p[4][k] for p in parts]) for k in sorted(common)},
        label_names=names,
        provenance={"sources": [s.provenance for s in samples]},
    )


class CommitOnExit:
    """A writer used as a context manager: ``close()`` (commit) on a clean exit, ``abort()`` (remove
    the temporary output) when the block raises, so nothing half-written is left behind."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


class SampleWriter(CommitOnExit):
    """Write a sample file chunk by chunk (bounded memory), atomically on ``close``.

    Usage::

        with SampleWriter(path, label_names, provenance, n_particles=200) as w:
            for chunk in chunks:  # JetSample pieces with the same jet fields
                w.append(chunk)

    Event numbers of each chunk are kept as given (make them unique across chunks). If the
    block exits with an exception the temporary file is removed and `path` is untouched.
    """

    def __init__(self, path, label_names, provenance, n_particles):
        self.path = pathlib.Path(path)
        self.label_names = list(label_names)
        self.provenance = dict(provenance)
        self.n_particles = int(n_particles)
        self._part = _PartFile(self.path)
        self._file = self._part.h5
        self._fields = None
        self.n = 0

    def _create(self, jet_fields):
        f, p = self._file, self.n_particles
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["label_names"] = json.dumps(self.label_names)
        f.create_dataset(
            "constituents",
            shape=(0, p, 4),
            maxshape=(None, p, 4),
            dtype=np.float32,
            compression="gzip",
            compression_opts=4,
            shuffle=True,
            chunks=(256, p, 4),
        )
        for name, dtype in (("n_constituents", np.int32), ("labels", np.int32), ("event", np.int64)):
            f.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(4096,))
        grp = f.create_group("jets")
        for name in jet_fields:
            grp.create_dataset(name, shape=(0,), maxshape=(None,), dtype=np.float32, chunks=(4096,))
        self._fields = list(jet_fields)

    def append(self, chunk):
        """Add the jets of `chunk` (a JetSample whose labels index this writer's label table)."""
        if self._fields is None:
            self._create(sorted(chunk.jets))
        if sorted(chunk.jets) != self._fields:
            raise DataError(f"{self.path}: chunk has jet fields {sorted(chunk.jets)}, expected {self._fields}")
        if chunk.constituents.shape[1] != self.n_particles:
            raise DataError(
                f"{self.path}: chunk has {chunk.constituents.shape[1]} particles per jet, expected {self.n_particles}"
            )
        check = JetSample(
            chunk.constituents, chunk.n_constituents, chunk.labels, chunk.event, chunk.jets, self.label_names, {}
        )
        _validate(check, str(self.path))
        k, start = len(chunk), self.n
        if k == 0:
            return
        f = self._file
        with self._part.reporting():
            for name, values in (
                ("constituents", chunk.constituents),
                ("n_constituents", chunk.n_constituents),
                ("labels", chunk.labels),
                ("event", chunk.event),
            ):
                f[name].resize(start + k, axis=0)
                f[name][start:] = values
            for name in self._fields:
                f["jets"][name].resize(start + k, axis=0)
                f["jets"][name][start:] = np.asarray(chunk.jets[name], dtype=np.float32)
        self.n += k

    def close(self):
        """Finish the file and move it into place; returns the path. A failed write (disk full)
        is an OSError naming the path; the partial file is removed then."""
        try:
            with self._part.reporting():
                if self._fields is None:
                    self._create(REQUIRED_JET_FIELDS)
                self.provenance.setdefault("n_jets", self.n)
                self._file.attrs["provenance"] = json.dumps(self.provenance, default=str)
            self._part.commit()
        except BaseException:
            self._part.abort()
            raise
        return self.path

    def abort(self):
        """Drop the partial file (its HDF5 handles are closed first, without writing)."""
        self._part.abort()
