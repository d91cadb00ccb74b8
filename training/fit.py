"""Train a tagger, evaluate it on held-out rows and export it as a SavedModel.

    python -m training.fit --model dvae                       # the model's default data and preset
    python -m training.fit --model dvae --preset imbalanced --data qcd.h5 top.h5 --epochs 100

Without --data each model's default dataset (models.registry: QCD and top jets for the dillon2021
models, LHCO-like dijet events with 1 % signal for the bump hunt) is generated with Pythia8 +
FastJet on first use and cached (training.data.datasets.cache_dir). Rows are split by event into
train/validation/test (80/10/10); the test rows are used only for the final metrics.

The last line on stdout is a JSON summary: {"model", "export", "metrics": {"auc", "r50", ...}, ...}.

Arguments, files and the export folder are checked before TensorFlow or any data is loaded;
``--set`` values are checked against the type of their default, and the model is built from its
settings and matched against the representation's input shapes (``check_model_settings``), before
the data is loaded: a bad value is one error line naming the setting.
``--ensemble K`` trains its members as Dask tasks (``training.members``): on a local cluster of
``--workers`` processes, on a running cluster with ``--scheduler tcp://host:8786``, or serially
with ``--scheduler serial``; a member is the same bit for bit wherever it ran. A scheduler that
stops answering, or one left without a worker, stops the run within 60 s with one error naming its
address and the unfinished members (``preprocessing.tasks``); finished members are kept under
``<export-dir>/.runs/<model>-members-<digest>/`` and the same command run again resumes from them.
``--distribute mirrored|multi-worker`` trains one model data-parallel under a ``tf.distribute``
strategy (``training.distribute``: this machine's devices, or the cluster in ``TF_CONFIG`` with
the same command and ``--data`` on every worker); only the chief writes the export, and every
worker's summary carries ``distribute.weights_sha256``. A multi-worker task waits up to 300 s for
its peers, saying which, and stops on SIGINT/SIGTERM at any point (``training.distribute``).
Checkpoints live in ``<export-dir>/.runs/`` while training and are removed when the run ends
(``--keep-runs`` keeps them). An export that cannot be written (full disk, file size limit,
permissions) is one error line naming the reason and where the trained model is kept
(``<export-dir>/.runs/<model>-trained-<digest>/``, ``training.kept``); no version folder appears,
and the same command run again exports the kept model without training.
``--memory-budget`` (default: half of the machine's memory): a sample whose arrays and
representation would take more (``training.data.memory``, estimated from the files' shapes) is read in
chunks and its representation built into an on-disk row cache in ``<export-dir>/.runs/``, from
which training, evaluation and the model card read in batches (``training.data.streaming``); same
split, same batches (``training.data.batches``) and the same metrics as in memory.
"""

import datetime
import json
import os
import pathlib
import shutil
import sys
import tempfile

from preprocessing import tasks
from preprocessing.cli import CommandParser, check_inputs, check_output_dir, integer
from preprocessing.errors import DataError, run_command
from training import distribute
from training.data import memory

# model settings that must agree with a representation's per-row input shape:
# (setting, input array) -> the axis of that array's row shape it gives (a slice: the whole shape)
SHAPE_SETTINGS = {
    ("image_shape", "jet_image"): slice(None),
    ("image_shape", "lund_image"): slice(None),
    ("n_constituents", "constituents"): 0,
    ("max_steps", "vrnn_sequence"): 0,
    ("n_features", "vrnn_sequence"): 1,
    ("n_features", "highlevel"): 0,
}


