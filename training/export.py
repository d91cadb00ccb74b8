"""Export taggers as SavedModels in TF Serving's layout and load them back.

    <base>/<model>/<version>/saved_model.pb, variables/, assets.extra/model_card.json (+ figures)

A new export takes the next free integer version and never touches an existing one: it is
written to a hidden temporary folder (ignored by TF Serving, which only reads integer names)
and renamed into place when complete. The rename is what claims the version: renaming onto a
version folder that another export completed in the meantime fails (it is not empty), and the
export then takes the next free number, so concurrent exports into one folder all land, each
under its own version.

Signatures (outputs: ``anomaly_score``, the tagger's default score, every named score and the
model's extra outputs such as class probabilities):

- ``representation``: the named model inputs (e.g. ``jet_image``, or ``points`` and ``mask``);
- ``serving_default``: for jet-level models whose representation can be computed with TF ops
  (``preprocessing.representations.graph``: jet images, Lund-plane images, constituents, point
  clouds, VRNN sequences),
  raw padded constituents ``constituents`` (jets, particles, 4) as (E, px, py, pz) float32 plus
  ``n_constituents`` (jets,) int32; the representation is built inside the graph. One row per jet:
  a jet that the offline representation drops (the VRNN's, fewer than 3 steps after Algorithm 1)
  gets NaN in every floating output, so it cannot pass for a scored jet. Event-level models
  (``bumphunt_vae``'s dijet features, ``graph.EVENT_LEVEL``) take the same two inputs with the two
  leading jets of each event in consecutive rows (2k and 2k + 1, the sample files' layout, either
  order); event k's outputs come on row 2k and row 2k + 1 is NaN, so that outputs have as many
  rows as inputs (batching servers split outputs by input rows). Otherwise the same as
  ``representation``. Raw constituents are the default because they are
  what a physicist has, and computing the representation in the graph removes the one place
  where a client could silently preprocess differently from training;
- ``encode``: the latent variables from the named model inputs, where the model has them;
- model-specific signatures from ``Tagger.extra_signatures`` (the VRNN's ``event`` score);
- ``reconstruction``: output ``reconstruction`` (rows, particles, 4), physical (E, px, py, pz), from
  the named model inputs, where the model defines ``reconstruction`` (cheng2020's VAEs); the EMD
  score is computed from it outside the graph (``training.score --emd``, ``training.emd``) and the
  card lists it in ``scorer_scores``.

``assets.extra/tf_serving_warmup_requests`` holds a few held-out jets as ``serving_default``
requests (``training.warmup``), for ``tensorflow_model_server --enable_model_warmup``.
"""

import errno
import os
import pathlib
import shutil
import sys

from preprocessing.errors import DataError
from training.model_card import CARD_PATH, ModelCard


def versions(model_dir):
    """Sorted integer versions present in `model_dir`."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def _next_version(model_dir, after=0):
    """The lowest integer above every integer name in `model_dir` (folders or not) and above `after`."""
    taken = [int(p.name) for p in pathlib.Path(model_dir).iterdir() if p.name.isdigit()]
    return max([after, *taken]) + 1


# rename(2) onto an existing non-empty folder fails with one of these; onto a file, ENOTDIR
_TAKEN = (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR)


REPRESENTATION_SIGNATURE = "representation"


def raw_constituent_inputs(card, input_shapes):
    """Whether an export of `card` gets the raw-constituent serving_default, and why not if it does not.

    Returns:
        (True, "") or (False, reason).
    """
    from preprocessing.representations import graph, registry

    name = card.representation_name
    if card.row_level != "jet" and name not in graph.EVENT_LEVEL:
        return False, f"event-level representation {name!r}: the model keeps its feature inputs"
    if not graph.serves_raw(name):
        return (
            False,
            f"representation {name!r} cannot be computed with TF ops (see preprocessing.representations.graph)",
        )
    shapes = registry.input_shapes(name, card.representation.get("params"))
    if any(tuple(shapes.get(k, ())) != tuple(v) for k, v in input_shapes.items()):  # the model may take a subset
        return False, f"model inputs {dict(input_shapes)} differ from representation {name!r} ({shapes})"
    return True, ""


def _raw_note(rep_name):
    """The card's note on a raw-constituent serving_default."""
    from preprocessing.representations import graph

    note = "raw constituents (E, px, py, pz) and their count; the representation is built in the graph"
    if rep_name in graph.EVENT_LEVEL:
        return note + (
            "; two rows per event, its two leading jets (rows 2k and 2k + 1, either order); event k's outputs "
            "are on row 2k, row 2k + 1 is NaN"
        )
    if rep_name in graph.FLAGGING_BUILDERS:
        return note + "; jets the representation drops (see its module) get NaN outputs"
    return note


