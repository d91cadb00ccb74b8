"""The memory budget of ``fit`` and ``score``: parsing ``--memory-budget`` and estimating a sample's
in-memory footprint from its HDF5 shapes and dtypes, before any array is read.

    budget = parse_size("2G", "--memory-budget")          # bytes; K/M/G/T are powers of 1024
    estimate = estimate_footprint(paths, "jet_image", n_jets=None)
    estimate.total > budget                                # -> the streamed path (training.data.streaming)

The in-memory path holds, at its peak,

    sample arrays (every dataset of every file, or the --n-jets share of them)
  + REPRESENTATION_COPIES x the representation (rows x per-row shape x 4 bytes): the built
    arrays, their training/validation/test copies (``Inputs.model_inputs(rows)``) and the
    TensorFlow tensors made from the training and validation copies.

The default budget is half of the machine's memory (the cgroup limit where one is set), so a
sample that fits comfortably keeps today's path unchanged.
"""

import dataclasses
import os
import pathlib
import re

import numpy as np

from preprocessing.errors import DataError

UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
DEFAULT_FRACTION = 0.5  # of the machine's memory
REPRESENTATION_COPIES = 3  # built arrays + per-split copies + TensorFlow tensors of train/validation rows
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(I?B)?\s*$", re.IGNORECASE)


def parse_size(text, flag="--memory-budget"):
    """Bytes in a size such as ``2G``, ``500M``, ``1.5GiB`` or ``1000000`` (K/M/G/T: powers of 1024).

    Raises:
        DataError naming `flag` and the value when it is not a positive size.
    """
    match = _SIZE.match(str(text))
    if not match:
        raise DataError(
            f"{flag} {text!r}: not a size; give a number with an optional unit K, M, G or T "
            f"(powers of 1024), e.g. 2G or 500M"
        )
    number, unit = float(match.group(1)), match.group(2).upper()
    size = int(number * UNITS[unit])
    if size <= 0:
        raise DataError(f"{flag} {text!r}: the budget must be positive")
    return size


def format_size(size):
    """A size in bytes as text with a binary unit, e.g. 1.5G."""
    for unit in ("T", "G", "M", "K"):
        if size >= UNITS[unit]:
            return f"{size / UNITS[unit]:.3g}{unit}"
    return f"{int(size)}B"


def machine_memory():
    """Bytes of memory this process may use: physical memory, or the cgroup v2/v1 limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = pathlib.Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_budget():
    """The default --memory-budget: DEFAULT_FRACTION of machine_memory()."""
    return int(DEFAULT_FRACTION * machine_memory())


def default_budget_help():
    return f"half of this machine's memory, {format_size(default_budget())}"


@dataclasses.dataclass(frozen=True)
class Footprint:
    """Estimated bytes of the in-memory path.

    Attributes:
        sample: the sample arrays as ``datasets.load`` holds them.
        representation: the built representation, once.
        rows: representation rows (jets, or events for event-level representations).
        width: particles per jet after joining the files.
        total: sample + REPRESENTATION_COPIES x representation.
    """

    sample: int
    representation: int
    rows: int
    width: int = 0  # particles per jet after joining the files

    @property
    def total(self):
        return self.sample + REPRESENTATION_COPIES * self.representation

    def describe(self):
        return (
            f"{format_size(self.total)} (sample {format_size(self.sample)} + {REPRESENTATION_COPIES} x "
            f"representation {format_size(self.representation)} for {self.rows} rows)"
        )


def _file_layout(path):
    """(jets, bytes of every dataset, particles per jet) of one sample file, from its metadata only."""
    import h5py

    from preprocessing.samples.format import open_sample

    with open_sample(path) as f:
        jets = int(f["labels"].shape[0])
        total = 0

        def add(_, obj):
            nonlocal total
            if isinstance(obj, h5py.Dataset):
                total += int(np.prod(obj.shape, dtype=np.int64)) * obj.dtype.itemsize

        f.visititems(add)
        return jets, total, int(f["constituents"].shape[1])


def estimate_footprint(paths, representation, params=None, n_jets=None):
    """Footprint of reading `paths` whole and building `representation` in memory.

    Args:
        paths: sample files (the project's HDF5 format); only their metadata is read.
        representation: registry name; its per-row shapes give the representation bytes (float32).
        n_jets: a --n-jets subset: the sample share is scaled to it.
    """
    from preprocessing import representations

    layouts = [_file_layout(p) for p in paths]
    jets = sum(n for n, _, _ in layouts)
    width = max((w for _, _, w in layouts), default=0)
    # concatenating files widens every file's padding to the widest
    sample = sum(size + n * (width - w) * 4 * 4 for n, size, w in layouts)
    if n_jets is not None and jets:
        sample = int(sample * min(n_jets, jets) / jets)
        jets = min(n_jets, jets)
    rows = jets // 2 if representations.row_level(representation) == "event" else jets
    per_row = sum(
        int(np.prod(shape, dtype=np.int64)) * 4
        for shape in representations.input_shapes(representation, params).values()
    )
    return Footprint(int(sample), int(rows * per_row), int(rows), width)