def check_model_settings(settings, sets):
    """The model of `settings` takes its representation's rows and can be built from its settings;
    a value that cannot work (``alpha=[0,1]``, ``image_shape=[20,20]`` for 40x40 images) is one
    DataError naming the setting and the value, before any data is read."""
    from preprocessing.representations import registry as representations

    def named(key):
        value = settings.config[key]
        return f"--set {key}={value!r}" if key in sets else f"{key}={value!r} of preset {settings.preset!r}"

    def plain(value):  # a shape as a list, so that [40, 40] and (40, 40) compare equal
        return list(value) if isinstance(value, (list, tuple)) else value

    shapes = representations.input_shapes(settings.representation)
    for (key, name), axis in SHAPE_SETTINGS.items():
        if key in settings.config and name in shapes:
            want = plain(shapes[name][axis])
            if plain(settings.config[key]) != want:
                raise DataError(
                    f"{named(key)}: representation {settings.representation!r} builds {name} rows of shape "
                    f"{shapes[name]}, so {key} must be {want}"
                )
    try:
        settings.spec.cls(**settings.config)
    except (ValueError, TypeError) as err:
        given = [k for k in sets if k in settings.config]
        if not given:
            raise
        raise DataError(f"{', '.join(named(k) for k in given)}: {err}") from None


def _models_and_presets():
    from models.registry import describe  # imports every model (and Keras): only for --help

    return "models and presets:\n" + describe()


def build_parser():
    parser = CommandParser(prog="python -m training.fit", description=__doc__, epilog_fn=_models_and_presets)
    parser.add_argument("--model", required=True, help="model name (see below)")
    parser.add_argument("--preset", help="named preset of the model (default: the model's default)")
    parser.add_argument(
        "--data",
        nargs="+",
        help="sample files (.h5, the project's format); default: the model's generated default dataset",
    )
    parser.add_argument(
        "--n-jets", type=integer(10), help="jets to use: size of the default dataset, or a random subset of --data"
    )
    parser.add_argument("--epochs", type=integer(1), help="training epochs (default: the model's)")
    parser.add_argument("--batch-size", type=integer(1), help="batch size (default: the model's)")
    parser.add_argument("--seed", type=integer(0), default=0, help="seed of the split, initialisation and sampling")
    parser.add_argument("--export-dir", default="exported", help="export base folder (default: exported/)")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a model or training hyper-parameter (repeatable)"
    )
    tasks.add_arguments(  # ensemble members and default-dataset shards are Dask tasks (preprocessing.tasks)
        parser,
        workers_help="Dask worker processes for ensemble members and default-dataset generation "
        "(default: one per core; 1 = serial, in this process)",
    )
    parser.add_argument("--representation", help="input representation (default: the preset's or model's)")
    parser.add_argument(
        "--ensemble",
        type=integer(1),
        default=1,
        metavar="K",
        help="train K members with seeds seed..seed+K-1 and export their ensemble (mean scores)",
    )
    parser.add_argument("--keep-runs", action="store_true", help="keep the run's checkpoints under <export-dir>/.runs/")
    parser.add_argument(
        "--memory-budget",
        metavar="SIZE",
        help="bytes the sample and its representation may take in memory, e.g. 2G or 500M (K/M/G/T: powers of "
        "1024); a larger sample is read in chunks and its representation streamed from a row cache in "
        "<export-dir>/.runs/ (training.data.streaming); default: half of this machine's memory",
    )
    parser.add_argument(
        "--distribute",
        choices=distribute.CHOICES,
        default=distribute.NONE,
        help="data-parallel training of one model (training.distribute): 'mirrored' over this machine's devices, "
        "'multi-worker' over the cluster in TF_CONFIG (only the chief writes the export); "
        f"models: {', '.join(distribute.SUPPORTED_MODELS)} (default: none)",
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_command(run, args)


def run(args):
    # cheap checks first: files and folders, before Keras is imported or data read
    if args.data:
        check_inputs(args.data, "--data")
    check_output_dir(args.export_dir, "--export-dir")
    tasks.check_scheduler(args.scheduler)
    budget = memory.parse_size(args.memory_budget) if args.memory_budget is not None else memory.default_budget()
    distribute.check_request(
        args.distribute, args.model, args.ensemble, getattr(args, "memory_budget", None), data=args.data
    )
    # a multi-worker strategy must exist before TensorFlow runs any op (it sets up the collectives)
    strategy = distribute.make_strategy(args.distribute)

    from models.registry import SUPERVISED
    from training import pipeline
    from training.data.rows import check_classes, class_targets, load_inputs, split_rows

    sets = pipeline.parse_sets(args.set)
    settings = pipeline.resolve(args.model, args.preset, sets, args.representation)
    check_model_settings(settings, sets)
    distribute.check_settings(settings, args.distribute)
    if args.epochs is not None:
        settings.training["epochs"] = args.epochs
    if args.batch_size is not None:
        settings.training["batch_size"] = args.batch_size

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    inputs = load_inputs(
        settings,
        args.data,
        n_jets=args.n_jets,
        seed=args.seed,
        workers=args.workers,
        memory_budget=budget,
        cache_dir=pathlib.Path(args.export_dir) / ".runs" / f"{args.model}-{stamp}-{os.getpid()}-rows",
        keep_cache=args.keep_runs,
    )
    split = split_rows(inputs, seed=args.seed)
    targets = {}
    if settings.spec.mode == SUPERVISED:
        check_classes(settings.spec, inputs)
        targets = {
            "y_train": class_targets(settings.spec, inputs, split.train),
            "y_val": class_targets(settings.spec, inputs, split.validation),
        }

    # heavy imports after argument and data checks, so mistakes are reported at once
    from preprocessing.version import code_version
    from training.export import export_tagger

    task, index, chief = distribute.task_of(strategy)
    if chief:
        run_dir = pathlib.Path(args.export_dir) / ".runs" / f"{args.model}-{stamp}-{os.getpid()}"
    else:  # another worker of a cluster writes nothing beside the chief's files: checkpoints in a temporary folder
        run_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"fit-{task}{index}-"))
    where = ""
    if strategy is not None:
        where = f" with --distribute {args.distribute} ({strategy.num_replicas_in_sync} replicas, {task} {index})"
    print(
        f"training {settings.spec.cls.__name__} (preset {settings.preset}, input {settings.representation}) on "
        f"{len(split.train)} {inputs.unit}, validating on {len(split.validation)}, testing on {len(split.test)}"
        f"{where}; checkpoints in {run_dir}",
        file=sys.stderr,
    )
    try:
        return _train_and_export(
            args, settings, inputs, split, targets, run_dir, export_tagger, code_version, strategy=strategy
        )
    finally:
        if not args.keep_runs or not chief:  # checkpoints are needed only while training (also when it fails)
            shutil.rmtree(run_dir, ignore_errors=True)
        if not args.keep_runs:  # the streamed path's row cache (training.data.streaming), if any
            inputs.close()


