"""A small client of TF Serving's APIs (or ``python -m serving``): raw jets in, scores out.

    from serving.client import score
    scores = score(constituents, counts, model="dvae", url="http://127.0.0.1:8501")      # REST
    scores = score(constituents, counts, model="dvae", target="127.0.0.1:8500")          # gRPC

``constituents`` is (jets, particles, 4) as (E, px, py, pz) in GeV, zero padded, ``counts`` the
real constituents per jet; the model's ``serving_default`` builds the representation itself.
Returns {output name: (jets,) array}. A request the server refuses raises ``ClientError`` with
its status and message. ``RestClient`` and ``GrpcClient`` keep one connection open for many
calls; ``prepared`` encodes a request once and sends it on every call (what the benchmark uses).
The gRPC client sends ``tensor_content`` (raw bytes, as ``tf.make_tensor_proto`` does) and reads
outputs in either encoding.

An address that cannot be one (no ``http://``, a port outside 1..65535) is a ValueError naming it;
a server that cannot be reached is a ``ClientError`` with status UNAVAILABLE (connection refused,
or a port that does not speak the protocol: the REST client on a gRPC port, and the reverse) or
DEADLINE_EXCEEDED (nothing answered within the timeout), naming the address and the reason.
"""

import http.client
import json
import urllib.parse

import numpy as np

from preprocessing.representations.graph import CONSTITUENTS, COUNTS


class ClientError(Exception):
    """A refused request: `status` is the HTTP status or the gRPC status code name."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def _feed(constituents, counts):
    constituents = np.asarray(constituents, np.float32)
    counts = np.asarray(counts, np.int32)
    if constituents.ndim != 3 or constituents.shape[-1] != 4:
        raise ValueError(f"constituents must be (jets, particles, 4), got {constituents.shape}")
    if counts.shape != constituents.shape[:1]:
        raise ValueError(f"counts must be ({len(constituents)},), got {counts.shape}")
    if len(counts):  # no need to send padding that no jet uses
        constituents = constituents[:, : max(1, int(counts.max()))]
    return {CONSTITUENTS: constituents, COUNTS: counts}


def _port(text, where):
    """The port number in `text` (1..65535); ValueError naming `where` otherwise."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{where}: the port must be a number in 1..65535, got {text!r}")
    return int(text)


