"""The gRPC API answers the official tensorflow_serving.apis stubs like tensorflow_model_server."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from preprocessing.representations import jet_image


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel), model_service_pb2_grpc.ModelServiceStub(channel)
    channel.close()


def _predict_request(jets, rows, version=None, signature="", output_filter=()):
    n = int(jets.n_constituents[rows].max())
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "dvae"
    if signature:
        req.model_spec.signature_name = signature
    if version is not None:
        req.model_spec.version.value = version
    req.inputs["constituents"].CopyFrom(tf.make_tensor_proto(jets.constituents[rows, :n].astype(np.float32)))
    req.inputs["n_constituents"].CopyFrom(tf.make_tensor_proto(jets.n_constituents[rows].astype(np.int32)))
    req.output_filter.extend(output_filter)
    return req


def test_predict_with_output_filter_matches_the_offline_path(stubs, exported, jets):
    predict, _ = stubs
    _, model = exported
    rows = np.array([2, 3, 50, 60])
    response = predict.Predict(
        _predict_request(jets, rows, version=1, output_filter=["anomaly_score", "kl"]), timeout=30
    )
    assert set(response.outputs) == {"anomaly_score", "kl"}
    assert response.model_spec.name == "dvae" and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    images = jet_image.jet_images(jets.constituents[rows], jets.n_constituents[rows])
    want = model.anomaly_scores(images)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["anomaly_score"]), want["mixture_weight"], atol=1e-5)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["kl"]), want["kl"], atol=1e-4)
    full = predict.Predict(_predict_request(jets, rows), timeout=30)
    assert {"anomaly_score", "mixture_weight", "reconstruction", "kl"} <= set(full.outputs)
    assert full.model_spec.version.value == 2  # newest without a version


@pytest.mark.parametrize(
    "change, code, words",
    [
        (lambda r: setattr(r.model_spec, "name", "nope"), grpc.StatusCode.NOT_FOUND, "Latest(nope)"),
        (lambda r: r.model_spec.version.__setattr__("value", 9), grpc.StatusCode.NOT_FOUND, "Specific(dvae, 9)"),
        (
            lambda r: setattr(r.model_spec, "signature_name", "nope"),
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        (lambda r: r.output_filter.append("nope"), grpc.StatusCode.INVALID_ARGUMENT, "nope"),
        (lambda r: r.inputs.pop("n_constituents"), grpc.StatusCode.INVALID_ARGUMENT, "n_constituents"),
        (
            lambda r: r.inputs["n_constituents"].CopyFrom(tf.make_tensor_proto(np.array([0, 3], np.int32))),
            grpc.StatusCode.INVALID_ARGUMENT,
            "no constituents",
        ),
        (
            lambda r: r.inputs["n_constituents"].CopyFrom(tf.make_tensor_proto(np.array([1, 3], np.int64))),
            grpc.StatusCode.INVALID_ARGUMENT,
            "int32",
        ),
        (
            lambda r: r.inputs["constituents"].CopyFrom(tf.make_tensor_proto(np.full((2, 3, 4), np.nan, np.float32))),
            grpc.StatusCode.INVALID_ARGUMENT,
            "NaN",
        ),
    ],
)
def test_predict_errors_have_tf_serving_codes(stubs, jets, change, code, words):
    """servables/tensorflow/predict_util.cc (RunPredict: an unknown signature is FAILED_PRECONDITION;
    PreProcessPrediction: an unknown output alias is INVALID_ARGUMENT) and model_servers/server_core.cc
    (a version that is not loaded is NOT_FOUND)."""
    predict, _ = stubs
    req = _predict_request(jets, np.array([0, 1]))
    change(req)
    with pytest.raises(grpc.RpcError) as err:
        predict.Predict(req, timeout=30)
    assert err.value.code() == code and words in err.value.details(), err.value.details()


def test_get_model_metadata_packs_a_signature_def_map(stubs):
    predict, _ = stubs
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = "dvae"
    req.metadata_field.append("signature_def")
    response = predict.GetModelMetadata(req, timeout=30)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(sig_map)
    default = sig_map.signature_def["serving_default"]
    assert default.inputs["constituents"].dtype == tf.float32.as_datatype_enum
    assert [d.size for d in default.inputs["constituents"].tensor_shape.dim] == [-1, -1, 4]
    assert "anomaly_score" in default.outputs and response.model_spec.version.value == 2
    req.metadata_field[:] = ["other"]
    with pytest.raises(grpc.RpcError) as err:
        predict.GetModelMetadata(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_get_model_status(stubs):
    _, models = stubs
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = "dvae"
    response = models.GetModelStatus(req, timeout=30)
    assert sorted(s.version for s in response.model_version_status) == [1, 2]
    assert all(s.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE for s in response.model_version_status)
    req.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as err:
        models.GetModelStatus(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_metadata_lists_the_init_op_signature_too(stubs, server):
    """servables/tensorflow/get_model_metadata_impl.cc copies every SignatureDef of the MetaGraphDef,
    __saved_model_init_op included; REST shows the same map."""
    import json
    import urllib.request

    predict, _ = stubs
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = "dvae"
    req.metadata_field.append("signature_def")
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    predict.GetModelMetadata(req, timeout=30).metadata["signature_def"].Unpack(sig_map)
    assert "__saved_model_init_op" in sig_map.signature_def and "serving_default" in sig_map.signature_def
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/dvae/metadata"
    with urllib.request.urlopen(url, timeout=30) as resp:
        rest = json.loads(resp.read())["metadata"]["signature_def"]["signature_def"]
    assert set(rest) == set(sig_map.signature_def)
    req.metadata_field[:] = []
    with pytest.raises(grpc.RpcError) as err:
        predict.GetModelMetadata(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "at least one metadata_field" in err.value.details()


def test_an_empty_batch_is_answered_with_empty_outputs(stubs):
    """servables/tensorflow/predict_util.cc runs the session on whatever batch it is given, 0 rows included
    (no batch-size check before Session::Run): the answer has 0 rows of every output, with its other
    dimensions, on the raw-constituent and the image-level signature alike."""
    predict, _ = stubs
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "dvae"
    req.inputs["constituents"].CopyFrom(tf.make_tensor_proto(np.zeros((0, 5, 4), np.float32)))
    req.inputs["n_constituents"].CopyFrom(tf.make_tensor_proto(np.zeros((0,), np.int32)))
    response = predict.Predict(req, timeout=30)
    assert {"anomaly_score", "kl"} <= set(response.outputs)
    assert all(tf.make_ndarray(v).shape == (0,) for v in response.outputs.values())
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "dvae"
    req.model_spec.signature_name = "encode"
    req.inputs["jet_image"].CopyFrom(tf.make_tensor_proto(np.zeros((0, 40, 40), np.float32)))
    response = predict.Predict(req, timeout=30)
    assert tf.make_ndarray(response.outputs["mixture_weights"]).shape == (0, 2)
    req.inputs["jet_image"].CopyFrom(tf.make_tensor_proto(np.zeros((0, 40, 41), np.float32)))
    with pytest.raises(grpc.RpcError) as err:  # the other dimensions are still checked
        predict.Predict(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_tensor_declaring_more_than_its_payload_is_refused_before_allocation(stubs):
    """Tensor::FromProto in TensorFlow (which tensorflow_model_server uses) fills a typed field's missing
    values with the last one; here the declared size is checked first: shape (1e9, 100, 4) with one
    float is INVALID_ARGUMENT at once, and tensor_content must match the shape exactly."""
    import time

    from tensorflow.core.framework import tensor_pb2

    predict, _ = stubs
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "dvae"
    huge = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum)
    for d in (1_000_000_000, 100, 4):
        huge.tensor_shape.dim.add().size = d
    huge.float_val.append(1.0)
    req.inputs["constituents"].CopyFrom(huge)
    req.inputs["n_constituents"].CopyFrom(tf.make_tensor_proto(np.ones((2,), np.int32)))
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        predict.Predict(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "declares shape [1000000000, 100, 4]" in err.value.details()
    assert time.monotonic() - start < 5
    short = tf.make_tensor_proto(np.ones((2, 3, 4), np.float32))
    short.tensor_content = short.tensor_content[:-4]
    req.inputs["constituents"].CopyFrom(short)
    with pytest.raises(grpc.RpcError) as err:
        predict.Predict(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "tensor_content has 92 bytes" in err.value.details()
