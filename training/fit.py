"""Train a tagger, evaluate it on held-out jets and export it as a SavedModel.

    python -m training.fit --model dvae                       # default data, default preset
    python -m training.fit --model dvae --preset imbalanced --data qcd.h5 top.h5 --epochs 100

Without --data the default dataset (QCD and top jets generated with Pythia8 + FastJet) is made
on first use and cached (see training.data.cache_dir). Jets are split by event into
train/validation/test (80/10/10); the test jets are used only for the final metrics.

The last line on stdout is a JSON summary: {"model", "export", "metrics": {"auc", "r50", ...}, ...}.
"""

import argparse
import ast
import datetime
import json
import os
import pathlib
import sys
import time

from models.registry import MODELS, describe
from preprocessing.errors import DataError, run_command


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


def resolve(model_name, preset_name=None, sets=None):
    """(spec, preset name, model config, training config) with --set overrides validated."""
    if model_name not in MODELS:
        raise DataError(f"unknown model {model_name!r}; known models: {sorted(MODELS)}")
    spec = MODELS[model_name]
    preset_name = preset_name or spec.default_preset
    if preset_name not in spec.presets:
        raise DataError(f"model {model_name!r} has no preset {preset_name!r}; presets: {sorted(spec.presets)}")
    config = dict(spec.presets[preset_name]["config"])
    training = dict(spec.training)
    defaults = spec.cls().get_config()
    model_keys = set(defaults) - {"name", "trainable", "seed"}
    for key, value in (sets or {}).items():
        if key in training:
            training[key] = value
        elif key in model_keys:
            config[key] = value
        else:
            raise DataError(f"unknown --set key {key!r} for model {model_name!r}; "
                            f"model keys: {sorted(model_keys)}; training keys: {sorted(training)}")
    return spec, preset_name, config, training


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m training.fit", description=__doc__,
        epilog="models and presets:\n" + describe(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model name (see below)")
    parser.add_argument("--preset", help="named preset of the model (default: the model's default)")
    parser.add_argument("--data", nargs="+", help="sample files (.h5, the project's format); default: generated data")
    parser.add_argument("--n-jets", type=int,
                        help="jets to use: size of the default dataset, or a random subset of --data")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the model's)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and sampling")
    parser.add_argument("--export-dir", default="exported", help="export base folder (default: exported/)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a model or training hyper-parameter (repeatable)")
    parser.add_argument("--workers", type=int, help="generation workers for the default dataset")
    parser.add_argument("--representation", help="input representation (default: the preset's or model's)")
    parser.add_argument("--ensemble", type=int, default=1, metavar="K",
                        help="train K members with seeds seed..seed+K-1 and export their ensemble "
                             "(models that define one)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_command(run, args)


def run(args):
    spec, preset, config, training = resolve(args.model, args.preset, parse_sets(args.set))
    if args.epochs is not None:
        training["epochs"] = args.epochs
    if args.batch_size is not None:
        training["batch_size"] = args.batch_size
    if args.n_jets is not None and args.n_jets < 10:
        raise DataError(f"--n-jets must be at least 10, got {args.n_jets}")

    from training import data as datasets

    if args.data:
        paths = [pathlib.Path(p) for p in args.data]
        sample = datasets.load(paths, n_jets=args.n_jets, seed=args.seed)
    else:
        paths = datasets.default_dataset(args.n_jets or datasets.DEFAULT_N_JETS, workers=args.workers)
        sample = datasets.load(paths)

    # heavy imports after argument and data checks, so mistakes are reported at once
    from evaluation import metrics
    from preprocessing import representations
    from preprocessing.version import code_version
    from training.export import export_tagger

    representation = args.representation or spec.presets[preset].get("representation", spec.representation)
    if args.ensemble < 1:
        raise DataError(f"--ensemble must be at least 1, got {args.ensemble}")
    if args.ensemble > 1 and spec.ensemble_cls is None:
        raise DataError(f"model {args.model!r} has no ensemble form; drop --ensemble")
    source = ", ".join(str(p) for p in paths)
    inputs = representations.build(representation, sample, source=source)
    if len(inputs) != 1:
        raise DataError(f"model {args.model!r} takes one input, but representation {representation!r} builds "
                        f"{sorted(inputs)}; choose a single-input representation")
    input_name = next(iter(inputs))
    x = inputs[input_name]
    row_event, row_labels = representations.rows(representation, sample, source=source)
    unit = "events" if representations.row_level(representation) == "event" else "jets"

    train_idx, val_idx, test_idx = datasets.split(row_event, seed=args.seed)
    if min(len(train_idx), len(val_idx), len(test_idx)) == 0:
        raise DataError(f"{len(row_event)} {unit} are too few for a train/validation/test split")

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = pathlib.Path(args.export_dir) / ".runs" / f"{args.model}-{stamp}-{os.getpid()}"
    print(f"training {spec.cls.__name__} (preset {preset}, input {representation}) on {len(train_idx)} {unit}, "
          f"validating on {len(val_idx)}, testing on {len(test_idx)}; checkpoints in {run_dir}", file=sys.stderr)
    members, history, train_seconds = [], None, 0.0
    for k in range(args.ensemble):
        if args.ensemble > 1:
            print(f"ensemble member {k + 1}/{args.ensemble} (seed {args.seed + k})", file=sys.stderr)
        member, history, seconds = train(spec, config, training, x[train_idx], x[val_idx], args.seed + k,
                                         run_dir / f"member{k}", verbose=1 if sys.stdout.isatty() else 2)
        members.append(member)
        train_seconds += seconds
    model = members[0] if args.ensemble == 1 else spec.ensemble_cls(members)

    # evaluation on the held-out test jets only
    scores = batched_scores(model, x[test_idx])
    labels = row_labels[test_idx]
    evaluation = {}
    if spec.signal_label in sample.label_names and len(set(labels.tolist())) > 1:
        is_signal = labels == sample.label_of(spec.signal_label)
        evaluation = {name: metrics.summary(s, is_signal) for name, s in scores.items()}
    else:
        print(f"note: no '{spec.signal_label}' and other {unit} in the test split; no metrics", file=sys.stderr)
    headline = evaluation.get(model.default_score, {})

    epochs_run = len(history.history["loss"])
    card = {
        "model": args.model,
        "class": spec.cls.__name__,
        "citation": spec.citation,
        "preset": preset,
        "config": members[0].get_config(),
        "ensemble": {"members": args.ensemble, "seeds": [args.seed + k for k in range(args.ensemble)]},
        "training": {**training, "epochs_run": epochs_run, "seed": args.seed,
                     "seconds": round(train_seconds, 2),
                     f"{unit}_per_second": round(len(train_idx) * epochs_run * args.ensemble / train_seconds, 1),
                     "stopping": [m.stopping_reason for m in members],
                     "history": {k: [float(v) for v in vals] for k, vals in history.history.items()}},
        "representation": {"name": representation, "params": representations.resolve_params(representation),
                           "fitted": representations.fit(representation,
                                                         {k: v[train_idx] for k, v in inputs.items()})},
        "inputs": {input_name: list(x.shape[1:])},
        "outputs": ["anomaly_score"] + list(scores),
        "default_score": model.default_score,
        "score_direction": "larger = more anomalous",
        "signal_label": spec.signal_label,
        "data": {"files": [str(p) for p in paths], "label_names": sample.label_names,
                 "n_train": len(train_idx), "n_validation": len(val_idx), "n_test": len(test_idx),
                 "rows": unit, "split": "by event, 80/10/10, seed %d" % args.seed,
                 "provenance": sample.provenance},
        "metrics": {**headline, "scores": evaluation},
        "code_version": code_version(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if hasattr(model, "anomalous_index"):
        card["anomalous_component"] = model.anomalous_index()

    def figures(folder):
        from evaluation import plots

        if evaluation:
            plots.plot_roc({n: (s, is_signal) for n, s in scores.items()},
                           folder / "roc.png", title=f"{args.model} ({preset}), {len(test_idx)} test {unit}, "
                                                     f"{spec.signal_label} = signal")
            plots.plot_score_distributions(scores[model.default_score], labels, sample.label_names,
                                           folder / "score_distribution.png", xlabel=model.default_score)
        if hasattr(model, "save_weights"):  # Keras weights too, to rebuild the model (e.g. a frozen encoder)
            for k, member in enumerate(members):
                member.save_weights(str(folder / f"member{k}.weights.h5"))
        if hasattr(model, "mixture_images"):
            k = model.anomalous_index()
            lund = representation == "lund_image"
            plots.plot_images(model.mixture_images(), [f"component {i}" + (" (anomalous)" if i == k else "")
                                                       for i in range(model.n_components)],
                              folder / "mixture_images.png", suptitle=f"{args.model} mixture images softmax(W_k)",
                              axis_labels=(r"$\ln 1/\Delta R$ pixel", r"$\ln k_T$ pixel") if lund
                              else (r"$\eta'$ pixel", r"$\phi'$ pixel"))

    export = export_tagger(model, {input_name: x.shape[1:]}, pathlib.Path(args.export_dir) / args.model, card,
                           write_extras=figures)
    summary = {"model": args.model, "preset": preset, "export": str(export),
               "metrics": {"auc": headline.get("auc"), "r50": headline.get("r50"),
                           **{f"auc_{k}": v["auc"] for k, v in evaluation.items()}},
               "n_test": len(test_idx), "train_seconds": round(train_seconds, 1)}
    print(json.dumps(summary))
    return 0


def train(spec, config, training, x_train, x_val, seed, run_dir, callbacks=(), verbose=2):
    """Build, train and calibrate one model, keeping the weights its stopping rule picks.

    Args:
        spec: the registry's ModelSpec; config: model keyword arguments; training: epochs,
            batch_size, learning_rate, beta_2, optimizer ("adam" or "adadelta"), stopping
            ("kl_peak" for KLPeakStopping, else the best validation loss is restored).
        x_train, x_val: model inputs (jets of the train and validation splits only).
        run_dir: folder for the checkpoint.
        callbacks: extra Keras callbacks (e.g. latent snapshots).

    Returns:
        (model, keras History, training seconds).
    """
    import keras

    from training.callbacks import KLPeakStopping

    keras.utils.set_random_seed(seed)
    model = spec.cls(**config, seed=seed)
    if hasattr(model, "fit_scaler"):
        model.fit_scaler(x_train)  # scalers see training rows only and live inside the model
    if training.get("optimizer", "adam") == "adadelta":
        optimizer = keras.optimizers.Adadelta(learning_rate=training["learning_rate"])
    else:
        optimizer = keras.optimizers.Adam(training["learning_rate"], beta_2=training.get("beta_2", 0.999))
    model.compile(optimizer=optimizer)
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "best.weights.h5"
    if training.get("stopping") == "kl_peak":
        stop = KLPeakStopping(verbose=verbose > 0)
    else:
        stop = keras.callbacks.ModelCheckpoint(str(checkpoint), monitor="val_loss", save_best_only=True,
                                               save_weights_only=True, verbose=0)
    start = time.perf_counter()
    history = model.fit(x_train, validation_data=(x_val,), epochs=training["epochs"],
                        batch_size=training["batch_size"], shuffle=True, callbacks=[stop, *callbacks],
                        verbose=verbose)
    seconds = time.perf_counter() - start
    if isinstance(stop, KLPeakStopping):
        model.stopping_reason = stop.reason  # the callback already restored the max-KL weights
        model.peak_epoch = stop.peak_epoch
        model.final_state = (stop.final_epoch, stop.final_weights)  # for studies of the stopping rule
    else:
        model.load_weights(str(checkpoint))
        model.stopping_reason = "weights of the epoch with the lowest validation loss"
    if hasattr(model, "calibrate"):
        model.calibrate(x_train)  # label-free orientation of the scores
    return model, history, seconds


def batched_scores(model, x, batch_size=4096):
    """Named scores over `x` in batches, concatenated."""
    import numpy as np

    parts = [model.anomaly_scores(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


if __name__ == "__main__":
    sys.exit(main())