def _train_and_export(args, settings, inputs, split, targets, run_dir, export_tagger, code_version, strategy=None):
    from training import kept, pipeline
    from training.data.rows import warmup_jets

    seeds = [args.seed + k for k in range(args.ensemble)]
    members, keep_dir = _kept_members(args, settings, inputs, split, targets, seeds, strategy)
    if not members and args.ensemble > 1:  # independent members as Dask tasks: the same members wherever they run
        from training.members import train_ensemble

        members = train_ensemble(
            settings,
            inputs,
            split,
            targets,
            args.seed,
            args.ensemble,
            run_dir,
            args.scheduler,
            args.workers,
            keep_root=pathlib.Path(args.export_dir) / ".runs",  # finished members, for a rerun after a lost cluster
        )
    for k in range(len(members), args.ensemble):
        if args.ensemble > 1:
            print(f"ensemble member {k + 1}/{args.ensemble} (seed {args.seed + k})", file=sys.stderr)
        with distribute.scope(strategy):  # the model, its optimizer and variables belong to the strategy
            member = pipeline.train_member(
                settings,
                inputs.training_inputs(split.train, seed=args.seed + k),  # + training-only arrays (jet mass, outliers)
                inputs.training_inputs(split.validation, seed=args.seed + k),
                args.seed + k,
                run_dir / f"member{k}",
                callbacks=distribute.callbacks(strategy),
                verbose=1 if sys.stdout.isatty() else 2,
                **targets,
            )
        members.append(member)
    model = pipeline.combine(members)
    distributed = None
    if strategy is not None:  # every worker reports its weights: equal digests, one model
        task, index, chief = distribute.task_of(strategy)
        distributed = {
            "strategy": args.distribute,
            "replicas": strategy.num_replicas_in_sync,
            "task": f"{task}:{index}",
            "chief": chief,
            "weights_sha256": distribute.weights_digest(model),
        }
        if not chief:  # only the chief evaluates and writes the export and its model card
            summary = {"model": args.model, "preset": settings.preset, "export": None, "distribute": distributed}
            print(json.dumps(summary))
            return 0

    evaluation = pipeline.evaluate(model, inputs, split.test, settings.spec.signal_label)
    if not evaluation.metrics:
        print(
            f"note: no '{settings.spec.signal_label}' and other {inputs.unit} in the test split; no metrics",
            file=sys.stderr,
        )
    card = pipeline.model_card(settings, model, members, inputs, split, evaluation, args.seed, code_version())
    if distributed is not None:  # how the model was trained (the weights digest matches every worker's)
        card.training["distribute"] = {k: distributed[k] for k in ("strategy", "replicas", "weights_sha256")}
    try:
        export = export_tagger(
            model,
            inputs.shapes(),
            pathlib.Path(args.export_dir) / args.model,
            card,
            write_extras=lambda folder: pipeline.export_figures(settings, model, members, inputs, evaluation, folder),
            warmup=warmup_jets(inputs, split),  # streamed: read here, not by reading every file whole
        )
    except Exception as err:  # the trained model is kept, whatever stopped its export
        if keep_dir is None and strategy is None:  # where a rerun of the same command looks for it
            keep_dir = kept.folder(pathlib.Path(args.export_dir) / ".runs", settings, seeds, inputs, split, targets)
        _keep_unexported(err, pathlib.Path(args.export_dir) / args.model, members, seeds, keep_dir, run_dir)
        raise
    kept.remove(keep_dir)  # exported: a model kept by an earlier run is no longer needed
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
    if distributed is not None:
        summary["distribute"] = distributed
    print(json.dumps(summary))
    return 0