def _nan_where_dropped(outputs, kept):
    """`outputs` {name: (jets, ...)} with every floating value of a jet whose `kept` (jets,) is False set to NaN."""
    import tensorflow as tf

    out = {}
    for name, value in outputs.items():
        if value.dtype.is_floating:
            shape = tf.concat([tf.shape(kept), tf.ones([tf.rank(value) - 1], tf.int32)], axis=0)
            value = tf.where(tf.reshape(kept, shape), value, tf.constant(float("nan"), value.dtype))
        out[name] = value
    return out


def export_tagger(model, input_shapes, model_dir, card, write_extras=None, warmup=None):
    """Export `model` as the next version under `model_dir`; returns the version's path.

    Args:
        model: a models.base.Tagger.
        input_shapes: {input name: per-row shape}, in the order of the serving inputs.
        model_dir: <base>/<model name>.
        card: the ModelCard, written to assets.extra/model_card.json with the version filled in.
        write_extras: optional callable(folder) writing more files (figures) into assets.extra.
        warmup: optional JetSample of a few held-out jets for assets.extra/tf_serving_warmup_requests;
            by default they are read back from the card's data files and test split when possible.
    """
    import keras
    import tensorflow as tf

    from preprocessing.representations import graph

    model_dir = pathlib.Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    names = list(input_shapes)
    specs = [tf.TensorSpec((None,) + tuple(shape), tf.float32, name=name) for name, shape in input_shapes.items()]

    def _inputs(args):
        return args[0] if len(args) == 1 else dict(zip(names, args))

    def _outputs(inputs):
        scores = model.anomaly_scores(inputs)
        return {"anomaly_score": scores[model.default_score], **scores, **model.extra_outputs(inputs)}

    def serve(*args):
        return _outputs(_inputs(args))

    raw, why_not = raw_constituent_inputs(card, input_shapes)
    rep_name, rep_params = card.representation_name, card.representation.get("params")

    def serve_constituents(constituents, n_constituents):
        built = graph.build(rep_name, constituents, n_constituents, rep_params)  # {input name: (jets, ...)}
        out = _outputs(built[names[0]] if len(names) == 1 else {n: built[n] for n in names})
        return _nan_where_dropped(out, built[graph.KEPT]) if graph.KEPT in built else out

    raw_specs = [
        tf.TensorSpec((None, None, 4), tf.float32, name=graph.CONSTITUENTS),
        tf.TensorSpec((None,), tf.int32, name=graph.COUNTS),
    ]
    archive = keras.export.ExportArchive()
    archive.track(model)
    if raw:
        archive.add_endpoint(name="serving_default", fn=serve_constituents, input_signature=raw_specs)
    else:
        archive.add_endpoint(name="serving_default", fn=serve, input_signature=specs)
    archive.add_endpoint(name=REPRESENTATION_SIGNATURE, fn=serve, input_signature=specs)
    if model.has_latent:
        archive.add_endpoint(name="encode", fn=lambda *args: model.latent(_inputs(args)), input_signature=specs)
    extra = model.extra_signatures()  # model-specific signatures (e.g. the VRNN's event score)
    for name, (fn, signature) in extra.items():
        archive.add_endpoint(name=name, fn=fn, input_signature=signature)
    reconstructs = model.has_reconstruction  # for the EMD score, which is not a TF op
    if reconstructs:
        archive.add_endpoint(
            name="reconstruction",
            fn=lambda *args: {"reconstruction": model.reconstruction(_inputs(args))},
            input_signature=specs,
        )
        card.scorer_scores = sorted({*card.scorer_scores, "emd"})
    card.representation = {
        **card.representation,
        "serving": {
            "serving_default": "constituents" if raw else REPRESENTATION_SIGNATURE,
            "signatures": {
                "serving_default": [graph.CONSTITUENTS, graph.COUNTS] if raw else names,
                REPRESENTATION_SIGNATURE: names,
                **({"encode": names} if model.has_latent else {}),
                **{name: [spec.name for spec in signature] for name, (_, signature) in extra.items()},
                **({"reconstruction": names} if reconstructs else {}),
            },
            "note": _raw_note(rep_name) if raw else why_not,
        },
    }

    tmp = model_dir / f".tmp-{os.getpid()}-{id(archive):x}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archive.write_out(str(tmp), verbose=False)
        version = _next_version(model_dir)
        card.version = version
        card.write(tmp)
        # event-level raw requests need whole events (pairs of rows); the warmup sizes 1, 2, 8 are jets
        _write_warmup(tmp, model_dir.name, card, None if raw and rep_name in graph.EVENT_LEVEL else warmup, raw)
        if write_extras is not None:
            write_extras(tmp / CARD_PATH.parent)
        while True:  # claim a version by renaming into it; another export may have taken it first
            final = model_dir / str(version)
            try:
                os.rename(tmp, final)
                break
            except OSError as err:
                if err.errno not in _TAKEN:
                    raise
            version = _next_version(model_dir, after=version)
            card.version = version
            card.write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_warmup(folder, model_name, card, sample, raw):
    """assets.extra/tf_serving_warmup_requests from `sample` or the card's held-out jets; skipped with a note."""
    from training import warmup

    try:
        if sample is None:
            sample = warmup.held_out_jets(card)
        if sample is None:
            return None
        return warmup.write_warmup(folder, model_name, card, sample, raw)
    except DataError as err:  # warmup is an optimisation of the real server; never fail an export for it
        print(f"note: no warmup requests written ({err})", file=sys.stderr)
        return None


