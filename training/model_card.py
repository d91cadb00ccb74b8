"""The model card: what an export is, how it was trained and on what, and how well it did.

Written by ``training.fit`` into ``<export>/assets.extra/model_card.json`` and read back by
score, serve and every study through ``ModelCard.read`` instead of key by key. The JSON keys
are the field names, except ``class_name`` which is stored as ``class``.
"""

import dataclasses
import json
import pathlib

from preprocessing.errors import DataError

CARD_PATH = pathlib.Path("assets.extra") / "model_card.json"
SCORE_DIRECTION = "larger = more anomalous"


@dataclasses.dataclass
class ModelCard:
    """One exported tagger.

    Attributes:
        model: registry name (e.g. "dvae"); class_name: the Keras class; citation: the paper.
        preset: preset name; config: the model's get_config() (of member 0 for an ensemble).
        mode: "unsupervised" or "supervised"; classes: the class names a supervised model outputs.
        ensemble: {"members": K, "seeds": [...]}.
        training: optimiser settings, epochs run, seconds, rows/s, stopping per member, history.
        representation: {"name", "params", "fitted"}: enough to rebuild the inputs from a sample.
        inputs: {input name: per-row shape}, in serving order.
        outputs: serving outputs, "anomaly_score" first: the scores computed in the graph.
        scorer_scores: named scores computed outside the graph by ``python -m training.score``
            (e.g. "emd" with ``--emd``, from the ``reconstruction`` signature; ``training.emd``).
        default_score: the named score behind anomaly_score; signal_label: positive class.
        data: files, label names, split sizes, row level, provenance.
        metrics: the default score's test metrics plus {"scores": {name: metrics}}.
        anomalous_component: the label-free choice of models with mixture components, else None.
        score_rule: how the default score gets its direction without labels, and why (the model
            class's ``Tagger.score_rule``).
        version: the export version (set when exported).
    """

    model: str
    class_name: str
    citation: str
    preset: str
    config: dict
    representation: dict
    inputs: dict
    outputs: list
    default_score: str
    signal_label: str
    mode: str = "unsupervised"
    classes: list = dataclasses.field(default_factory=list)
    scorer_scores: list = dataclasses.field(default_factory=list)
    ensemble: dict = dataclasses.field(default_factory=dict)
    training: dict = dataclasses.field(default_factory=dict)
    data: dict = dataclasses.field(default_factory=dict)
    metrics: dict = dataclasses.field(default_factory=dict)
    anomalous_component: int | None = None
    score_rule: str = ""
    score_direction: str = SCORE_DIRECTION
    code_version: str = ""
    created: str = ""
    version: int | None = None

    @classmethod
    def bare(cls, model_name, model, representation, inputs, signal_label="signal", preset=""):
        """A card with only what an export needs (benchmarks and tests): no config, data, training or metrics.

        Args:
            model_name: registry name; model: the Tagger; representation: representation name;
            inputs: {input name: per-row shape}.
        """
        return cls(
            model=model_name,
            class_name=type(model).__name__,
            citation="",
            preset=preset,
            config={},
            representation={"name": representation, "params": {}, "fitted": {}},
            inputs={k: list(v) for k, v in inputs.items()},
            outputs=[],
            default_score=model.default_score,
            signal_label=signal_label,
            score_rule=getattr(model, "score_rule", ""),  # tests also export bare tf.Modules
        )

    @property
    def representation_name(self):
        return self.representation["name"]

    @property
    def row_level(self):
        """'jet' or 'event': what one row of the model's inputs describes."""
        return self.data.get("rows", "jets").rstrip("s")

    def to_dict(self):
        out = dataclasses.asdict(self)
        return {"model": out.pop("model"), "class": out.pop("class_name"), **out}

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, default=str)

    @classmethod
    def from_dict(cls, record, where="model card"):
        record = dict(record)
        if "class" in record:
            record["class_name"] = record.pop("class")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in record
        )
        if missing:
            raise DataError(f"{where}: missing field(s) {missing}")
        unknown = sorted(set(record) - names)
        if unknown:
            raise DataError(f"{where}: unknown field(s) {unknown}")
        return cls(**record)

    @classmethod
    def read(cls, folder):
        """The card of an export version folder; a DataError names the file when it is absent or malformed."""
        path = pathlib.Path(folder) / CARD_PATH
        if not path.is_file():
            raise DataError(f"{folder}: no {CARD_PATH}; not an export of this project")
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: malformed model card ({err})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: malformed model card (not a JSON object)")
        return cls.from_dict(record, where=str(path))

    def write(self, folder):
        path = pathlib.Path(folder) / CARD_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path
