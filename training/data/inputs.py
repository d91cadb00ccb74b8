"""The rows of a sample in a representation: named arrays per row with their events and labels,
in memory or read lazily from an on-disk row cache (``training.data.streaming``)."""

import dataclasses

import numpy as np

from preprocessing.errors import DataError
from training.data.training_arrays import OUTLIERS


@dataclasses.dataclass
class Inputs:
    """A sample in a representation: named arrays per row, with the rows' events and labels."""

    arrays: dict  # {name: (rows, ...)} every array the representation builds
    names: tuple  # the arrays the model takes, in serving order
    event: np.ndarray  # (rows,) event ids: a split keeps an event's rows together
    labels: np.ndarray  # (rows,) class indices into label_names (truth, for evaluation)
    label_names: list
    unit: str  # "jets" or "events"
    representation: str
    files: list
    provenance: dict
    # training-only arrays (ModelSpec.training_arrays): in training batches, never serving inputs
    training: dict = dataclasses.field(default_factory=dict)  # {name: (rows, ...)}, e.g. "jet_mass"
    outliers: object = None  # OutlierPool of models that take "outliers"
    jet_mass: np.ndarray | None = None  # (rows,) jet masses where the rows are jets with masses
    # streamed path (training.data.streaming): the RowCache on disk that `arrays` read from, else None,
    # and the ChunkedSample of the jets the rows were built from
    cache: object = None
    reader: object = None

    def __len__(self):
        return len(self.event)

    @property
    def streamed(self):
        return self.cache is not None

    def close(self):
        """Remove the on-disk row cache of a streamed sample (nothing to do in memory)."""
        if self.cache is not None:
            self.cache.remove()

    def model_inputs(self, rows):
        """The model's inputs at `rows`: a plain array for one input, a dict for several (streamed:
        lazy ``RowsView`` objects read in batches)."""
        if len(self.names) == 1:
            return take_rows(self.arrays[self.names[0]], rows)
        return {name: take_rows(self.arrays[name], rows) for name in self.names}

    def shapes(self):
        """{input name: per-row shape} of the model's inputs."""
        return {name: tuple(self.arrays[name].shape[1:]) for name in self.names}

    def training_inputs(self, rows, seed=0):
        """What training and validation batches hold at `rows`: the model inputs, plus (as one dict)
        the training-only arrays when the model takes any; outliers are paired one-to-one with the
        rows, drawn from the pool to match the jet-mass distribution of these rows (seeded)."""
        if not self.training and self.outliers is None:
            return self.model_inputs(rows)
        out = {name: take_rows(self.arrays[name], rows) for name in self.names}
        out.update({name: values[rows] for name, values in self.training.items()})
        if self.outliers is not None:
            out[OUTLIERS] = self.outliers.paired(self.jet_mass[rows], seed)
        return out


def take_rows(values, rows):
    """values[rows]; for an on-disk CachedArray a lazy view (nothing read yet)."""
    from training.data.row_cache import CachedArray

    return values.rows(rows) if isinstance(values, CachedArray) else values[rows]


def input_names(settings, arrays):
    """The model's input names among the representation's `arrays`; a DataError when they do not match."""
    if settings.spec.inputs is None and len(arrays) != 1:
        raise DataError(
            f"model {settings.name!r} takes one input, but representation {settings.representation!r} "
            f"builds {sorted(arrays)}; choose a single-input representation"
        )
    names = tuple(settings.spec.inputs or arrays)
    missing = [n for n in names if n not in arrays]
    if missing:
        raise DataError(
            f"model {settings.name!r} takes inputs {list(names)}, but representation "
            f"{settings.representation!r} builds {sorted(arrays)}"
        )
    return names
