"""Train a tagger, evaluate it on held-out rows and export it as a SavedModel.

    python -m training.fit --model dvae                       # the model's default data and preset
    python -m training.fit --model dvae --preset imbalanced --data qcd.h5 top.h5 --epochs 100

Without --data each model's default dataset (models.registry: QCD and top jets for the dillon2021
models, LHCO-like dijet events with 1 % signal for the bump hunt) is generated with Pythia8 +
FastJet on first use and cached (training.datasets.cache_dir). Rows are split by event into
train/validation/test (80/10/10); the test rows are used only for the final metrics.

The last line on stdout is a JSON summary: {"model", "export", "metrics": {"auc", "r50", ...}, ...}.
"""

import argparse
import datetime
import json
import os
import pathlib
import sys

from models.registry import SUPERVISED, describe
from preprocessing.errors import DataError, run_command


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m training.fit",
        description=__doc__,
        epilog="models and presets:\n" + describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="model name (see below)")
    parser.add_argument("--preset", help="named preset of the model (default: the model's default)")
    parser.add_argument(
        "--data",
        nargs="+",
        help="sample files (.h5, the project's format); default: the model's generated default dataset",
    )
    parser.add_argument(
        "--n-jets", type=int, help="jets to use: size of the default dataset, or a random subset of --data"
    )
    parser.add_argument("--epochs", type=int, help="training epochs (default: the model's)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and sampling")
    parser.add_argument("--export-dir", default="exported", help="export base folder (default: exported/)")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a model or training hyper-parameter (repeatable)"
    )
    parser.add_argument("--workers", type=int, help="generation workers for the default dataset")
    parser.add_argument("--representation", help="input representation (default: the preset's or model's)")
    parser.add_argument(
        "--ensemble",
        type=int,
        default=1,
        metavar="K",
        help="train K members with seeds seed..seed+K-1 and export their ensemble (mean scores)",
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_command(run, args)


def run(args):
    from training import pipeline

    settings = pipeline.resolve(args.model, args.preset, pipeline.parse_sets(args.set), args.representation)
    if args.epochs is not None:
        settings.training["epochs"] = args.epochs
    if args.batch_size is not None:
        settings.training["batch_size"] = args.batch_size
    if args.n_jets is not None and args.n_jets < 10:
        raise DataError(f"--n-jets must be at least 10, got {args.n_jets}")
    if args.ensemble < 1:
        raise DataError(f"--ensemble must be at least 1, got {args.ensemble}")

    inputs = pipeline.load_inputs(settings, args.data, n_jets=args.n_jets, seed=args.seed, workers=args.workers)
    split = pipeline.split_rows(inputs, seed=args.seed)
    targets = {}
    if settings.spec.mode == SUPERVISED:
        targets = {
            "y_train": pipeline.class_targets(settings.spec, inputs, split.train),
            "y_val": pipeline.class_targets(settings.spec, inputs, split.validation),
        }

    # heavy imports after argument and data checks, so mistakes are reported at once
    from preprocessing.version import code_version
    from training.export import export_tagger

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = pathlib.Path(args.export_dir) / ".runs" / f"{args.model}-{stamp}-{os.getpid()}"
    print(
        f"training {settings.spec.cls.__name__} (preset {settings.preset}, input {settings.representation}) on "
        f"{len(split.train)} {inputs.unit}, validating on {len(split.validation)}, testing on {len(split.test)}; "
        f"checkpoints in {run_dir}",
        file=sys.stderr,
    )
    members = []
    for k in range(args.ensemble):
        if args.ensemble > 1:
            print(f"ensemble member {k + 1}/{args.ensemble} (seed {args.seed + k})", file=sys.stderr)
        members.append(
            pipeline.train_member(
                settings,
                inputs.model_inputs(split.train),
                inputs.model_inputs(split.validation),
                args.seed + k,
                run_dir / f"member{k}",
                verbose=1 if sys.stdout.isatty() else 2,
                **targets,
            )
        )
    model = pipeline.combine(members)

    evaluation = pipeline.evaluate(model, inputs, split.test, settings.spec.signal_label)
    if not evaluation.metrics:
        print(
            f"note: no '{settings.spec.signal_label}' and other {inputs.unit} in the test split; no metrics",
            file=sys.stderr,
        )
    card = pipeline.model_card(settings, model, members, inputs, split, evaluation, args.seed, code_version())
    export = export_tagger(
        model,
        inputs.shapes(),
        pathlib.Path(args.export_dir) / args.model,
        card,
        write_extras=lambda folder: pipeline.export_figures(settings, model, members, inputs, evaluation, folder),
    )
    headline = evaluation.metrics.get(model.default_score, {})
    summary = {
        "model": args.model,
        "preset": settings.preset,
        "export": str(export),
        "metrics": {
            "auc": headline.get("auc"),
            "r50": headline.get("r50"),
            **{f"auc_{k}": v["auc"] for k, v in evaluation.metrics.items()},
        },
        "n_test": len(split.test),
        "train_seconds": round(sum(m.seconds for m in members), 1),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
