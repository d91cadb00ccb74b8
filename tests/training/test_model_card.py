"""The model card: one schema written by fit and read back field by field; clear errors on bad cards."""

import json

import pytest

from preprocessing.errors import DataError
from training.model_card import CARD_PATH, ModelCard


def _card(**changes):
    fields = dict(
        model="dvae",
        class_name="DirichletVAE",
        citation="paper",
        preset="balanced",
        config={"alpha": [1.0, 1.0]},
        representation={"name": "jet_image", "params": {}, "fitted": {}},
        inputs={"jet_image": [40, 40]},
        outputs=["anomaly_score", "mixture_weight"],
        default_score="mixture_weight",
        signal_label="top",
        data={"rows": "jets"},
    )
    return ModelCard(**{**fields, **changes})


def test_round_trip_through_the_export_folder(tmp_path):
    card = _card(anomalous_component=1, version=3)
    card.write(tmp_path)
    stored = json.loads((tmp_path / CARD_PATH).read_text())
    assert stored["class"] == "DirichletVAE" and "class_name" not in stored and list(stored)[:2] == ["model", "class"]
    assert stored["score_direction"] == "larger = more anomalous"
    back = ModelCard.read(tmp_path)
    assert back == card and back.representation_name == "jet_image" and back.row_level == "jet"
    assert _card(data={"rows": "events"}).row_level == "event"


def test_bad_cards_name_the_file_and_the_field(tmp_path):
    with pytest.raises(DataError, match="no assets.extra/model_card.json"):
        ModelCard.read(tmp_path)
    path = tmp_path / CARD_PATH
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(DataError, match="model_card.json: malformed model card"):
        ModelCard.read(tmp_path)
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="not a JSON object"):
        ModelCard.read(tmp_path)
    record = _card().to_dict()
    path.write_text(json.dumps({**record, "colour": "red"}))
    with pytest.raises(DataError, match=r"unknown field\(s\) \['colour'\]"):
        ModelCard.read(tmp_path)
    del record["default_score"]
    path.write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"missing field\(s\) \['default_score'\]"):
        ModelCard.read(tmp_path)
