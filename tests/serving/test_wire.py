"""The gRPC wire format: TensorProtos decoded as TensorFlow decodes them, outputs filled as TF Serving fills them."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.errors import ServingError
from serving.tensors import proto_array, proto_inputs, tensor_proto

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.int16, np.int8, np.uint8, np.uint16, np.uint32, np.uint64]
# the typed field Tensor::AsProtoField writes for each dtype (tensorflow/core/framework/tensor.cc)
FIELD = {
    np.float32: "float_val",
    np.float64: "double_val",
    np.int32: "int_val",
    np.int64: "int64_val",
    np.int16: "int_val",
    np.int8: "int_val",
    np.uint8: "int_val",
    np.uint16: "int_val",
    np.uint32: "uint32_val",
    np.uint64: "uint64_val",
    np.bool_: "bool_val",
}


def _values(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind == "f":
        return (rng.standard_normal(shape) * 1e3).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("dtype", [*DTYPES, np.bool_])
@pytest.mark.parametrize("shape", [(3, 5, 4), (7,), (), (2, 0)])
def test_tensor_proto_round_trips_through_tf_make_ndarray_in_both_encodings(dtype, shape):
    value = _values(dtype, shape)
    fields = tensor_proto(value)
    assert fields.tensor_content == b"" and fields.dtype == tf.as_dtype(dtype).as_datatype_enum
    assert [d.size for d in fields.tensor_shape.dim] == list(shape)
    assert len(getattr(fields, FIELD[dtype])) == value.size  # AsProtoField: every value, typed
    content = tensor_proto(value, content=True)
    assert content.tensor_content == value.tobytes()
    if dtype in (np.float32, np.int32, np.float64, np.int64) and shape:  # what tf.make_tensor_proto packs as bytes
        assert content == tf.make_tensor_proto(value)  # what a TF client sends is what content=True writes
    for proto in (fields, content):
        official = tf.make_ndarray(proto)  # the decoder TF Serving clients use
        assert official.dtype == value.dtype and official.shape == value.shape
        np.testing.assert_array_equal(official, value)
        ours = proto_array(proto)
        assert ours.dtype == value.dtype and ours.shape == value.shape
        np.testing.assert_array_equal(ours, value)


@pytest.mark.parametrize("dtype", DTYPES)
def test_short_typed_fields_repeat_the_last_value_as_tensorflow_does(dtype):
    proto = tensor_pb2.TensorProto(dtype=tf.as_dtype(dtype).as_datatype_enum)
    for d in (2, 3):
        proto.tensor_shape.dim.add().size = d
    getattr(proto, FIELD[dtype]).extend([1, 2])
    np.testing.assert_array_equal(proto_array(proto), tf.make_ndarray(proto))
    np.testing.assert_array_equal(proto_array(proto), np.array([[1, 2, 2], [2, 2, 2]], dtype))
    del getattr(proto, FIELD[dtype])[:]
    np.testing.assert_array_equal(proto_array(proto), np.zeros((2, 3), dtype))  # no values: zeros


def test_malformed_protos_are_invalid_argument():
    proto = tf.make_tensor_proto(np.ones((2, 3), np.float32))
    proto.tensor_content = proto.tensor_content[:-4]
    with pytest.raises(ServingError) as err:
        proto_array(proto, "x")
    assert err.value.code == "INVALID_ARGUMENT" and "20 bytes" in err.value.message and "24" in err.value.message
    too_many = tensor_proto(np.ones(3, np.float32))
    too_many.float_val.append(1.0)
    with pytest.raises(ServingError, match="4 values for shape"):
        proto_array(too_many, "x")
    negative = tensor_proto(np.ones(3, np.float32))
    negative.tensor_shape.dim[0].size = -1
    with pytest.raises(ServingError, match="negative dimension"):
        proto_array(negative, "x")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "complex64", "complex128"])
def test_half_and_complex_fill_their_typed_fields(dtype):
    value = np.array([[1.5, -2.0, 0.25]], np.float32).astype(tf.as_dtype(dtype).as_numpy_dtype)
    if dtype.startswith("complex"):
        value = value + 1j * value[::-1]
    proto = tensor_proto(value)
    attr = {"float16": "half_val", "bfloat16": "half_val"}.get(
        dtype, "scomplex_val" if dtype == "complex64" else "dcomplex_val"
    )
    assert proto.tensor_content == b"" and len(getattr(proto, attr)) == value.size * (2 if "complex" in dtype else 1)
    for p in (proto, tensor_proto(value, content=True)):
        decoded = tf.make_ndarray(p)
        assert decoded.dtype == value.dtype
        np.testing.assert_array_equal(decoded, value)
        np.testing.assert_array_equal(proto_array(p), value)


def test_strings_use_string_val():
    value = np.array([b"a", b"bc"], object)
    proto = tensor_proto(value)
    assert list(proto.string_val) == [b"a", b"bc"] and proto == tf.make_tensor_proto(value)
    np.testing.assert_array_equal(proto_array(proto), value)


def test_proto_inputs_checks_values_and_shapes_from_either_encoding():
    specs = {"x": tf.TensorSpec((None, 4), tf.float32), "n": tf.TensorSpec((None,), tf.int32)}
    x = _values(np.float32, (5, 4))
    n = np.arange(5, dtype=np.int32)
    for content in (True, False):
        arrays = proto_inputs({"x": tensor_proto(x, content=content), "n": tensor_proto(n, content=content)}, specs)
        np.testing.assert_array_equal(arrays["x"], x)
        np.testing.assert_array_equal(arrays["n"], n)
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y[3, 1] = bad
            with pytest.raises(ServingError, match="NaN or infinite"):
                proto_inputs({"x": tensor_proto(y, content=content), "n": tensor_proto(n, content=content)}, specs)
        with pytest.raises(ServingError, match="expected shape"):
            proto_inputs({"x": tensor_proto(x[:, :3], content=content), "n": tensor_proto(n)}, specs)


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def _request(constituents, counts, content):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "dvae"
    request.model_spec.version.value = 1
    tensor_proto(constituents, request.inputs["constituents"], content=content)
    tensor_proto(counts, request.inputs["n_constituents"], content=content)
    return request


def test_float_val_and_tensor_content_requests_get_the_savedmodels_own_answer(stub, exported, jets):
    base, _ = exported
    rows = np.arange(0, 80, 3)
    n = int(jets.n_constituents[rows].max())
    constituents = np.asarray(jets.constituents[rows, :n], np.float32)
    counts = np.asarray(jets.n_constituents[rows], np.int32)
    by_content = stub.Predict(_request(constituents, counts, content=True), timeout=30)
    by_fields = stub.Predict(_request(constituents, counts, content=False), timeout=30)
    assert by_fields == by_content  # the same response, byte for byte
    loaded = tf.saved_model.load(str(base / "dvae" / "1"))
    want = loaded.signatures["serving_default"](
        constituents=tf.constant(constituents), n_constituents=tf.constant(counts)
    )
    assert set(by_content.outputs) == set(want)
    for name, proto in by_content.outputs.items():
        # as tensorflow_model_server fills outputs (AsProtoField): typed values, no tensor_content
        assert proto.tensor_content == b"" and len(proto.float_val) == len(rows)
        assert proto.dtype == types_pb2.DT_FLOAT and [d.size for d in proto.tensor_shape.dim] == [len(rows)]
        got = tf.make_ndarray(proto)  # the official client-side decoder
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want[name].numpy(), rtol=1e-6, atol=1e-7)


def test_grpc_client_sends_tensor_content_and_reads_typed_outputs(server, exported, jets):
    from serving.client import GrpcClient

    base, _ = exported
    rows = np.array([5, 6, 41])
    n = int(jets.n_constituents[rows].max())
    constituents = np.asarray(jets.constituents[rows, :n], np.float32)
    counts = np.asarray(jets.n_constituents[rows], np.int32)
    request = GrpcClient.request("dvae", {"constituents": constituents, "n_constituents": counts}, version=1)
    assert request.inputs["constituents"] == tf.make_tensor_proto(constituents)
    client = GrpcClient(f"127.0.0.1:{server.grpc_port}")
    try:
        send = client.prepared(constituents, counts, model="dvae", version=1)
        first, second = send(), send()
    finally:
        client.close()
    loaded = tf.saved_model.load(str(base / "dvae" / "1"))
    want = loaded.signatures["serving_default"](
        constituents=tf.constant(constituents), n_constituents=tf.constant(counts)
    )
    for name in want:
        np.testing.assert_allclose(first[name], want[name].numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(first[name], second[name])
        assert first[name].flags.writeable