def _kept_members(args, settings, inputs, split, targets, seeds, strategy):
    """(members, folder): the members an earlier run of the same command trained but could not
    export (``training.kept``), or ([], where this run would keep them); looked for only when such
    a folder exists, since naming it reads every training array."""
    from training import kept

    runs = pathlib.Path(args.export_dir) / ".runs"
    if strategy is not None or not any(runs.glob(f"{args.model}-trained-*")):
        return [], None
    keep_dir = kept.folder(runs, settings, seeds, inputs, split, targets)
    members = kept.load(keep_dir, settings, seeds) if keep_dir is not None else None
    if members:
        print(
            f"{len(members)} trained member(s) kept from an earlier run in {keep_dir}: exporting without training",
            file=sys.stderr,
        )
    return members or [], keep_dir


def _keep_unexported(err, target, members, seeds, keep_dir, run_dir):
    """Keep the trained `members` of a failed export in `keep_dir` (``training.kept``; None: beside
    `run_dir`, not found by a rerun); a DataError of one line when the machine stopped the export
    (full disk, file size limit, permissions), else a note and the original error goes on."""
    from training import kept

    why = kept.environmental(err)
    rerun = keep_dir is not None
    if keep_dir is None:  # rows streamed from disk, or a distributed run
        keep_dir = run_dir.with_name(f"{run_dir.name}-trained")
    if not all(p.is_file() for p in kept.files(keep_dir, seeds)):  # kept already when a rerun exported them
        try:
            kept.keep(keep_dir, members, seeds)
        except OSError as again:
            kept.remove(keep_dir)
            if why is None:
                raise err from again
            raise DataError(
                f"{target}: cannot write the export ({why}), nor keep the trained model in {keep_dir} "
                f"({kept.environmental(again)})"
            ) from None
    then = (
        "run the same command again once the export can be written: it exports the kept model without training"
        if rerun
        else "rebuild each member with training.members.rebuild"
    )
    if why is None:
        print(f"note: the export failed; the trained model is kept in {keep_dir}; {then}", file=sys.stderr)
        return
    raise DataError(f"{target}: cannot write the export ({why}); the trained model is kept in {keep_dir}; {then}")


if __name__ == "__main__":
    sys.exit(main())
