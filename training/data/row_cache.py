"""An on-disk cache of representation rows, written chunk by chunk and read back by rows.

    with RowCache.writer(folder, {"jet_image": ((40, 40), np.float32)}, n_rows) as w:
        for chunk in chunks:
            w.append({"jet_image": images})              # rows in order
    cache = RowCache(folder)                             # {name: CachedArray}
    view = cache.arrays["jet_image"].rows(split.train)   # lazy: nothing read yet
    view[0:4096], view[index_array], len(view)           # numpy arrays read from disk

Each input is one ``.npy`` file (NumPy's own format, so ``np.load(path, mmap_mode="r")`` reads it
too). The writer fills a hidden temporary folder beside `folder` and renames it when every row is
written; an error removes it, and a failed write (disk full, file too large) is an OSError naming
`folder` with nothing left behind. Rows are read with ``os.preadv`` into a fresh array, one call per
run of consecutive rows: explicit reads, not a memory map, so rows read for one batch do not stay
resident in the process (the page cache holds them, outside its RSS).
"""

import contextlib
import errno
import os
import pathlib
import shutil
import tempfile

import numpy as np

from preprocessing.errors import DataError
from preprocessing.samples.format import CommitOnExit


class CachedArray:
    """A (rows, ...) ``.npy`` file read by rows.

    Attributes:
        path: the file.
        shape, dtype: of the whole array.
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(fh)
            self._offset = fh.tell()
        if fortran:
            raise DataError(f"{self.path}: a row cache must be C-ordered")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._fd = None

    def __getstate__(self):  # picklable (Dask tasks): the descriptor is reopened where it is used
        return {**self.__dict__, "_fd": None}

    def __len__(self):
        return self.shape[0]

    @property
    def ndim(self):
        return len(self.shape)

    def _descriptor(self):
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        try:
            self.close()
        except OSError:
            pass

    def read(self, index):
        """Rows at `index` (a slice or an integer array, any order) as a new numpy array."""
        if isinstance(index, slice):
            index = np.arange(*index.indices(len(self)))
        index = np.asarray(index, np.int64).reshape(-1)
        if len(index) and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"{self.path}: rows outside [0, {len(self)})")
        out = np.empty((len(index),) + self.row_shape, self.dtype)
        if not len(index):
            return out
        buffer = memoryview(out.reshape(-1).view(np.uint8))
        breaks = np.flatnonzero(np.diff(index) != 1) + 1  # runs of consecutive rows: one read each
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [len(index)]])
        fd, size = self._descriptor(), self.row_bytes
        for a, b in zip(starts.tolist(), stops.tolist()):
            want = (b - a) * size
            got = os.preadv(fd, [buffer[a * size : b * size]], self._offset + int(index[a]) * size)
            if got != want:
                raise DataError(f"{self.path}: truncated row cache (read {got} of {want} bytes)")
        return out

    def rows(self, index):
        """A lazy view of the rows at `index` (nothing is read until it is sliced)."""
        return RowsView(self, np.asarray(index, np.int64))


class RowsView:
    """Rows of a CachedArray at given indices, read only when sliced: len, shape, dtype and
    numpy indexing (a slice or an integer array of view positions) as for an array."""

    def __init__(self, array, index):
        self.array, self.index = array, np.asarray(index, np.int64)

    def __len__(self):
        return len(self.index)

    @property
    def shape(self):
        return (len(self.index),) + self.array.row_shape

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self):
        return self.array.ndim

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.array.read(self.index[[key]])[0]
        if isinstance(key, tuple):  # rows first, then numpy indexing of what was read
            return self[key[0]][(slice(None),) + key[1:]]
        return self.array.read(self.index[key])

    def __array__(self, dtype=None, copy=None):
        # every row at once: what a model hook that asks for the whole array gets
        out = self.array.read(self.index)
        return out if dtype is None else out.astype(dtype)

    def rows(self, index):
        """A lazy view of the view's rows at `index`."""
        return RowsView(self.array, self.index[np.asarray(index, np.int64)])


