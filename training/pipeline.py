"""The fit pipeline as named stages, shared by ``training.fit`` and the paper reproductions.

    settings = resolve("dvae", preset, sets)                  # model, preset, --set overrides
    inputs = load_inputs(settings, paths)                     # sample files -> named arrays per row
    split = split_rows(inputs, seed)                          # by event, 80/10/10
    member = train_member(settings, x_train, x_val, seed, run_dir[, y_train, y_val])
    evaluation = evaluate(model, inputs, split.test, signal_label)
    card = model_card(...); export_tagger(model, card, ...)   # training.export

Rows are jets, or events for event-level representations. Test rows are used only by
``evaluate``. Stopping results come back as data (``Stopping``), never as attributes on the model.
"""

import ast
import dataclasses
import datetime
import pathlib
import time

import numpy as np

from models.registry import MODELS, SUPERVISED
from preprocessing.errors import DataError
from training.data import rows

# which weights a trained member keeps (training setting "stopping")
BEST_VALIDATION = "best_val_loss"  # the epoch with the lowest validation loss
FINAL_EPOCH = "final"  # the last epoch: the papers' fixed training length
KL_PEAK = "kl_peak"  # bortolato2021: the epoch where the validation KL peaks (training.callbacks)
STOPPING_RULES = (BEST_VALIDATION, FINAL_EPOCH, KL_PEAK)
PAPER_PRESET = "paper"


# -- settings --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Settings:
    """A model family with its preset and overrides resolved."""

    name: str  # registry name
    spec: object  # models.registry.ModelSpec
    preset: str
    config: dict  # model constructor keyword arguments (without the seed)
    training: dict  # epochs, batch_size, learning_rate, beta_2, optimizer, stopping
    representation: str


