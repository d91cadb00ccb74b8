"""Serving errors with TF Serving's canonical codes (``tensorflow/core/protobuf/error_codes.proto``).

The REST API answers ``{"error": message}`` with the HTTP status TF Serving maps the code to
(``tensorflow_serving/model_servers/http_server.cc`` → ``ToHTTPStatusCode``); gRPC aborts
with the same code.
"""

# code name -> (HTTP status, grpc.StatusCode name)
CODES = {
    "OK": (200, "OK"),
    "CANCELLED": (499, "CANCELLED"),
    "UNKNOWN": (500, "UNKNOWN"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT"),
    "DEADLINE_EXCEEDED": (504, "DEADLINE_EXCEEDED"),  # ToHTTPStatusCode: GATEWAY_TO, not 408
    "NOT_FOUND": (404, "NOT_FOUND"),
    "ALREADY_EXISTS": (409, "ALREADY_EXISTS"),
    "PERMISSION_DENIED": (403, "PERMISSION_DENIED"),
    "RESOURCE_EXHAUSTED": (429, "RESOURCE_EXHAUSTED"),
    "FAILED_PRECONDITION": (400, "FAILED_PRECONDITION"),
    "ABORTED": (409, "ABORTED"),
    "OUT_OF_RANGE": (400, "OUT_OF_RANGE"),
    "UNIMPLEMENTED": (501, "UNIMPLEMENTED"),
    "INTERNAL": (500, "INTERNAL"),
    "UNAVAILABLE": (503, "UNAVAILABLE"),
    "DATA_LOSS": (500, "DATA_LOSS"),
    "UNAUTHENTICATED": (401, "UNAUTHENTICATED"),
}


class ServingError(Exception):
    """A failed request or load: `code` is a key of CODES, `message` what the client reads."""

    def __init__(self, code, message):
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self):
        return CODES[self.code][0]

    @property
    def grpc_code(self):
        import grpc

        return getattr(grpc.StatusCode, CODES[self.code][1])

    @property
    def tf_code(self):
        """The integer of ``tensorflow.error.Code`` (for StatusProto.error_code)."""
        from tensorflow.core.protobuf import error_codes_pb2

        return error_codes_pb2.Code.Value(self.code)


def invalid(message):
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message):
    return ServingError("NOT_FOUND", message)


def from_exception(err):
    """A ServingError for any exception raised while running a graph or loading a model."""
    import tensorflow as tf

    if isinstance(err, ServingError):
        return err
    if isinstance(err, tf.errors.OpError):
        name = {
            tf.errors.InvalidArgumentError: "INVALID_ARGUMENT",
            tf.errors.NotFoundError: "NOT_FOUND",
            tf.errors.UnimplementedError: "UNIMPLEMENTED",
            tf.errors.UnavailableError: "UNAVAILABLE",
            tf.errors.ResourceExhaustedError: "RESOURCE_EXHAUSTED",
            tf.errors.FailedPreconditionError: "FAILED_PRECONDITION",
            tf.errors.OutOfRangeError: "OUT_OF_RANGE",
            tf.errors.DeadlineExceededError: "DEADLINE_EXCEEDED",
        }.get(type(err), "INTERNAL")
        return ServingError(name, _first_line(err.message))
    if isinstance(err, (TypeError, ValueError)):
        return ServingError("INVALID_ARGUMENT", f"{type(err).__name__}: {err}")
    return ServingError("INTERNAL", f"{type(err).__name__}: {err}")


def _first_line(message):
    """The assertion or op message without the graph's stack trace that TF appends."""
    lines = [ln for ln in str(message).splitlines() if ln.strip()]
    keep = [
        ln for ln in lines if not ln.lstrip().startswith(("[[", "File ", "Graph execution error", "Detected at node"))
    ]
    text = (" ".join(keep[:3]) if keep else str(message)).replace("<stack traces unavailable>", "")
    return text.strip()
