"""Warmup on load: replay a version's ``assets.extra/tf_serving_warmup_requests`` before it takes traffic.

``tensorflow_model_server --enable_model_warmup`` (and ``python -m serving --enable_model_warmup``)
runs each recorded ``PredictRequest`` once per shape when a version loads. The file itself is
part of the export: ``training.warmup`` writes and reads it.
"""

from serving import tensors
from training.warmup import read_warmup


def replay(servable):
    """Run every warmup request of `servable` once (errors fail the load, as in TF Serving)."""
    for request in read_warmup(servable.path):
        signature = servable.signature(request.model_spec.signature_name)
        signature.run(tensors.proto_inputs(request.inputs, signature.input_specs))