def resolve_version(path):
    """A version folder: `path` itself if it holds saved_model.pb, else its newest integer version."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    found = versions(path)
    if not found:
        raise DataError(f"{path}: neither a SavedModel (no saved_model.pb) nor a folder of integer versions")
    return path / str(found[-1])


def load_tagger(path):
    """(representation-level serving function, ModelCard, version folder, loaded object); clear errors otherwise.

    The function takes the model's named inputs (the ``representation`` signature, or
    ``serving_default`` of older exports); ``loaded.signatures["serving_default"]`` is the default
    signature, raw constituents for jet-image models.
    """
    import tensorflow as tf

    folder = resolve_version(path)
    card = ModelCard.read(folder)
    try:
        loaded = tf.saved_model.load(str(folder))
    except (OSError, ValueError, tf.errors.OpError) as err:
        raise DataError(f"{folder}: cannot load SavedModel ({err})") from None
    if "serving_default" not in loaded.signatures:
        raise DataError(f"{folder}: SavedModel has no 'serving_default' signature (has {sorted(loaded.signatures)})")
    # the representation-level signature: exports before the raw-constituent default had it as serving_default
    name = REPRESENTATION_SIGNATURE if REPRESENTATION_SIGNATURE in loaded.signatures else "serving_default"
    fn = loaded.signatures[name]
    if "anomaly_score" not in fn.structured_outputs:
        raise DataError(f"{folder}: {name!r} has no 'anomaly_score' output (has {sorted(fn.structured_outputs)})")
    return fn, card, folder, loaded
