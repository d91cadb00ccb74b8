"""TF Serving's gRPC API with the official ``tensorflow_serving.apis`` protos over grpcio.

``PredictionService``: ``Predict`` (``model_spec`` name / version / signature_name, ``inputs``,
``output_filter``; ``version`` or ``version_label``) and ``GetModelMetadata`` (``metadata_field`` ``signature_def``: an ``Any``
holding a ``SignatureDefMap``); ``Classify``, ``Regress`` and ``MultiInference`` answer
UNIMPLEMENTED. An unknown signature is FAILED_PRECONDITION, as in ``predict_util.cc`` (over REST
it is INVALID_ARGUMENT, as in ``http_rest_api_handler.cc``). ``ModelService``: ``GetModelStatus`` and
``HandleReloadConfigRequest`` (a new ``ModelConfigList``: models, policies and labels; the config
file is also re-read with ``--model_config_file_poll_wait_seconds``).

Inputs may come as ``tensor_content`` bytes or typed fields (``float_val``, ``int_val``, ...);
outputs are written as typed fields, as ``tensorflow_model_server`` writes them
(``Tensor::AsProtoField``: ``ServerCore::Options::predict_response_tensor_serialization_option``
defaults to ``kAsProtoField``), so a client reading ``outputs[...].float_val`` works with both.
"""

import socket
from concurrent import futures

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import tensors
from serving.errors import ServingError, invalid
from serving.rest import signature_def_map

MAX_MESSAGE = 512 * 1024 * 1024


def _abort(context, err):
    context.abort(err.grpc_code, err.message)


def _version(spec):
    """(version or None, label or None) of a ModelSpec (``version_choice`` is a oneof: at most one is set)."""
    if spec.HasField("version"):
        return spec.version.value, None
    if spec.version_label:
        return None, spec.version_label
    return None, None


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, store):
        self.store = store

    def Predict(self, request, context):  # noqa: N802 (the proto's name)
        try:
            servable = self.store.servable(request.model_spec.name, *_version(request.model_spec))
            signature = servable.signature(request.model_spec.signature_name, protocol="grpc")
            arrays = tensors.proto_inputs(request.inputs, signature.input_specs)
            outputs = signature.run(arrays, output_filter=list(request.output_filter))
        except ServingError as err:
            return _abort(context, err)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = signature.name
        tensors.proto_outputs(outputs, response.outputs)
        return response

    def GetModelMetadata(self, request, context):  # noqa: N802
        try:
            # get_model_metadata_impl.cc: at least one field, and signature_def is the only one
            fields = list(request.metadata_field)
            if not fields:
                raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
            for field in fields:
                if field != "signature_def":
                    raise invalid(f"Metadata field {field} is not supported")
            servable = self.store.metadata_servable(request.model_spec.name, *_version(request.model_spec))
        except ServingError as err:
            return _abort(context, err)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = servable.version
        response.metadata["signature_def"].Pack(signature_def_map(servable))
        return response

    def Classify(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Classify is not supported; use Predict")

    def Regress(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Regress is not supported; use Predict")

    def MultiInference(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported; use Predict")


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, store):
        self.store = store

    def GetModelStatus(self, request, context):  # noqa: N802
        try:
            # get_model_status_impl.cc: a label is not resolved; without a version every version is listed
            found = self.store.status(request.model_spec.name, _version(request.model_spec)[0])
        except ServingError as err:
            return _abort(context, err)
        response = get_model_status_pb2.GetModelStatusResponse()
        for version, state, err in found:
            entry = response.model_version_status.add()
            entry.version = version
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(state)
            if err is not None:
                entry.status.error_code = err.tf_code
                entry.status.error_message = err.message
        return response

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        """Serve `request.config` from now on (model_service_impl.cc: only a ModelConfigList is accepted)."""
        from tensorflow_serving.apis import model_management_pb2

        from preprocessing.errors import DataError
        from serving.config import configs_from_proto

        try:
            if request.config.WhichOneof("config") != "model_config_list":
                raise invalid(
                    "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                    "Only ModelConfigList is currently supported"
                )
            try:
                configs = configs_from_proto(request.config, "ReloadConfigRequest")
                self.store.reconfigure(configs)
            except DataError as err:
                raise invalid(str(err)) from None
        except ServingError as err:
            return _abort(context, err)
        return model_management_pb2.ReloadConfigResponse()  # status: OK (error_code 0)


def serve_grpc(store, host="127.0.0.1", port=8500, workers=32):
    """A started grpc.Server; returns (server, bound port). A port in use is an OSError (EADDRINUSE)."""
    if port:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))  # grpcio reports a failed bind without the reason; a plain socket has it
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.so_reuseport", 0),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(store), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(store), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port} (in use?)")
    server.start()
    return server, bound
