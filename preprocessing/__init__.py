"""From raw events to model inputs: generation, the project's HDF5 sample format, representations."""

from preprocessing.errors import DataError

__all__ = ["DataError"]
