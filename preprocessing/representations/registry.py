"""Representation registry: a name maps to the record of a representation, whose builder turns a
JetSample into model inputs.

The fit command records the representation name and its parameters in the model card; the score
command rebuilds exactly the same inputs from them. Parameters fitted on training data (the
VRNN's pT-fraction table, feature scalers) come from `fit` as a JSON-safe dict that goes into
the model card and is baked into the exported graph by the model; `build` never applies them,
so training and scoring see the same raw inputs.

| name          | paper        | inputs (per row)                                                  | row   |
|---------------|--------------|-------------------------------------------------------------------|-------|
| jet_image     | dillon2021   | jet_image (40, 40)                                                | jet   |
| lund_image    | dillon2021 A | lund_image (40, 40)                                               | jet   |
| constituents  | cheng2020    | constituents (20, 4), constituent_mask (20,)                      | jet   |
| vrnn          | kahn2021     | vrnn_sequence (20, 3), vrnn_mask (20,)                            | jet   |
| pointcloud    | cheng2022    | points (100, 2), features (100, 4), mask (100,)                   | jet   |
| highlevel     | bortolato2021| highlevel (6,)                                                    | event |

`highlevel` has one row per event (two jets); `preprocessing.representations.highlevel.dijet_features`
also gives the jet rows of each event and m_jj, which is kept aside and never an input.
"""

from preprocessing.errors import DataError
from preprocessing.representations import (
    constituents,
    highlevel,
    jet_image,
    lund_image,
    pointcloud,
    vrnn,
)

# name -> Representation, in the order of the table above
REGISTRY = {
    r.name: r
    for r in (
        jet_image.REPRESENTATION,
        lund_image.REPRESENTATION,
        constituents.REPRESENTATION,
        vrnn.REPRESENTATION,
        pointcloud.REPRESENTATION,
        highlevel.REPRESENTATION,
    )
}
NAMES = tuple(REGISTRY)


def get(name):
    """The Representation record of `name`; DataError for an unknown name."""
    if name not in REGISTRY:
        raise DataError(f"unknown representation {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


def build(name, sample, params=None, source="input"):
    """Model inputs {input name: array} for `sample` in representation `name`."""
    return get(name).build(sample, source=source, **resolve_params(name, params))


def fit(name, training_inputs):
    """Parameters of representation `name` fitted on `training_inputs` (from `build` on training rows only).

    Returns:
        JSON-safe dict for the model card ({} when the representation has nothing to fit).
    """
    fitter = get(name).fit
    return fitter(training_inputs) if fitter is not None else {}


def resolve_params(name, params=None):
    """Defaults of representation `name` updated with `params`; unknown keys are an error."""
    defaults = get(name).default_params
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise DataError(f"representation {name!r} has no parameter(s) {unknown}; known: {sorted(defaults)}")
    return {**defaults, **params}


def input_shapes(name, params=None):
    """{input name: per-row shape} of representation `name`."""
    return get(name).shapes(resolve_params(name, params))


def row_level(name):
    """'event' or 'jet': what one row of representation `name` describes."""
    return get(name).row_level


def rows(name, sample, source="input"):
    """(event id, label) of every row that `build(name, sample)` returns, in the same order.

    Splits use the event ids (all rows of an event stay together); evaluation uses the labels.
    """
    return get(name).rows(sample, source)
