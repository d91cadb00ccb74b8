"""Representation registry: a name maps to a builder that turns a JetSample into model inputs.

The fit command records the representation name and its parameters in the model card; the score
command rebuilds exactly the same inputs from them.
"""

from preprocessing.errors import DataError
from preprocessing.images import DEFAULT_PARAMS as IMAGE_PARAMS
from preprocessing.images import jet_images


def _jet_image(sample, source="input", **params):
    return {"jet_image": jet_images(sample.constituents, sample.n_constituents, source=source, **params)}


# name -> (builder, default parameters, {input name: per-jet shape})
REPRESENTATIONS = {
    "jet_image": (_jet_image, IMAGE_PARAMS,
                  lambda p: {"jet_image": (p["n_pixels"], p["n_pixels"])}),
}


def build(name, sample, params=None, source="input"):
    """Model inputs {input name: array} for `sample` in representation `name`."""
    if name not in REPRESENTATIONS:
        raise DataError(f"unknown representation {name!r}; known: {sorted(REPRESENTATIONS)}")
    builder, defaults, _ = REPRESENTATIONS[name]
    return builder(sample, source=source, **resolve_params(name, params))


def resolve_params(name, params=None):
    """Defaults of representation `name` updated with `params`; unknown keys are an error."""
    defaults = REPRESENTATIONS[name][1]
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise DataError(f"representation {name!r} has no parameter(s) {unknown}; known: {sorted(defaults)}")
    return {**defaults, **params}


def input_shapes(name, params=None):
    """{input name: per-jet shape} of representation `name`."""
    return REPRESENTATIONS[name][2](resolve_params(name, params))
