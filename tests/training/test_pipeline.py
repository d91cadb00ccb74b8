"""The fit stages with a model that has two named inputs and learns from labels (the path of the
point-cloud classifiers): load, split, targets, train, evaluate, card, export, load back."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.base import Tagger
from models.registry import SUPERVISED, TOP_QCD, ModelSpec
from preprocessing.errors import DataError
from training import pipeline
from training.data.rows import class_targets, load_inputs, split_rows
from training.export import export_tagger, load_tagger


class PointsClassifier(Tagger):
    """Masked mean of per-point features -> softmax over (qcd, top); score 1 - p(qcd)."""

    supervised = True
    term_names = ("cross_entropy",)
    default_score = "not_qcd"
    extra_output_names = ("probabilities",)

    def __init__(self, units=16, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.seed = int(units), int(seed)
        self.point_net = keras.Sequential([keras.Input((None, 2)), keras.layers.Dense(self.units, activation="relu")])
        self.head = keras.Sequential([keras.Input((self.units,)), keras.layers.Dense(2)])
        self.built = True

    def probabilities(self, inputs):
        h = self.point_net(inputs["points"])  # (batch, points, units)
        mask = tf.cast(inputs["mask"], h.dtype)[..., None]  # (batch, points, 1)
        pooled = tf.reduce_sum(h * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        return tf.nn.softmax(self.head(pooled), axis=-1)

    def loss_terms(self, inputs, labels):
        p = self.probabilities(inputs)
        return {"cross_entropy": keras.losses.sparse_categorical_crossentropy(labels, p)}

    def total_loss(self, terms):
        return tf.reduce_mean(terms["cross_entropy"])

    def anomaly_scores(self, inputs):
        return {"not_qcd": 1.0 - self.probabilities(inputs)[:, 0]}

    def extra_outputs(self, inputs):
        return {"probabilities": self.probabilities(inputs)}

    def get_config(self):
        return {**self.base_config(), "units": self.units, "seed": self.seed}


SPEC = ModelSpec(
    cls=PointsClassifier,
    representation="pointcloud",
    inputs=("points", "mask"),
    presets={"default": {"config": {}, "description": "toy"}},
    default_preset="default",
    citation="test",
    signal_label="top",
    dataset=TOP_QCD,
    mode=SUPERVISED,
    classes=("qcd", "top"),
    training={"epochs": 8, "batch_size": 64, "learning_rate": 1e-2},
)


def _train(settings, spec, inputs, split, tmp_path, callbacks=()):
    """One member trained on the split's training rows with its class targets."""
    return pipeline.train_member(
        settings,
        inputs.model_inputs(split.train),
        inputs.model_inputs(split.validation),
        seed=0,
        run_dir=tmp_path / "run",
        y_train=class_targets(spec, inputs, split.train),
        y_val=class_targets(spec, inputs, split.validation),
        callbacks=callbacks,
        verbose=0,
    )


def test_two_input_supervised_model_trains_exports_and_loads_back(small_samples, tmp_path):
    settings = pipeline.resolve("points_classifier", spec=SPEC)
    inputs = load_inputs(settings, [small_samples["qcd_path"], small_samples["top_path"]])
    assert inputs.names == ("points", "mask") and set(inputs.arrays) == {"points", "features", "mask"}
    split = split_rows(inputs, seed=0)
    y_train = class_targets(SPEC, inputs, split.train)
    np.testing.assert_array_equal(y_train, inputs.labels[split.train])  # label table (qcd, top) = classes
    member = _train(settings, SPEC, inputs, split, tmp_path)
    assert member.history["loss"][-1] < member.history["loss"][0]
    assert member.stopping.epoch == int(np.argmin(member.history["val_loss"])) + 1
    evaluation = pipeline.evaluate(member.model, inputs, split.test, SPEC.signal_label)
    assert evaluation.metrics["not_qcd"]["auc"] > 0.6  # top jets are wider: the pooled points separate them
    card = pipeline.model_card(settings, member.model, [member], inputs, split, evaluation, 0, "test")
    assert card.mode == SUPERVISED and card.classes == ["qcd", "top"]
    assert card.inputs == {"points": [100, 2], "mask": [100]}
    assert card.outputs == ["anomaly_score", "not_qcd", "probabilities"]

    folder = export_tagger(member.model, inputs.shapes(), tmp_path / "points_classifier", card)
    fn, loaded_card, _, _ = load_tagger(folder)
    assert sorted(fn.structured_input_signature[1]) == ["mask", "points"]
    assert loaded_card == card
    x_test = inputs.model_inputs(split.test)
    out = fn(points=tf.constant(x_test["points"]), mask=tf.constant(x_test["mask"]))
    want = keras.ops.convert_to_numpy(member.model.probabilities(x_test))
    np.testing.assert_allclose(out["probabilities"].numpy(), want, atol=1e-5)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["anomaly_score"].numpy(), evaluation.scores["not_qcd"], atol=1e-5)