def is_lazy(x):
    """Whether `x` (an array, a RowsView, or a dict of them) holds rows not read into memory."""
    if isinstance(x, dict):
        return any(is_lazy(v) for v in x.values())
    return isinstance(x, RowsView)


class RowCache:
    """The cached inputs in `folder`: {name: CachedArray} from its ``<name>.npy`` files."""

    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        self.arrays = {p.stem: CachedArray(p) for p in sorted(self.folder.glob("*.npy"))}

    def remove(self):
        for array in self.arrays.values():
            array.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def writer(folder, layout, n_rows):
        """A RowCacheWriter of `n_rows` rows per input; `layout` is {name: (row shape, dtype)}."""
        return RowCacheWriter(folder, layout, n_rows)


class RowCacheWriter(CommitOnExit):
    """Appends rows to one ``.npy`` per input in a temporary folder; ``close`` checks that every row
    came and renames the folder into place (``abort`` or an exception removes it)."""

    def __init__(self, folder, layout, n_rows):
        self.folder = pathlib.Path(folder)
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        if self.folder.exists():
            raise DataError(f"{self.folder}: a row cache is already there")
        self._tmp = pathlib.Path(
            tempfile.mkdtemp(prefix=f".{self.folder.name}.", suffix=".part", dir=self.folder.parent)
        )
        self.layout = {name: (tuple(shape), np.dtype(dtype)) for name, (shape, dtype) in layout.items()}
        self.n_rows, self.written = int(n_rows), dict.fromkeys(layout, 0)
        self._files = {}
        with self._writing():
            for name, (shape, dtype) in self.layout.items():
                fh = open(self._tmp / f"{name}.npy", "wb")  # noqa: SIM115 - closed by close() or abort()
                self._files[name] = fh
                header = {
                    "descr": np.lib.format.dtype_to_descr(dtype),
                    "fortran_order": False,
                    "shape": (self.n_rows,) + shape,
                }
                np.lib.format.write_array_header_2_0(fh, header)

    @contextlib.contextmanager
    def _writing(self):
        """Any exception removes the temporary folder; a failed write (disk full, file too large,
        quota) is an OSError naming the cache `folder`, not the hidden temporary file."""
        try:
            yield
        except OSError as err:
            self.abort()
            raise OSError(err.errno or errno.EIO, err.strerror or str(err), str(self.folder)) from None
        except BaseException:
            self.abort()
            raise

    def append(self, arrays):
        """Add the next rows: {name: (rows, *row shape)} with the same number of rows for every input."""
        if set(arrays) != set(self.layout):
            raise DataError(f"row cache: got inputs {sorted(arrays)}, expected {sorted(self.layout)}")
        for name, values in arrays.items():
            shape, dtype = self.layout[name]
            values = np.ascontiguousarray(values, dtype)
            if values.shape[1:] != shape:
                raise DataError(f"row cache: input {name!r} rows have shape {values.shape[1:]}, expected {shape}")
            if self.written[name] + len(values) > self.n_rows:
                raise DataError(f"row cache: more than {self.n_rows} rows of input {name!r}")
            with self._writing():
                self._files[name].write(values.tobytes())
            self.written[name] += len(values)

    def close(self):
        with self._writing():
            for fh in self._files.values():
                fh.close()  # writes what is buffered: may be where the disk turns out to be full
            short = {k: v for k, v in self.written.items() if v != self.n_rows}
            if short:
                raise DataError(f"row cache: expected {self.n_rows} rows per input, wrote {short}")
            os.replace(self._tmp, self.folder)
        return RowCache(self.folder)

    def abort(self):
        for fh in self._files.values():
            with contextlib.suppress(OSError):  # a buffer that cannot be written: the file is removed anyway
                fh.close()
        shutil.rmtree(self._tmp, ignore_errors=True)
