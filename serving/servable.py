"""One loaded SavedModel version: its signatures, their ``SignatureDef`` protos, and how to run them."""

import pathlib
import threading

import numpy as np

from serving.batching import Batcher
from serving.errors import ServingError, from_exception, invalid

PREDICT_METHOD = "tensorflow/serving/predict"


def read_signature_defs(folder):
    """{signature name: SignatureDef} of the SavedModel in `folder`, every one as TF Serving reports them.

    ``__saved_model_init_op`` is kept: ``get_model_metadata_impl.cc`` copies the whole
    ``signature_def`` map of the MetaGraphDef into the metadata, so clients see it there too.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(folder) / "saved_model.pb").read_bytes())
    defs = proto.meta_graphs[0].signature_def
    return {k: defs[k] for k in sorted(defs)}


class Signature:
    """A signature of a loaded SavedModel: checked inputs in, numpy outputs out, optionally batched."""

    def __init__(self, name, fn, batching=None):
        self.name = name
        self.fn = fn
        self.input_specs = dict(fn.structured_input_signature[1])
        self.output_specs = dict(fn.structured_outputs)
        batchable = all(s.shape.rank and s.shape[0] is None for s in self.input_specs.values()) and all(
            s.shape.rank and s.shape[0] is None for s in self.output_specs.values()
        )
        # An empty batch (first dimension 0) is answered, as TF Serving answers it when its graph runs on
        # 0 rows: 0 rows of every output. It is answered from the output specs, without the graph, whose
        # raw-constituent builders reduce over the jets and fail on none; it needs every other dimension known.
        known = batchable and all(None not in s.shape.as_list()[1:] for s in self.output_specs.values())
        self.empty_outputs = (
            {
                n: np.zeros([0] + s.shape.as_list()[1:], np.dtype(s.dtype.as_numpy_dtype))
                for n, s in self.output_specs.items()
            }
            if known
            else None
        )
        self.batcher = None
        if batching and batchable:
            self.batcher = Batcher(self._call, self.input_specs, name=f"batch-{name}", **batching)

    def _call(self, arrays):
        import tensorflow as tf

        out = self.fn(**{k: tf.constant(v) for k, v in arrays.items()})
        return {k: v.numpy() for k, v in out.items()}

    def run(self, arrays, output_filter=None):
        """{output name: array}; a ServingError for bad input or a failing graph."""
        from serving.tensors import check_batch

        names = list(self.output_specs)
        if output_filter:
            unknown = sorted(set(output_filter) - set(names))
            if unknown:
                raise invalid(f"output tensor alias not found in signature: {', '.join(unknown)}")
            names = [n for n in names if n in set(output_filter)]
        rows = check_batch(arrays)
        if rows == 0 and self.empty_outputs is not None:
            return {n: self.empty_outputs[n] for n in names}
        try:
            if self.batcher is not None and rows:
                out = self.batcher.submit(arrays, rows)
            else:
                out = self._call(arrays)
        except Exception as err:
            raise from_exception(err) from None
        return {n: np.asarray(out[n]) for n in names}

    def close(self):
        if self.batcher is not None:
            self.batcher.close()


class Servable:
    """A model version: its folder, load state and, once AVAILABLE, its signatures."""

    def __init__(self, name, version, path, fingerprint=None):
        self.name = name
        self.version = version
        self.path = pathlib.Path(path)
        self.fingerprint = fingerprint
        self.state = "START"
        self.error = None  # a ServingError when the load failed
        self.signatures = {}
        self.signature_defs = {}
        self.loaded = None
        self.lock = threading.Lock()

    def load(self, batching=None, warmup=False):
        """Load the SavedModel; the state becomes AVAILABLE, or END with `error` set."""
        import tensorflow as tf

        self.state = "LOADING"
        try:
            self.loaded = tf.saved_model.load(str(self.path))
            self.signature_defs = read_signature_defs(self.path)
            self.signatures = {
                name: Signature(name, self.loaded.signatures[name], batching)
                for name in self.signature_defs
                if name in self.loaded.signatures
            }
            if warmup:
                from serving.warmup import replay

                replay(self)
        except Exception as err:  # anything: the version is reported with its error, never served
            self.error = from_exception(err)
            if self.error.code == "INVALID_ARGUMENT":
                self.error.code = "UNKNOWN"
            self.error.message = f"{self.path}: failed to load: {self.error.message}"
            self.state = "END"
            self.signatures = {}
            self.loaded = None
            return False
        self.state = "AVAILABLE"
        return True

    def unload(self):
        for sig in self.signatures.values():
            sig.close()
        self.signatures = {}
        self.loaded = None
        self.state = "END"

    def signature(self, name, protocol="rest"):
        """The Signature called `name` (empty: serving_default).

        An unknown name is INVALID_ARGUMENT over REST (``http_rest_api_handler.cc``, ``GetInfoMap``)
        and FAILED_PRECONDITION over gRPC (``predict_util.cc``, ``RunPredict``), as in TF Serving.
        """
        name = name or "serving_default"
        if name not in self.signatures:
            have = sorted(self.signatures)
            if protocol == "grpc":
                raise ServingError(
                    "FAILED_PRECONDITION", f'Serving signature key "{name}" not found. This model has {have}'
                )
            raise invalid(f'Serving signature name: "{name}" not found in signature def; this model has {have}')
        return self.signatures[name]
