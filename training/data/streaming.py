"""The streamed path of ``fit`` for samples larger than ``--memory-budget``.

    inputs = load_streamed(settings, paths, footprint, budget, folder)   # training.data.inputs.Inputs on disk

The sample files are read in chunks of jets (``training.data.sample_chunks``), the representation is
built chunk by chunk with the same numpy builders as in memory and its rows are written to an
on-disk cache in sample order (``training.data.row_cache``, a temporary folder renamed when complete).
``Inputs.arrays`` then holds ``CachedArray`` objects instead of arrays: ``Inputs.model_inputs(rows)``
gives lazy ``RowsView`` objects, which training and validation read batch by batch
(``training.data.batches``), and evaluation, calibration and the model card read in consecutive slices
(``models.base.batched``, ``chunks``). The split is the in-memory one: it needs only the rows'
event ids, which are held whole (with the labels and jet masses: a few bytes per jet).

What can stream: representations with one row per jet of the sample (every jet-level one but
``vrnn``, which drops jets); models without outlier exposure or mass augmentation, whose input
scalers can be fitted chunk by chunk (``Tagger.fit_scaler_in_chunks``). Anything else is a clear
error that says how much memory the in-memory path needs.
"""

import atexit
import shutil
import sys

import numpy as np

from preprocessing.errors import DataError
from training.data import memory
from training.data.training_arrays import OUTLIERS

CHUNK_SHARE = 4  # a chunk of jets being built takes at most budget / CHUNK_SHARE
MIN_CHUNK, MAX_CHUNK = 64, 65536


def chunk_rows(budget, width, row_bytes):
    """Jets per chunk: the chunk's constituents, the builders' float64 work arrays (about 8 per
    particle coordinate) and the built rows within budget / CHUNK_SHARE."""
    per_jet = width * 4 * (4 + 8 * 8) + 2 * row_bytes
    return int(np.clip(budget // CHUNK_SHARE // max(per_jet, 1), MIN_CHUNK, MAX_CHUNK))


def streamable(settings):
    """None if `settings` can train on streamed rows, else the reason why not."""
    from preprocessing.representations import record, registry

    rep = registry.get(settings.representation)
    if rep.rows is not record._jet_rows:
        return (
            f"representation {settings.representation!r} does not have one row per jet of the sample "
            f"({rep.row_level} rows), so its rows cannot be built chunk by chunk"
        )
    if OUTLIERS in settings.spec.training_arrays:
        return f"model {settings.name!r} pairs every training row with an outlier jet held in memory"
    if settings.config.get("decorrelate") == "augment":
        return f"model {settings.name!r} augments the training rows in memory (decorrelate='augment')"
    return None


def refuse(settings, budget, footprint, reason):
    raise DataError(
        f"--memory-budget {memory.format_size(budget)}: the in-memory path needs about {footprint.describe()}, "
        f"more than the budget, and the streamed path cannot take this run: {reason}; "
        f"give a --memory-budget above {memory.format_size(footprint.total)} or fewer jets (--n-jets)"
    )


def load_streamed(settings, paths, footprint, budget, folder, n_jets=None, seed=0, keep=False, workers=None):
    """training.data.inputs.Inputs of `paths` in `settings.representation`, rows cached on disk in `folder`.

    Args:
        footprint, budget: the estimate that sent the run here and the budget (bytes), for messages
            and the chunk size.
        folder: where the row cache goes (created; removed when the process exits unless `keep`).
        n_jets, seed: a seeded random subset of the jets, as ``datasets.load``.
    """
    from preprocessing import representations
    from training.data.inputs import Inputs, input_names
    from training.data.row_cache import RowCache
    from training.data.sample_chunks import ChunkedSample
    from training.data.training_arrays import training_arrays

    reason = streamable(settings)
    if reason:
        refuse(settings, budget, footprint, reason)
    source = ", ".join(str(p) for p in paths)
    params = representations.resolve_params(settings.representation)
    shapes = representations.input_shapes(settings.representation)
    row_bytes = sum(int(np.prod(s, dtype=np.int64)) * 4 for s in shapes.values())
    per_chunk = chunk_rows(budget, footprint.width, row_bytes)
    sample = ChunkedSample(paths, n_jets=n_jets, seed=seed, window=per_chunk)
    print(
        f"memory: the in-memory path needs about {footprint.describe()}, over --memory-budget "
        f"{memory.format_size(budget)}; streaming: {settings.representation} built {per_chunk} jets at a time "
        f"into {folder}",
        file=sys.stderr,
    )
    if not keep:  # also when the run fails before fit's own clean-up
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    writer = None
    try:
        for rows, chunk in sample.chunks(per_chunk):
            built = representations.build(
                settings.representation, chunk, params, source=f"{source} (jets {rows.start}..)"
            )
            if writer is None:
                names = input_names(settings, built)
                layout = {name: (built[name].shape[1:], built[name].dtype) for name in names}
                writer = RowCache.writer(folder, layout, len(sample))
            writer.append({name: built[name] for name in writer.layout})
            del built, chunk
        if writer is None:
            raise DataError(f"{source}: no jets")
        cache = writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    names = input_names(settings, cache.arrays)
    skeleton = sample.skeleton()
    event, labels = representations.rows(settings.representation, skeleton, source=source)
    jet_shapes = {name: tuple(cache.arrays[name].shape[1:]) for name in names}
    training, outliers = training_arrays(settings, skeleton, names, jet_shapes, source, workers)
    mass = skeleton.jets.get("mass")
    return Inputs(
        dict(cache.arrays),
        names,
        event,
        labels,
        list(sample.label_names),
        "jets",
        settings.representation,
        [str(p) for p in paths],
        sample.provenance,
        training,
        outliers,
        None if mass is None else np.asarray(mass, np.float32),
        cache=cache,
        reader=sample,
    )


def chunks(x, rows_per_chunk=4096):
    """Consecutive slices of `x` (an array, a RowsView or a dict of them) as numpy arrays."""
    from models.base import n_rows

    n = n_rows(x)
    for start in range(0, n, rows_per_chunk):
        piece = slice(start, start + rows_per_chunk)
        yield {k: v[piece] for k, v in x.items()} if isinstance(x, dict) else x[piece]


def fit_representation(name, train):
    """``representations.fit(name, train inputs)`` with the training rows read in chunks.

    Exact for the representations whose fitted parameters are sums over rows (the standard scaler
    of ``constituents``: mean and standard deviation over the unmasked entries,
    ``models.base.moments_in_chunks``); others with fitted parameters are a DataError.
    """
    from models.base import moments_in_chunks, standard_scale
    from preprocessing.representations import registry
    from preprocessing.representations.scalers import FeatureScaler

    if registry.get(name).fit is None:
        return {}
    if name != "constituents":
        raise DataError(f"representation {name!r}: its fitted parameters cannot be computed chunk by chunk")

    def entries(piece):
        x = np.asarray(piece["constituents"], np.float64)
        mask = np.asarray(piece["constituent_mask"]) > 0
        return x.reshape(-1, x.shape[-1])[mask.reshape(-1)]  # the unmasked constituents

    count, mean, variance = moments_in_chunks(lambda: chunks(train), entries)
    scale = standard_scale(mean, variance, count)
    return {"scaler": FeatureScaler("standard", mean, scale, count).to_dict()}