def test_supervised_training_needs_targets_and_known_classes(small_samples, tmp_path):
    settings = pipeline.resolve("points_classifier", spec=SPEC)
    inputs = load_inputs(settings, [small_samples["qcd_path"], small_samples["top_path"]])
    rows = np.arange(10)
    with pytest.raises(DataError, match="learns from labels"):
        pipeline.train_member(settings, inputs.model_inputs(rows), inputs.model_inputs(rows), 0, tmp_path)
    only_qcd = ModelSpec(**{**SPEC.__dict__, "classes": ("qcd",)})
    with pytest.raises(DataError, match=r"holds class\(es\) \['top'\] that the model does not learn"):
        class_targets(only_qcd, inputs, np.arange(len(inputs)))


def test_settings_validate_presets_and_overrides():
    with pytest.raises(DataError, match="unknown model 'nope'"):
        pipeline.resolve("nope")
    with pytest.raises(DataError, match="unknown --set key 'unit'"):
        pipeline.resolve("points_classifier", sets={"unit": 3}, spec=SPEC)
    settings = pipeline.resolve("points_classifier", sets={"units": 3, "epochs": 2}, spec=SPEC)
    assert settings.config == {"units": 3} and settings.training["epochs"] == 2
    assert pipeline.parse_sets(["a=1", "b=[1, 2]", "c=adam"]) == {"a": 1, "b": [1, 2], "c": "adam"}


def test_set_values_are_checked_against_the_type_of_their_default():
    """Checked when the settings resolve, before any data is read: a wrong type is named, not trained on."""
    with pytest.raises(DataError, match=r"--set units='many': expected int like the default 16, got str"):
        pipeline.resolve("points_classifier", sets={"units": "many"}, spec=SPEC)
    with pytest.raises(DataError, match=r"--set batch_size=2.5: expected int like the default 64, got float"):
        pipeline.resolve("points_classifier", sets={"batch_size": 2.5}, spec=SPEC)
    with pytest.raises(DataError, match=r"--set units=True: expected int"):
        pipeline.resolve("points_classifier", sets={"units": True}, spec=SPEC)
    with pytest.raises(DataError, match="epochs must be an integer >= 1, got 0"):
        pipeline.resolve("points_classifier", sets={"epochs": 0}, spec=SPEC)
    with pytest.raises(DataError, match="learning_rate must be positive, got -1.0"):
        pipeline.resolve("points_classifier", sets={"learning_rate": -1}, spec=SPEC)
    settings = pipeline.resolve("points_classifier", sets={"learning_rate": 1}, spec=SPEC)
    assert settings.training["learning_rate"] == 1.0 and isinstance(settings.training["learning_rate"], float)


def test_paper_presets_keep_the_final_epoch_others_the_best_validation():
    assert pipeline.resolve("beta_vae", "paper").training["stopping"] == pipeline.FINAL_EPOCH
    assert pipeline.resolve("vrnn", "paper").training["stopping"] == pipeline.FINAL_EPOCH
    assert pipeline.resolve("particlenet", "paper").training["stopping"] == pipeline.FINAL_EPOCH
    assert pipeline.resolve("particlenet", "lite").training["stopping"] == pipeline.BEST_VALIDATION
    assert pipeline.resolve("dvae").training["stopping"] == pipeline.BEST_VALIDATION
    assert pipeline.resolve("bumphunt_vae", "paper").training["stopping"] == pipeline.KL_PEAK  # the paper's rule
    assert pipeline.resolve("beta_vae", sets={"stopping": "best_val_loss"}).training["stopping"] == "best_val_loss"
    with pytest.raises(DataError, match="stopping must be one of"):
        pipeline.resolve("beta_vae", sets={"stopping": "earliest"})


def test_final_epoch_rule_keeps_the_last_weights(small_samples, tmp_path):
    presets = {"paper": {"config": {}, "description": "toy"}}
    spec = ModelSpec(**{**SPEC.__dict__, "presets": presets, "default_preset": "paper"})
    settings = pipeline.resolve("points_classifier", spec=spec, sets={"epochs": 4})
    assert settings.training["stopping"] == pipeline.FINAL_EPOCH
    inputs = load_inputs(settings, [small_samples["qcd_path"], small_samples["top_path"]])
    split = split_rows(inputs, seed=0)
    seen = []

    class LastWeights(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([w.copy() for w in self.model.get_weights()])

    member = _train(settings, spec, inputs, split, tmp_path, callbacks=[LastWeights()])
    assert member.stopping.epoch == member.stopping.final_epoch == 4
    assert "final epoch" in member.stopping.reason
    for kept, last in zip(member.model.get_weights(), seen[-1]):
        np.testing.assert_array_equal(kept, last)