def parse_sets(items):
    """--set KEY=VALUE pairs -> dict; values are Python literals where they parse, else strings."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise DataError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def _typed(key, value, default):
    """`value` of --set `key` if it has the type of the default (an int does for a float), else a DataError."""
    if default is None:
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise DataError(
            f"--set {key}={value!r}: expected {type(default).__name__} like the default {default!r}, "
            f"got {type(value).__name__}"
        )
    return value


def check_training(training):
    """Training settings in range (epochs and batch size at least 1, a positive learning rate)."""
    for key in ("epochs", "batch_size"):
        value = training.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise DataError(f"{key} must be an integer >= 1, got {value!r}")
    rate = training.get("learning_rate")
    if rate is not None and not rate > 0:
        raise DataError(f"learning_rate must be positive, got {rate!r}")
    stopping = training.get("stopping")
    if stopping is not None and stopping not in STOPPING_RULES:
        raise DataError(f"stopping must be one of {list(STOPPING_RULES)}, got {stopping!r}")


def resolve(model_name, preset_name=None, sets=None, representation=None, spec=None):
    """Settings of `model_name` (or of an unregistered `spec`) with --set overrides validated."""
    if spec is None:
        if model_name not in MODELS:
            raise DataError(f"unknown model {model_name!r}; known models: {sorted(MODELS)}")
        spec = MODELS[model_name]
    preset_name = preset_name or spec.default_preset
    if preset_name not in spec.presets:
        raise DataError(f"model {model_name!r} has no preset {preset_name!r}; presets: {sorted(spec.presets)}")
    preset = spec.presets[preset_name]
    config = dict(preset["config"])
    training = dict(spec.training)
    training.update(preset.get("training", {}))  # a preset may carry its own training defaults
    # the papers train a fixed number of epochs and keep the last one (kahn2021 keeps epoch 100,
    # cheng2022 its 30 epochs at the final learning rate, cheng2020 its 50): the `paper` presets do
    # the same unless the paper has its own rule (bortolato2021's KL peak); other presets restore the
    # weights of the epoch with the lowest validation loss. The model card records which.
    training.setdefault("stopping", FINAL_EPOCH if preset_name == PAPER_PRESET else BEST_VALIDATION)
    defaults = spec.cls().get_config()
    model_keys = set(defaults) - {"name", "trainable", "seed"}
    for key, value in (sets or {}).items():
        if key in training:
            training[key] = _typed(key, value, training[key])
        elif key in model_keys:
            config[key] = _typed(key, value, config.get(key, defaults[key]))
        else:
            raise DataError(
                f"unknown --set key {key!r} for model {model_name!r}; "
                f"model keys: {sorted(model_keys)}; training keys: {sorted(training)}"
            )
    check_training(training)
    representation = representation or preset.get("representation", spec.representation)
    return Settings(model_name, spec, preset_name, config, training, representation)


# -- training --------------------------------------------------------------------------------
@dataclasses.dataclass
class Stopping:
    """Which weights a trained member holds and why.

    Attributes:
        reason: a sentence for the model card.
        epoch: 1-based epoch whose weights the model holds (None when not tracked).
        final_epoch, final_weights: the last epoch trained and its weights, kept by the KL-peak
            rule so that a study can compare the rule against simply training on.
        found_peak: whether the KL-peak rule found a clean peak (None for the other rules).
    """

    reason: str
    epoch: int | None = None
    final_epoch: int | None = None
    final_weights: list | None = None
    found_peak: bool | None = None


@dataclasses.dataclass
class TrainedMember:
    model: object
    history: dict  # {metric: [value per epoch]}
    seconds: float
    stopping: Stopping


def build_optimizer(training, n_train=None):
    """The optimiser of `training`; a "schedule" of (epoch, rate) knots becomes a OneCycle (needs n_train)."""
    import keras

    rate = training["learning_rate"]
    if training.get("schedule"):
        from training.schedules import learning_rate

        rate = learning_rate(training, n_train)
    if training.get("optimizer", "adam") == "adadelta":
        return keras.optimizers.Adadelta(learning_rate=rate)
    return keras.optimizers.Adam(rate, beta_2=training.get("beta_2", 0.999))


def train_member(settings, x_train, x_val, seed, run_dir, y_train=None, y_val=None, callbacks=(), verbose=2):
    """Build, train and calibrate one model, keeping the weights its stopping rule picks.

    Args:
        settings: resolved Settings (model class, config, training: epochs, batch_size,
            learning_rate, beta_2, optimizer "adam" or "adadelta", stopping "kl_peak" for
            KLPeakStopping, else the best validation loss is restored).
        x_train, x_val: model inputs of the train and validation rows only (``Inputs.training_inputs``:
            with the training-only arrays of the spec, as one dict).
        y_train, y_val: integer class targets, for supervised models.
        run_dir: folder for the checkpoint.
        callbacks: extra Keras callbacks (e.g. score snapshots).
    """
    import keras

    from models.base import n_rows
    from training.callbacks import FALLBACK as KL_PEAK_FALLBACK
    from training.callbacks import KLPeakStopping, LastFiniteEpoch
    from training.distribute import compile_arguments  # under a tf.distribute scope: replicas' mean gradient

    supervised = settings.spec.mode == SUPERVISED
    if supervised and (y_train is None or y_val is None):
        raise DataError(f"model {settings.name!r} learns from labels; give class targets")
    x_train, y_train, x_val = rows.training_batches_inputs(settings, x_train, y_train, x_val, y_val, seed)
    training = settings.training
    keras.utils.set_random_seed(seed)
    model = settings.spec.cls(**settings.config, seed=seed)
    rows.fit_scaler(model, x_train)  # scalers see training rows only and live inside the model
    n_train = n_rows(x_train)
    model.compile(**compile_arguments(build_optimizer(training, n_train)))
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "best.weights.h5"
    rule = training.get("stopping", BEST_VALIDATION)
    if rule == KL_PEAK:
        stop = KLPeakStopping(verbose=verbose > 0, fallback=training.get("kl_peak_fallback", KL_PEAK_FALLBACK))
    elif rule == FINAL_EPOCH:
        stop = LastFiniteEpoch()  # the weights after the last epoch (the last finite one if training diverged)
    else:
        stop = keras.callbacks.ModelCheckpoint(
            str(checkpoint), monitor="val_loss", save_best_only=True, save_weights_only=True, verbose=0
        )
    # one batch source in memory and streamed: a seeded permutation per epoch (training.data.batches)
    train_batches, val_batches = rows.batch_sources(
        x_train,
        y_train if supervised else None,
        x_val,
        y_val if supervised else None,
        training["batch_size"],
        seed,
        model.xla_training,
    )
    start = time.perf_counter()
    history = model.fit(
        train_batches.dataset(training["epochs"]),
        steps_per_epoch=train_batches.steps,
        validation_data=val_batches.dataset(),
        epochs=training["epochs"],
        shuffle=False,  # the batch source already holds each epoch's permutation
        callbacks=[stop, *callbacks],
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    if isinstance(stop, KLPeakStopping):  # the callback already restored the max-KL weights
        stopping = Stopping(stop.reason, stop.peak_epoch, stop.final_epoch, stop.final_weights, stop.found_peak)
    elif rule == FINAL_EPOCH:
        stopping = Stopping(stop.reason, stop.epoch, len(history.history["loss"]))
    else:
        model.load_weights(str(checkpoint))
        val_loss = history.history["val_loss"]
        stopping = Stopping(
            "weights of the epoch with the lowest validation loss", int(np.argmin(val_loss)) + 1, len(val_loss)
        )
    calibrate_member(model, x_train, y_train, supervised)
    return TrainedMember(model, {k: [float(v) for v in vals] for k, vals in history.history.items()}, seconds, stopping)


def calibrate_member(model, x_train, y_train, supervised):
    """The step after training: ``model.calibrate`` on the member's training rows only.

    Supervised models may fit class statistics with the training labels (e.g. the QCD Mahalanobis
    mean); every other model gets the training inputs alone, so its label-free score orientation
    cannot depend on the labels (nor see validation or test rows).
    """
    if supervised:
        model.calibrate(x_train, train_labels=y_train)
    else:
        model.calibrate(x_train)  # label-free orientation of the scores


def combine(members):
    """One tagger from trained members: the member itself, or their Ensemble."""
    from models.ensemble import Ensemble

    models = [m.model for m in members]
    return models[0] if len(models) == 1 else Ensemble(models)


# -- evaluation ------------------------------------------------------------------------------
@dataclasses.dataclass
class Evaluation:
    scores: dict  # {name: (test rows,)}
    metrics: dict  # {name: metrics.summary}; empty without both classes
    labels: np.ndarray  # (test rows,)
    is_signal: np.ndarray | None


def evaluate(model, inputs, test_rows, signal_label):
    """Every named score on `test_rows` (held-out) and its metrics with `signal_label` positive."""
    from models.base import batched_scores
    from training import metrics

    scores = batched_scores(model, inputs.model_inputs(test_rows))
    labels = inputs.labels[test_rows]
    if signal_label in inputs.label_names and len(set(labels.tolist())) > 1:
        is_signal = labels == inputs.label_names.index(signal_label)
        return Evaluation(
            scores, {name: metrics.summary(s, is_signal) for name, s in scores.items()}, labels, is_signal
        )
    return Evaluation(scores, {}, labels, None)


# -- model card and figures ------------------------------------------------------------------
def model_card(settings, model, members, inputs, split, evaluation, seed, code_version):
    """The ModelCard of a trained tagger (member 0's config, the last member's history)."""
    from preprocessing import representations
    from training.model_card import ModelCard

    history = members[-1].history
    epochs_run = len(history["loss"])
    seconds = sum(m.seconds for m in members)
    spec = settings.spec
    return ModelCard(
        model=settings.name,
        class_name=spec.cls.__name__,
        citation=spec.citation,
        preset=settings.preset,
        config=members[0].model.get_config(),
        mode=spec.mode,
        classes=list(spec.classes),
        ensemble={"members": len(members), "seeds": [seed + k for k in range(len(members))]},
        training={
            **settings.training,
            "epochs_run": epochs_run,
            "seed": seed,
            "seconds": round(seconds, 2),
            f"{inputs.unit}_per_second": round(len(split.train) * epochs_run * len(members) / seconds, 1),
            "stopping": [m.stopping.reason for m in members],
            "history": history,
        },
        representation={
            "name": settings.representation,
            "params": representations.resolve_params(settings.representation),
            "fitted": rows.fitted_representation(settings.representation, inputs, split.train),
        },
        inputs={name: list(shape) for name, shape in inputs.shapes().items()},
        outputs=["anomaly_score"] + list(evaluation.scores) + list(model.extra_output_names),
        default_score=model.default_score,
        signal_label=spec.signal_label,
        data={
            "files": inputs.files,
            "label_names": inputs.label_names,
            "n_train": len(split.train),
            "n_validation": len(split.validation),
            "n_test": len(split.test),
            "rows": inputs.unit,
            "split": f"by event, 80/10/10, seed {seed}",
            "provenance": inputs.provenance,
        },
        metrics={**evaluation.metrics.get(model.default_score, {}), "scores": evaluation.metrics},
        anomalous_component=model.anomalous_index(),
        score_rule=model.score_rule,
        code_version=code_version,
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )


def export_figures(settings, model, members, inputs, evaluation, folder):
    """ROC curves, score distributions, member weights and component images into an export's assets.extra."""
    from training import figures

    test = f"{len(evaluation.labels)} test {inputs.unit}"
    if evaluation.metrics:
        figures.plot_roc(
            {n: (s, evaluation.is_signal) for n, s in evaluation.scores.items()},
            folder / "roc.png",
            title=f"{settings.name} ({settings.preset}), {test}, {settings.spec.signal_label} = signal",
        )
        figures.plot_score_distributions(
            evaluation.scores[model.default_score],
            evaluation.labels,
            inputs.label_names,
            folder / "score_distribution.png",
            xlabel=model.default_score,
        )
    for k, member in enumerate(members):  # Keras weights too, to rebuild a model (e.g. a frozen encoder)
        member.model.save_weights(str(folder / f"member{k}.weights.h5"))
    images = model.component_images()
    if images is not None:
        chosen = model.anomalous_index()
        lund = settings.representation == "lund_image"
        figures.plot_images(
            images,
            [f"component {i}" + (" (anomalous)" if i == chosen else "") for i in range(len(images))],
            folder / "mixture_images.png",
            suptitle=f"{settings.name} mixture images softmax(W_k)",
            axis_labels=(r"$\ln 1/\Delta R$ pixel", r"$\ln k_T$ pixel")
            if lund
            else (r"$\eta'$ pixel", r"$\phi'$ pixel"),
        )
