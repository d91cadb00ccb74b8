"""Warmup requests: ``assets.extra/tf_serving_warmup_requests`` in a version folder.

A TFRecord of serialized ``PredictionLog`` records (TF Serving reads at most 1000), each a
``serving_default`` ``PredictRequest`` holding a few real held-out jets (1, 2 and 8 rows), so
that ``tensorflow_model_server --enable_model_warmup`` (and ``python -m serving
--enable_model_warmup``) runs the graph once per shape before the version takes traffic.

The file is part of an export: ``training.export`` writes it, and the server reads it back
(``serving.warmup.replay``), so its format lives here, below both.
"""

import pathlib

import numpy as np

from preprocessing.errors import DataError

WARMUP_PATH = pathlib.Path("assets.extra") / "tf_serving_warmup_requests"
SIZES = (1, 2, 8)


def held_out_jets(card, n=8):
    """The first `n` jets of the card's test split, read back from its data files; None if unknown.

    The rows are rebuilt as ``training.fit`` chose them: the same files, the same seeded subset of
    ``n_train + n_validation + n_test`` rows and the same split by event.
    """
    from training.data.datasets import load, split

    data = card.data or {}
    files = data.get("files")
    if not files or not all(pathlib.Path(f).is_file() for f in files) or card.row_level != "jet":
        return None
    total = sum(int(data.get(k, 0)) for k in ("n_train", "n_validation", "n_test"))
    seed = int((card.training or {}).get("seed", 0))
    sample = load(files, n_jets=total or None, seed=seed)
    test = split(sample.event, seed=seed)[2]
    if len(test) == 0:
        return None
    return sample.subset(test[:n])


def requests(model_name, card, sample, raw):
    """[PredictRequest] for serving_default: raw constituents if `raw`, else the card's representation."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from preprocessing import representations
    from preprocessing.representations import graph

    out = []
    for size in SIZES:
        part = sample.subset(np.arange(min(size, len(sample))))
        if raw:
            counts = np.asarray(part.n_constituents, np.int32)
            feed = {
                graph.CONSTITUENTS: np.asarray(part.constituents[:, : max(1, counts.max())], np.float32),
                graph.COUNTS: counts,
            }
        else:
            rep = card.representation
            feed = representations.build(rep["name"], part, rep.get("params"), source="warmup jets")
            feed = {k: np.asarray(feed[k], np.float32) for k in card.inputs}
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = "serving_default"
        for k, v in feed.items():
            request.inputs[k].CopyFrom(tf.make_tensor_proto(v))
        out.append(request)
    return out


def write_warmup(folder, model_name, card, sample, raw):
    """Write the warmup TFRecord into version folder `folder`; returns its path."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    if len(sample) == 0:
        raise DataError("no jets for warmup requests")
    path = pathlib.Path(folder) / WARMUP_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests(model_name, card, sample, raw):
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def read_warmup(folder):
    """[PredictRequest] of a version folder's warmup file ([] without one)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = pathlib.Path(folder) / WARMUP_PATH
    if not path.is_file():
        return []
    out = []
    for record in tf.data.TFRecordDataset(str(path)).take(1000):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        if log.WhichOneof("log_type") == "predict_log":
            out.append(log.predict_log.request)
    return out