def _rest_address(url):
    """(host, port) of an http://HOST[:PORT] URL; ValueError naming the URL otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"url {url!r}: expected http://HOST:PORT (e.g. http://127.0.0.1:8501)")
    after_host = parts.netloc.rpartition("]")[2]  # past an IPv6 address in brackets
    port = after_host.rpartition(":")[2] if ":" in after_host else "80"
    return parts.hostname, _port(port, f"url {url!r}")


def _grpc_target(target):
    """`target` checked: HOST:PORT with a port gRPC will not wrap (it reads 99999 as 34463)."""
    if "://" in target or target.startswith("unix:"):
        return target  # a gRPC name (dns:///..., unix:...): gRPC checks it
    host, colon, port = target.rpartition(":")
    if not colon or not host:
        raise ValueError(f"target {target!r}: expected HOST:PORT (e.g. 127.0.0.1:8500)")
    _port(port, f"target {target!r}")
    return target


def _unreachable(where, err, timeout):
    """ClientError for a server at `where` that could not be reached (`err` from the connection)."""
    if isinstance(err, ConnectionRefusedError):
        why = "connection refused: nothing listens on this port (is the server running, and is this its port?)"
    elif isinstance(err, TimeoutError):
        return ClientError(
            "DEADLINE_EXCEEDED",
            f"{where}: no answer within {timeout:g} s (a busy server, or a port that is not this API's)",
        )
    elif isinstance(err, http.client.BadStatusLine):
        why = "the port does not answer HTTP/1.1; is it the gRPC port?"
    else:
        why = f"cannot connect ({getattr(err, 'strerror', None) or err})"
    return ClientError("UNAVAILABLE", f"{where}: {why}")


class RestClient:
    """One keep-alive HTTP connection to a REST API at `url` (e.g. http://127.0.0.1:8501)."""

    def __init__(self, url="http://127.0.0.1:8501", timeout=60.0):
        self.host, self.port = _rest_address(url)
        self.url = f"http://{self.host}:{self.port}"
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, data=None):
        """(status, decoded JSON) of one request (`body` as JSON, or `data` bytes already encoded);
        reconnects once if the connection was closed."""
        if data is None and body is not None:
            data = json.dumps(body).encode()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                headers = {"Content-Type": "application/json"} if data is not None else {}
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, json.loads(payload)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as err:
                self.close()
                if attempt:
                    raise ClientError(
                        "UNAVAILABLE", f"{self.url}: the server closed the connection without an answer ({err})"
                    ) from None
            except (OSError, http.client.HTTPException) as err:  # refused, timed out, not HTTP/1.1, unresolvable
                self.close()
                raise _unreachable(self.url, err, self.timeout) from None
        raise AssertionError("unreachable")

    @staticmethod
    def body(inputs, signature="serving_default"):
        """The JSON bytes of a columnar predict request; build it once to send the same jets many times."""
        body = {"signature_name": signature, "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}}
        return json.dumps(body).encode()

    def send(self, model, data, version=None):
        """{output name: array} of a predict request body (bytes); ClientError if refused."""
        path = f"/v1/models/{model}" + (f"/versions/{version}" if version is not None else "") + ":predict"
        status, out = self.request("POST", path, data=data)
        if status != 200:
            raise ClientError(status, out.get("error", out))
        outputs = out["outputs"]
        return {k: np.asarray(v, np.float32) for k, v in outputs.items()} if isinstance(outputs, dict) else outputs

    def predict(self, model, inputs, version=None, signature="serving_default"):
        return self.send(model, self.body(inputs, signature), version)

    def score(self, constituents, counts, model="dvae", version=None, signature="serving_default"):
        return self.predict(model, _feed(constituents, counts), version, signature)

    def prepared(self, constituents, counts, model="dvae", version=None, signature="serving_default"):
        """A function that scores these jets again on each call (the body is encoded once)."""
        data = self.body(_feed(constituents, counts), signature)
        return lambda: self.send(model, data, version)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class GrpcClient:
    """A gRPC channel to PredictionService at `target` (e.g. 127.0.0.1:8500), with the official stubs."""

    def __init__(self, target="127.0.0.1:8500", timeout=60.0):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.target = _grpc_target(target)
        self.channel = grpc.insecure_channel(
            target,
            options=[("grpc.max_receive_message_length", 512 << 20), ("grpc.max_send_message_length", 512 << 20)],
        )
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.timeout = timeout

    @staticmethod
    def request(model, inputs, version=None, signature="serving_default", output_filter=(), content=True):
        """A PredictRequest of {input name: array}: raw bytes in ``tensor_content`` (as
        ``tf.make_tensor_proto`` writes a numpy array), or typed fields (``float_val``, ...) with
        ``content=False``. Build it once to send the same jets many times (``send``)."""
        from tensorflow_serving.apis import predict_pb2

        from serving.tensors import tensor_proto

        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        if version is not None:
            request.model_spec.version.value = int(version)
        for k, v in inputs.items():
            tensor_proto(v, request.inputs[k], content=content)
        request.output_filter.extend(output_filter)
        return request

    def send(self, request):
        """{output name: array} of a PredictRequest; ClientError with the status if refused."""
        import grpc

        from serving.tensors import proto_array

        try:
            response = self.stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as err:
            details = err.details() or ""
            if err.code() == grpc.StatusCode.UNAVAILABLE and "Connection refused" in details:
                raise _unreachable(self.target, ConnectionRefusedError(), self.timeout) from None
            if err.code() == grpc.StatusCode.UNAVAILABLE and "Failed parsing HTTP/2" in details:
                why = "the port does not answer gRPC (HTTP/2); is it the REST port?"
                raise ClientError("UNAVAILABLE", f"{self.target}: {why}") from None
            if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise _unreachable(self.target, TimeoutError(), self.timeout) from None
            raise ClientError(err.code().name, details) from None
        # equal to tf.make_ndarray for tensor_content and typed fields alike (a test), without its per-value loop
        out = {k: proto_array(v, k) for k, v in response.outputs.items()}
        return {k: v if v.flags.writeable else v.copy() for k, v in out.items()}

    def predict(self, model, inputs, version=None, signature="serving_default", output_filter=()):
        return self.send(self.request(model, inputs, version, signature, output_filter))

    def score(self, constituents, counts, model="dvae", version=None, signature="serving_default"):
        return self.predict(model, _feed(constituents, counts), version, signature)

    def prepared(self, constituents, counts, model="dvae", version=None, signature="serving_default"):
        """A function that scores these jets again on each call (the request is built once)."""
        request = self.request(model, _feed(constituents, counts), version, signature)
        return lambda: self.send(request)

    def close(self):
        self.channel.close()


def score(
    constituents,
    counts,
    model="dvae",
    url=None,
    target=None,
    version=None,
    signature="serving_default",
    batch_size=1024,
    timeout=60.0,
):
    """Scores of raw jets from a server: over REST with `url`, over gRPC with `target` (exactly one).

    Returns:
        {output name: (jets,) array}, jets sent `batch_size` at a time.
    """
    if (url is None) == (target is None):
        raise ValueError("give exactly one of url (REST) or target (gRPC)")
    client = RestClient(url, timeout) if url is not None else GrpcClient(target, timeout)
    try:
        parts = [
            client.score(constituents[i : i + batch_size], counts[i : i + batch_size], model, version, signature)
            for i in range(0, len(counts), batch_size)
        ]
    finally:
        client.close()
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]} if parts else {}
