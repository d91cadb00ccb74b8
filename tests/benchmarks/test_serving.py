"""benchmarks.serving: one row of the serving benchmark against the test server."""

import numpy as np
import pytest
import tensorflow as tf


def test_benchmark_row_measures_served_and_in_process_jets(server, exported, jets):
    from benchmarks.serving import _measure
    from serving.client import GrpcClient

    base, _ = exported
    fn = tf.saved_model.load(str(base / "dvae" / "1")).signatures["serving_default"]
    counts = np.asarray(jets.n_constituents[:16], np.int32)
    constituents = np.asarray(jets.constituents[:16, : counts.max()], np.float32)
    row = _measure(
        lambda: GrpcClient(f"127.0.0.1:{server.grpc_port}"),
        fn,
        constituents,
        counts,
        n_clients=3,
        batch=4,
        seconds=0.6,
        rounds=2,
        server_pid=None,
        model="dvae",
    )
    assert row["failures"] == 0 and row["requests"] > 0 and row["jets_per_s"] > 0
    assert row["in_process_jets_per_s"] > 0 and row["ratio"] == pytest.approx(
        row["jets_per_s"] / row["in_process_jets_per_s"], rel=1e-2
    )
    assert row["cpu_ms_per_1k_jets"] is None and row["in_process_cpu_ms_per_1k_jets"] > 0
