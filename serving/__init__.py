"""A model server that TF Serving clients cannot tell apart from ``tensorflow_model_server``.

One concept per module:

- ``errors``: the error type with TF Serving's canonical codes, and their HTTP / gRPC statuses;
- ``tensors``: JSON (row and columnar) and ``TensorProto`` values to checked numpy arrays, and back;
- ``servable``: one loaded SavedModel version, its signatures and ``SignatureDef`` protos;
- ``store``: models by name with version policies, hot reload from the base paths, load errors;
- ``batching``: server-side batching of concurrent requests on one signature;
- ``config``: ``ModelServerConfig`` text files, read and written (``python -m serving.config``);
- ``rest``: the REST API (``/v1/models/...``) on a threaded HTTP server;
- ``grpc_service``: ``PredictionService`` and ``ModelService`` over grpcio with the official protos;
- ``warmup``: replays ``assets.extra/tf_serving_warmup_requests`` on load (``training.warmup`` writes them at export);
- ``client``: ``score(constituents, counts)`` over REST or gRPC;
- ``serve``: the command: flags, start-up and shutdown of REST and gRPC together.

Its latency and throughput are measured by ``python -m benchmarks.serving`` (``benchmarks/`` sits
above this package and nothing here imports it).

The command is ``python -m serving`` (``python -m training.serve`` is an alias kept for one release).

This package sits above ``training`` (it loads exports through ``training.export``); nothing in
``training``, ``models``, ``preprocessing``, ``losses`` or ``evaluation`` imports it
(``tests/test_layers.py``).
"""
