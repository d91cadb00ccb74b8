"""The local TF-Serving stand-in answers REST predict requests like the SavedModel itself."""

import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from training import serve
from training.export import load_tagger


def _request(port, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_rest_predict_matches_the_saved_model(fitted):
    base, _, _ = fitted  # two fitted dvae versions from test_fit_export's fixture
    server, thread = serve.start([base / "dvae"], port=0)
    port = server.server_port
    try:
        assert _request(port, "/v1/models/dvae")[1]["model_version_status"][0]["version"] == "2"
        meta = _request(port, "/v1/models/dvae/metadata")[1]["metadata"]["signature_def"]["serving_default"]
        assert meta["inputs"] == {"jet_image": {"shape": [None, 40, 40]}} and "anomaly_score" in meta["outputs"]
        images = np.random.default_rng(0).random((3, 40, 40)).astype(np.float32)
        images /= images.sum((1, 2), keepdims=True)
        fn, _, _, _ = load_tagger(base / "dvae" / "1")
        want = fn(jet_image=tf.constant(images))["anomaly_score"].numpy()
        code, rows = _request(port, "/v1/models/dvae/versions/1:predict", {"instances": images.tolist()})
        assert code == 200
        np.testing.assert_allclose([r["anomaly_score"] for r in rows["predictions"]], want, rtol=1e-5)
        code, cols = _request(port, "/v1/models/dvae/versions/1:predict", {"inputs": {"jet_image": images.tolist()}})
        np.testing.assert_allclose(cols["outputs"]["anomaly_score"], want, rtol=1e-5)
        assert _request(port, "/v1/models/nope:predict", {"instances": []})[0] == 404
        assert _request(port, "/v1/models/dvae/versions/9:predict", {"instances": []})[0] == 404
        code, err = _request(port, "/v1/models/dvae:predict", {"wrong": 1})
        assert code == 400 and "instances" in err["error"]
        assert _request(port, "/v1/models/dvae:predict", {"instances": [[1.0, 2.0]]})[0] == 400
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_serving_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(serve.DataError, match="no integer version"):
        serve.start([tmp_path], port=0)
