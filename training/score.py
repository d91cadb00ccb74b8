"""Score jets with an exported tagger.

    python -m training.score --model exported/dvae [--version N] --data jets.h5 --out scores.h5 [--emd [--workers N]]

Loads the SavedModel (the newest version unless one is named) through its ``serving_default``
signature, the same path as a served model: raw constituents in for jet-image taggers (the image
is built in the graph), else the inputs its model card names rebuilt from the sample file; and writes every
named score per jet (plus labels and event numbers) to OUT atomically. When the sample has both
the card's signal class and other jets, the AUC of every score is printed as JSON. Rows are jets,
or events for event-level representations (bortolato2021's high-level features).

``--emd`` adds the ``emd`` score of models with a reconstruction (cheng2020's VAEs; the card's
``scorer_scores``): the energy mover's distance between each input jet and its reconstruction from
the export's ``reconstruction`` signature, computed outside the graph in ``--workers`` processes
(``training.emd``; EnergyFlow's ``emd(..., R=1, norm=True)`` on (pT, eta, phi)).
"""

import json
import os
import pathlib
import sys

import numpy as np

from preprocessing.cli import CommandParser, check_inputs, check_output_file, integer
from preprocessing.errors import DataError, run_command


def score_sample(fn, card, sample, source="input", batch_size=4096):
    """{output name: (rows,) array} from a loaded serving function and its ModelCard for a JetSample.

    `fn` is the export's ``serving_default``: with raw constituents in (jet-image taggers) the
    sample's constituents go in as they are, the path a served model takes; otherwise the card's
    representation is rebuilt in numpy (Lund images, event-level features, older exports).
    """
    import tensorflow as tf

    from models.base import batched
    from preprocessing import representations
    from preprocessing.representations import graph
    from preprocessing.representations.constituents import check_constituents

    expected = list(fn.structured_input_signature[1])
    if set(expected) == {graph.CONSTITUENTS, graph.COUNTS}:
        # the raw-constituent signature: the representation is built in the graph, as when served
        check_constituents(sample.constituents, sample.n_constituents, source)  # a clear error before the graph
        feed = {
            graph.CONSTITUENTS: np.asarray(sample.constituents, np.float32),
            graph.COUNTS: np.asarray(sample.n_constituents, np.int32),
        }
        dtypes = {graph.CONSTITUENTS: tf.float32, graph.COUNTS: tf.int32}
        return batched(lambda batch: fn(**{k: tf.constant(v, dtypes[k]) for k, v in batch.items()}), feed, batch_size)
    rep = card.representation
    inputs = representations.build(rep["name"], sample, rep.get("params"), source=source)
    missing = sorted(set(expected) - set(inputs))
    if missing:
        raise DataError(
            f"model expects inputs {sorted(expected)} but representation {rep['name']!r} builds {sorted(inputs)}"
        )
    feed = {name: inputs[name] for name in expected}
    return batched(lambda batch: fn(**{k: tf.constant(v, tf.float32) for k, v in batch.items()}), feed, batch_size)


def main(argv=None):
    parser = CommandParser(prog="python -m training.score", description=__doc__)
    parser.add_argument("--model", required=True, help="export folder: <base>/<model> or <base>/<model>/<version>")
    parser.add_argument("--version", type=integer(1), help="version to load (default: newest)")
    parser.add_argument("--data", required=True, help="sample file (.h5, the project's format)")
    parser.add_argument("--out", required=True, help="output .h5 with one dataset per named score")
    parser.add_argument("--emd", action="store_true", help="add the 'emd' score (models with a reconstruction)")
    parser.add_argument("--workers", type=integer(1), help="processes for --emd (default: every core)")
    args = parser.parse_args(argv)
    return run_command(run, args)


def run(args):
    import h5py

    from preprocessing import representations
    from preprocessing.samples.format import atomic_path, read_sample
    from training.export import resolve_version

    # arguments, then the data, then the slow model load
    if args.workers is not None and not args.emd:
        raise DataError("--workers sets the processes of --emd; add --emd or drop --workers")
    model = pathlib.Path(args.model)
    if not model.is_dir():
        raise DataError(f"--model {model}: no such export folder")
    check_inputs([args.data], "--data")
    check_output_file(args.out, "--out", [("--data", args.data), ("--model", model)])
    path = model / str(args.version) if args.version is not None else model
    if args.version is not None and not path.is_dir():
        raise DataError(f"--version {args.version}: {model} has no such version")
    version = resolve_version(path)  # a folder of versions or a SavedModel, else a clear error
    if args.emd:
        from training.emd import SCORE_NAME, no_reconstruction_message
        from training.model_card import ModelCard

        card = ModelCard.read(version)
        if SCORE_NAME not in card.scorer_scores:  # before the data and the slow model load
            raise DataError(no_reconstruction_message(card, f"{version} lists no scorer score 'emd'"))
    sample = read_sample(args.data)

    from training import metrics
    from training.export import load_tagger

    _, card, folder, loaded = load_tagger(path)
    scores = score_sample(loaded.signatures["serving_default"], card, sample, source=str(args.data))
    if args.emd:
        from training.emd import export_emd_scores

        scores["emd"] = export_emd_scores(loaded, card, sample, source=str(args.data), workers=args.workers)
    # one row per jet, or per event for event-level representations
    row_event, row_labels = representations.rows(card.representation_name, sample, source=str(args.data))

    tmp = atomic_path(args.out)
    try:
        with h5py.File(tmp, "w") as f:
            for name, values in scores.items():
                f.create_dataset(f"scores/{name}", data=values.astype(np.float32))
            f.create_dataset("labels", data=row_labels)
            f.create_dataset("event", data=row_event)
            f.attrs["label_names"] = json.dumps(sample.label_names)
            f.attrs["model"] = str(folder)
            f.attrs["default_score"] = card.default_score
            f.attrs["score_direction"] = "larger = more anomalous"
        os.replace(tmp, args.out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

    result = {
        "model": str(folder),
        "data": str(args.data),
        "out": str(args.out),
        "rows": representations.row_level(card.representation_name),
        "n_rows": len(row_event),
    }
    signal = card.signal_label
    if signal in sample.label_names and len(np.unique(row_labels)) > 1:
        is_signal = row_labels == sample.label_of(signal)
        result["auc"] = {name: round(metrics.summary(s, is_signal)["auc"], 5) for name, s in scores.items()}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
