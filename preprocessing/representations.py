"""Representation registry: a name maps to a builder that turns a JetSample into model inputs.

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

`highlevel` has one row per event (two jets); `preprocessing.highlevel.dijet_features` also
gives the jet rows of each event and m_jj, which is kept aside and never an input.
"""

from preprocessing import constituents as _constituents
from preprocessing import highlevel as _highlevel
from preprocessing import lund as _lund
from preprocessing import pointcloud as _pointcloud
from preprocessing import vrnn as _vrnn
from preprocessing.errors import DataError
from preprocessing.images import DEFAULT_PARAMS as IMAGE_PARAMS
from preprocessing.images import jet_images
from preprocessing.scalers import FeatureScaler


def _jet_image(sample, source="input", **params):
    return {"jet_image": jet_images(sample.constituents, sample.n_constituents, source=source, **params)}


def _lund_image(sample, source="input", **params):
    return {"lund_image": _lund.lund_images(sample.constituents, sample.n_constituents, source=source, **params)}


def _constituent_vectors(sample, source="input", n_constituents=20):
    four, mask = _constituents.constituent_four_vectors(sample.constituents, sample.n_constituents,
                                                        n_constituents, source=source)
    return {"constituents": four, "constituent_mask": mask}


def _vrnn_sequences(sample, source="input", **params):
    return _vrnn.sequences(sample.constituents, sample.n_constituents, source=source, **params)


def _point_cloud(sample, source="input", **params):
    return _pointcloud.point_clouds(sample.constituents, sample.n_constituents, source=source, **params)


def _dijet(sample, source="input"):
    features, _, _ = _highlevel.dijet_features(sample, source)
    return {"highlevel": features}


# name -> (builder, default parameters, {input name: per-row shape})
REPRESENTATIONS = {
    "jet_image": (_jet_image, IMAGE_PARAMS,
                  lambda p: {"jet_image": (p["n_pixels"], p["n_pixels"])}),
    "lund_image": (_lund_image, _lund.DEFAULT_PARAMS,
                   lambda p: {"lund_image": (p["n_pixels"], p["n_pixels"])}),
    "constituents": (_constituent_vectors, _constituents.DEFAULT_PARAMS,
                     lambda p: {"constituents": (p["n_constituents"], 4),
                                "constituent_mask": (p["n_constituents"],)}),
    "vrnn": (_vrnn_sequences, _vrnn.DEFAULT_PARAMS,
             lambda p: {"vrnn_sequence": (p["max_constituents"], _vrnn.N_FEATURES),
                        "vrnn_mask": (p["max_constituents"],)}),
    "pointcloud": (_point_cloud, _pointcloud.DEFAULT_PARAMS,
                   lambda p: {"points": (p["n_points"], 2), "features": (p["n_points"], len(p["features"])),
                              "mask": (p["n_points"],)}),
    "highlevel": (_dijet, _highlevel.DEFAULT_PARAMS,
                  lambda p: {"highlevel": (len(_highlevel.FEATURES),)}),
}


def _fit_vrnn(inputs):
    return _vrnn.fit_pt_fraction_table(inputs["vrnn_sequence"], inputs["vrnn_mask"])


def _fit_constituents(inputs):
    # cheng2020: features standardised on the (QCD) training jets
    scaler = FeatureScaler("standard").fit(inputs["constituents"], inputs["constituent_mask"])
    return {"scaler": scaler.to_dict()}


def _fit_highlevel(inputs):
    # bortolato2021: MaxAbsScaler
    return {"scaler": FeatureScaler("maxabs").fit(inputs["highlevel"]).to_dict()}


# name -> function(training inputs) -> JSON-safe fitted parameters; absent means nothing to fit
FITTERS = {"vrnn": _fit_vrnn, "constituents": _fit_constituents, "highlevel": _fit_highlevel}


def _known(name):
    if name not in REPRESENTATIONS:
        raise DataError(f"unknown representation {name!r}; known: {sorted(REPRESENTATIONS)}")


def build(name, sample, params=None, source="input"):
    """Model inputs {input name: array} for `sample` in representation `name`."""
    _known(name)
    builder = REPRESENTATIONS[name][0]
    return builder(sample, source=source, **resolve_params(name, params))


def fit(name, training_inputs):
    """Parameters of representation `name` fitted on `training_inputs` (from `build` on training rows only).

    Returns:
        JSON-safe dict for the model card ({} when the representation has nothing to fit).
    """
    _known(name)
    return FITTERS[name](training_inputs) if name in FITTERS else {}


def resolve_params(name, params=None):
    """Defaults of representation `name` updated with `params`; unknown keys are an error."""
    _known(name)
    defaults = REPRESENTATIONS[name][1]
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise DataError(f"representation {name!r} has no parameter(s) {unknown}; known: {sorted(defaults)}")
    return {**defaults, **params}


def input_shapes(name, params=None):
    """{input name: per-row shape} of representation `name`."""
    return REPRESENTATIONS[name][2](resolve_params(name, params))


# representations with one row per event rather than per jet
EVENT_LEVEL = {"highlevel"}


def row_level(name):
    """'event' or 'jet': what one row of representation `name` describes."""
    _known(name)
    return "event" if name in EVENT_LEVEL else "jet"


def rows(name, sample, source="input"):
    """(event id, label) of every row that `build(name, sample)` returns, in the same order.

    Splits use the event ids (all rows of an event stay together); evaluation uses the labels.
    """
    if row_level(name) == "event":
        pairs = _highlevel.event_pairs(sample, source)  # (events, 2), the order of the built rows
        return sample.event[pairs[:, 0]], _highlevel.event_labels(sample, pairs)
    return sample.event, sample.labels
