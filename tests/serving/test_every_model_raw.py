"""Every jet-level model whose representation has an in-graph builder serves raw constituents:
scores through the exported ``serving_default`` equal the offline path (numpy representation ->
in-memory model) on real generated jets, including jets with 1, 2 and 200 constituents.

The first model of each representation runs by default; the others with ``pytest -m slow``.
"""

import numpy as np
import pytest
import tensorflow as tf

from models.registry import MODELS
from preprocessing import representations
from preprocessing.representations import graph
from tests.conftest import minimal_card
from tests.serving.conftest import edge_jets


def _served_models():
    seen, params = set(), []
    for name, spec in MODELS.items():
        rep = spec.presets[spec.default_preset].get("representation", spec.representation)
        if not graph.supports(rep) or representations.row_level(rep) != "jet":
            continue
        marks = [pytest.mark.slow] if rep in seen else []
        seen.add(rep)
        params.append(pytest.param(name, rep, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name,rep", _served_models())
def test_raw_constituent_default_equals_offline_path(name, rep, jets, tmp_path):
    import keras

    from training import pipeline
    from training.export import export_tagger

    constituents, counts = edge_jets(jets)
    sample = jets.subset(np.arange(len(counts)) % len(jets))  # a JetSample of as many rows, to hold the edge jets
    sample.constituents, sample.n_constituents = constituents, counts
    arrays = representations.build(rep, sample)
    settings = pipeline.resolve(name)
    names = tuple(settings.spec.inputs or arrays)
    x = arrays[names[0]] if len(names) == 1 else {k: arrays[k] for k in names}
    keras.utils.set_random_seed(0)
    model = settings.spec.cls(**settings.config, seed=0)
    model.fit_scaler(x)  # scalers from these jets: the export must carry them
    shapes = {k: arrays[k].shape[1:] for k in names}
    folder = export_tagger(model, shapes, tmp_path / name, minimal_card(model, rep, shapes, name))
    default = tf.saved_model.load(str(folder)).signatures["serving_default"]
    assert sorted(default.structured_input_signature[1]) == [graph.CONSTITUENTS, graph.COUNTS]
    out = default(constituents=tf.constant(constituents), n_constituents=tf.constant(counts))
    offline = model.anomaly_scores(x)
    for score, values in offline.items():
        np.testing.assert_allclose(out[score].numpy(), np.asarray(values), atol=1e-4, rtol=1e-4, err_msg=score)
    np.testing.assert_allclose(out["anomaly_score"].numpy(), np.asarray(offline[model.default_score]), atol=1e-4)
