"""The record that describes one representation to the registry."""

import dataclasses
from collections.abc import Callable, Mapping


def _jet_rows(sample, source="input"):
    """One row per jet: the sample's own event ids and labels."""
    return sample.event, sample.labels


@dataclasses.dataclass(frozen=True)
class Representation:
    """Everything the registry knows about one representation.

    Attributes:
        name: registry name, recorded in the model card.
        build: (sample, source="input", **params) -> {input name: (rows, ...) array}.
        default_params: the parameters `build` takes, with their defaults.
        shapes: (resolved params) -> {input name: per-row shape}.
        fit: (training inputs from `build`) -> JSON-safe fitted parameters, or None when there is
            nothing to fit.
        row_level: 'jet' or 'event', what one built row describes.
        rows: (sample, source) -> (event id, label) of every built row, in build order.
    """

    name: str
    build: Callable
    default_params: Mapping
    shapes: Callable
    fit: Callable | None = None
    row_level: str = "jet"
    rows: Callable = _jet_rows
