"""The registry: every ModelSpec builds its model from each preset and names a usable default dataset."""

import math

import pytest

from models.registry import MODELS, SUPERVISED, UNSUPERVISED, Component, DatasetRecipe, ModelSpec, describe
from preprocessing import representations
from preprocessing.events.processes import PROCESS_NAMES


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_preset_builds_and_every_dataset_is_generatable(name):
    spec = MODELS[name]
    for preset in spec.presets.values():
        model = spec.cls(**preset["config"])
        assert model.default_score and model.get_config()
        representation = preset.get("representation", spec.representation)
        assert representation in representations.NAMES
        if spec.inputs is not None:
            assert set(spec.inputs) <= set(representations.input_shapes(representation))
    assert spec.mode in (UNSUPERVISED, SUPERVISED)
    recipe = spec.dataset
    assert math.isclose(sum(c.share for c in recipe.components), 1.0)
    assert all(c.process in PROCESS_NAMES for c in recipe.components)
    assert len({c.seed for c in recipe.components}) == len(recipe.components)  # samples never overlap
    assert name in describe()


def test_spec_rejects_inconsistent_entries():
    recipe = DatasetRecipe("r", (Component("qcd", 1, 1.0),), 100)
    fields = dict(
        cls=object,
        representation="jet_image",
        inputs=None,
        presets={"p": {"config": {}}},
        default_preset="p",
        citation="",
        signal_label="top",
        training={},
        dataset=recipe,
    )
    with pytest.raises(ValueError, match="supervised model needs its class names"):
        ModelSpec(**fields, mode=SUPERVISED)
    with pytest.raises(ValueError, match="mode must be"):
        ModelSpec(**fields, mode="semi")
    with pytest.raises(ValueError, match="default preset 'q'"):
        ModelSpec(**{**fields, "default_preset": "q"})
