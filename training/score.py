"""Score jets with an exported tagger.

    python -m training.score --model exported/dvae [--version N] --data jets.h5 --out scores.h5 [--emd [--workers N]]
                             [--memory-budget 2G]

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

A sample whose in-memory footprint (``training.data.memory``: the sample and its representation, from
the file's shapes) is larger than ``--memory-budget`` is read and scored in chunks of jets
(``training.data.sample_chunks``), each a whole number of scoring batches (at least one, 4096 jets),
so that the scores are those of the in-memory path to the bit.
"""

import io
import json
import os
import pathlib
import sys

import numpy as np

from preprocessing.cli import CommandParser, check_inputs, check_output_file, integer
from preprocessing.errors import DataError, run_command
from training.data import memory

BATCH_SIZE = 4096  # jets per call of the serving function; chunks of a streamed sample are multiples of it


def score_sample(fn, card, sample, source="input", batch_size=None, first_row=0):
    """{output name: (rows,) array} from a loaded serving function and its ModelCard for a JetSample.

    `fn` is the export's ``serving_default``: with raw constituents in (jet-image taggers) the
    sample's constituents go in as they are, the path a served model takes; otherwise the card's
    representation is rebuilt in numpy (Lund images, event-level features, older exports).

    A jet the graph refuses (its physical-input check, ``graph_ops.validate_constituents``) is a
    one-line DataError naming `source` and the jet (its row in the sample, plus `first_row` for a
    chunk of a larger one) and the rule; a NaN or infinite score is one too, so none is returned.
    """
    import tensorflow as tf

    from models.base import batched
    from preprocessing import representations
    from preprocessing.representations import graph
    from preprocessing.representations.constituents import check_constituents

    batch_size = batch_size or BATCH_SIZE

    expected = list(fn.structured_input_signature[1])
    if set(expected) == {graph.CONSTITUENTS, graph.COUNTS}:
        # the raw-constituent signature: the representation is built in the graph, as when served
        check_constituents(sample.constituents, sample.n_constituents, source)  # a clear error before the graph
        feed = {
            graph.CONSTITUENTS: np.asarray(sample.constituents, np.float32),
            graph.COUNTS: np.asarray(sample.n_constituents, np.int32),
        }
        dtypes = {graph.CONSTITUENTS: tf.float32, graph.COUNTS: tf.int32}
        done = [0]  # rows of the batches before this one (batched runs them in order)

        def run(batch):
            try:
                out = fn(**{k: tf.constant(v, dtypes[k]) for k, v in batch.items()})
            except tf.errors.InvalidArgumentError as err:
                raise DataError(refusal_message(err.message, source, first_row + done[0])) from None
            done[0] += len(batch[graph.COUNTS])
            return out

        scores = batched(run, feed, batch_size)
        if card.representation_name in graph.FLAGGING_BUILDERS:
            # one row per jet in, NaN scores for the jets the representation drops (the VRNN's, fewer than 3
            # steps): keep the rows the offline representation keeps, as the representation path does
            keep = ~np.isnan(np.asarray(scores["anomaly_score"], np.float64))
            scores = {name: np.asarray(values)[keep] for name, values in scores.items()}
        return finite_scores(scores, source, first_row)
    rep = card.representation
    inputs = representations.build(rep["name"], sample, rep.get("params"), source=source)
    missing = sorted(set(expected) - set(inputs))
    if missing:
        raise DataError(
            f"model expects inputs {sorted(expected)} but representation {rep['name']!r} builds {sorted(inputs)}"
        )
    feed = {name: inputs[name] for name in expected}
    scores = batched(lambda batch: fn(**{k: tf.constant(v, tf.float32) for k, v in batch.items()}), feed, batch_size)
    return finite_scores(scores, source, first_row)


def refusal_message(message, source, offset):
    """One line for an InvalidArgumentError of a serving graph: the refused jet's row in the file
    (its index in the batch plus `offset`) and the rule, or the error's first line."""
    from preprocessing.representations.graph_ops import parse_refusal

    refused = parse_refusal(message)
    if refused is not None:
        jet, rule, text = refused
        return f"{source}: jet {offset + jet} is not physical (rule {rule}): {text}; no scores written"
    skip = ("[[", "File ", "Graph execution error", "Detected at node")
    lines = [ln.strip() for ln in str(message).splitlines() if ln.strip() and not ln.lstrip().startswith(skip)]
    return f"{source}: the model refused its input: {lines[0] if lines else message}; no scores written"


def finite_scores(scores, source, first_row=0):
    """`scores` ({name: (rows,)}) unchanged, or a DataError naming the first row with a NaN or
    infinite score: a score file never holds one."""
    for name, values in scores.items():
        bad = np.flatnonzero(~np.isfinite(np.asarray(values, np.float64)))
        if len(bad):
            raise DataError(
                f"{source}: jet {first_row + int(bad[0])} gets a NaN or infinite {name!r} score "
                f"({len(bad)} such rows); no scores written"
            )
    return scores


