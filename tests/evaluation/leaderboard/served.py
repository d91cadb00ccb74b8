"""Serve a bench run's models.config with ``python -m serving`` and score one jet (or event) per model over
REST and gRPC, against the loaded SavedModel (the pattern of tests/serving/test_serve.py)."""

import pathlib

import numpy as np

from tests.serving.server_process import start_serving

ROOT = pathlib.Path(__file__).parents[3]


def one_row_inputs(loaded, card, sample):
    """{input name: array} of the first row of `sample` for the export's serving_default."""
    from preprocessing import representations
    from preprocessing.representations import graph

    names = list(loaded.signatures["serving_default"].structured_input_signature[1])
    if set(names) == {graph.CONSTITUENTS, graph.COUNTS}:
        n = int(sample.n_constituents[0])
        return {
            graph.CONSTITUENTS: np.asarray(sample.constituents[:1, :n], np.float32),
            graph.COUNTS: np.asarray(sample.n_constituents[:1], np.int32),
        }
    built = representations.build(card.representation_name, sample, card.representation.get("params"))
    return {name: np.asarray(built[name][:1], np.float32) for name in names}


def score_every_model(out, samples):
    """{model: (REST anomaly_score, gRPC anomaly_score, SavedModel anomaly_score)} of one row per served model.

    Args:
        samples: callable(card) -> a JetSample whose first row (jet, or event of two jets) the model scores.
    """
    import tensorflow as tf

    from serving.client import GrpcClient, RestClient
    from serving.config import read_config_file
    from training.export import load_tagger

    configs = read_config_file(out / "models.config")
    proc, ready, _ = start_serving(
        ["--model_config_file", str(out / "models.config"), "--port", "0", "--rest_api_port", "0"]
    )
    try:
        assert sorted(ready["models"]) == sorted(c.name for c in configs)
        rest = RestClient(ready["rest"].split("/v1/")[0])
        grpc = GrpcClient(ready["grpc"])
        got = {}
        for c in configs:
            _, card, _, loaded = load_tagger(c.base_path)
            feed = one_row_inputs(loaded, card, samples(card))
            want = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in feed.items()})
            got[c.name] = (
                np.asarray(rest.predict(c.name, feed)["anomaly_score"]),
                np.asarray(grpc.predict(c.name, feed)["anomaly_score"]),
                want["anomaly_score"].numpy(),
            )
        rest.close()
        grpc.close()
        return got
    finally:
        proc.terminate()
        proc.wait(timeout=30)
