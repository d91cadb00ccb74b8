"""Export taggers as SavedModels in TF Serving's layout and load them back.

    <base>/<model>/<version>/saved_model.pb, variables/, assets.extra/model_card.json (+ figures)

A new export takes the next free integer version and never touches an existing one: it is
written to a hidden temporary folder (ignored by TF Serving, which only reads integer names)
and renamed into place when complete. The rename is what claims the version: renaming onto a
version folder that another export completed in the meantime fails (it is not empty), and the
export then takes the next free number, so concurrent exports into one folder all land, each
under its own version.

Signatures: ``serving_default`` maps the named model inputs (e.g. ``jet_image``, or ``points``
and ``mask``) to ``anomaly_score`` (the tagger's default score), every named score and the
model's extra outputs (e.g. class probabilities); ``encode`` maps them to the latent variables,
where the model has them.
"""

import errno
import os
import pathlib
import shutil

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


def export_tagger(model, input_shapes, model_dir, card, write_extras=None):
    """Export `model` as the next version under `model_dir`; returns the version's path.

    Args:
        model: a models.base.Tagger.
        input_shapes: {input name: per-row shape}, in the order of the serving inputs.
        model_dir: <base>/<model name>.
        card: the ModelCard, written to assets.extra/model_card.json with the version filled in.
        write_extras: optional callable(folder) writing more files (figures) into assets.extra.
    """
    import keras
    import tensorflow as tf

    model_dir = pathlib.Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    names = list(input_shapes)
    specs = [tf.TensorSpec((None,) + tuple(shape), tf.float32, name=name) for name, shape in input_shapes.items()]

    def _inputs(args):
        return args[0] if len(args) == 1 else dict(zip(names, args))

    def serve(*args):
        inputs = _inputs(args)
        scores = model.anomaly_scores(inputs)
        return {"anomaly_score": scores[model.default_score], **scores, **model.extra_outputs(inputs)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serving_default", fn=serve, input_signature=specs)
    if model.has_latent:
        archive.add_endpoint(name="encode", fn=lambda *args: model.latent(_inputs(args)), input_signature=specs)

    tmp = model_dir / f".tmp-{os.getpid()}-{id(archive):x}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archive.write_out(str(tmp), verbose=False)
        version = _next_version(model_dir)
        card.version = version
        card.write(tmp)
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
    """(serving function, ModelCard, version folder, loaded object) of an exported tagger; clear errors otherwise."""
    import tensorflow as tf

    folder = resolve_version(path)
    card = ModelCard.read(folder)
    try:
        loaded = tf.saved_model.load(str(folder))
    except (OSError, ValueError, tf.errors.OpError) as err:
        raise DataError(f"{folder}: cannot load SavedModel ({err})") from None
    if "serving_default" not in loaded.signatures:
        raise DataError(f"{folder}: SavedModel has no 'serving_default' signature (has {sorted(loaded.signatures)})")
    fn = loaded.signatures["serving_default"]
    if "anomaly_score" not in fn.structured_outputs:
        raise DataError(
            f"{folder}: 'serving_default' has no 'anomaly_score' output (has {sorted(fn.structured_outputs)})"
        )
    return fn, card, folder, loaded