def streamed_chunk_rows(version, data, budget):
    """Jets per chunk when scoring `data` with the export in `version` needs more than `budget` bytes
    in memory (``training.data.memory``), else None; a DataError when its rows cannot be scored in chunks."""
    import h5py

    from preprocessing import representations
    from training.data import streaming
    from training.model_card import ModelCard

    card = ModelCard.read(version)
    rep = card.representation
    footprint = memory.estimate_footprint([data], rep["name"], rep.get("params"))
    if footprint.total <= budget:
        return None
    from preprocessing.representations import record, registry

    if registry.get(rep["name"]).rows is not record._jet_rows:
        raise DataError(
            f"--memory-budget {memory.format_size(budget)}: scoring {data} in memory needs about "
            f"{footprint.describe()}, and representation {rep['name']!r} has no row per jet to score in chunks; "
            f"give a --memory-budget above {memory.format_size(footprint.total)}"
        )
    shapes = representations.input_shapes(rep["name"], rep.get("params"))
    row_bytes = sum(int(np.prod(s, dtype=np.int64)) * 4 for s in shapes.values())
    with h5py.File(data, "r") as f:
        width = int(f["constituents"].shape[1])
    # whole scoring batches per chunk: every jet is scored in the same batch as in memory, so the
    # scores are the same to the bit (a batch of other size rounds the graph's sums differently)
    rows = max(BATCH_SIZE, streaming.chunk_rows(budget, width, row_bytes) // BATCH_SIZE * BATCH_SIZE)
    print(
        f"memory: scoring in memory needs about {footprint.describe()}, over --memory-budget "
        f"{memory.format_size(budget)}; scoring {rows} jets at a time",
        file=sys.stderr,
    )
    return rows


def main(argv=None):
    parser = CommandParser(prog="python -m training.score", description=__doc__)
    parser.add_argument("--model", required=True, help="export folder: <base>/<model> or <base>/<model>/<version>")
    parser.add_argument("--version", type=integer(1), help="version to load (default: newest)")
    parser.add_argument("--data", required=True, help="sample file (.h5, the project's format)")
    parser.add_argument("--out", required=True, help="output .h5 with one dataset per named score")
    parser.add_argument("--emd", action="store_true", help="add the 'emd' score (models with a reconstruction)")
    parser.add_argument("--workers", type=integer(1), help="processes for --emd (default: every core)")
    parser.add_argument(
        "--memory-budget",
        metavar="SIZE",
        help="bytes the sample and its representation may take in memory, e.g. 2G or 500M (K/M/G/T: powers of "
        "1024); a larger sample is read and scored in chunks of jets; default: half of this machine's memory",
    )
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
    budget = memory.parse_size(args.memory_budget) if args.memory_budget is not None else memory.default_budget()
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
    chunk_rows = streamed_chunk_rows(version, args.data, budget)  # None: the sample fits in memory
    if chunk_rows is None:
        sample = read_sample(args.data)
    else:
        from training.data.sample_chunks import ChunkedSample

        sample = ChunkedSample([args.data])

    from training import metrics
    from training.export import load_tagger

    _, card, folder, loaded = load_tagger(path)

    def score_jets(jets, source, first_row=0):
        out = score_sample(loaded.signatures["serving_default"], card, jets, source=source, first_row=first_row)
        if args.emd:
            from training.emd import export_emd_scores

            out["emd"] = export_emd_scores(loaded, card, jets, source=source, workers=args.workers)
        return out

    if chunk_rows is None:
        scores = score_jets(sample, str(args.data))
    else:  # chunk by chunk: only the scores of every row are held whole
        parts = [
            score_jets(chunk, f"{args.data} (jets {rows.start}..)", rows.start)
            for rows, chunk in sample.chunks(chunk_rows)
        ]
        scores = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        sample = sample.skeleton()  # per-jet labels and events, for the rows below
    # one row per jet, or per event for event-level representations
    row_event, row_labels = representations.rows(card.representation_name, sample, source=str(args.data))

    # the file is built in memory and written with plain Python I/O: a full disk is then an OSError
    # of write() (one error line), never a failed write inside libhdf5, whose open handles crash
    # the interpreter at exit (exit 139 after the message)
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        for name, values in scores.items():
            f.create_dataset(f"scores/{name}", data=values.astype(np.float32))
        f.create_dataset("labels", data=row_labels)
        f.create_dataset("event", data=row_event)
        f.attrs["label_names"] = json.dumps(sample.label_names)
        f.attrs["model"] = str(folder)
        f.attrs["default_score"] = card.default_score
        f.attrs["score_direction"] = "larger = more anomalous"
    tmp = atomic_path(args.out)
    try:
        try:
            with open(tmp, "wb") as out:
                out.write(image.getbuffer())
        except OSError as err:  # write() names no file: name OUT
            raise OSError(err.errno, err.strerror, str(args.out)) from None
        os.replace(tmp, args.out)
    except BaseException:
        tmp.unlink(missing_ok=True)  # the partial file; the previous OUT, if any, is untouched
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
