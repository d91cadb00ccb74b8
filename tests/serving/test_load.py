"""Many concurrent clients: no request fails, and concurrent requests share graph calls."""

import threading
import time

import numpy as np
import pytest

from serving.batching import Batcher
from serving.client import GrpcClient, RestClient


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_20_threads_by_50_requests_all_succeed(server, jets, protocol):
    constituents = jets.constituents[:4, : int(jets.n_constituents[:4].max())]
    counts = jets.n_constituents[:4]
    failures, results = [], []
    default = server.store.servable("dvae").signatures["serving_default"]
    calls_before = default.batcher.calls

    def worker(k):
        client = (
            RestClient(f"http://127.0.0.1:{server.rest_port}", timeout=30)
            if protocol == "rest"
            else GrpcClient(f"127.0.0.1:{server.grpc_port}", timeout=30)
        )
        try:
            for i in range(50):
                try:
                    out = client.score(constituents[i % 4 : i % 4 + 1], counts[i % 4 : i % 4 + 1], model="dvae")
                    results.append((i % 4, float(np.asarray(out["anomaly_score"])[0])))
                except Exception as err:  # every failure is counted, none may happen
                    failures.append(repr(err))
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == [] and len(results) == 1000
    by_jet = {}
    for jet, value in results:  # batched or not, a jet always gets the same score
        by_jet.setdefault(jet, set()).add(round(value, 5))
    assert all(len(v) == 1 for v in by_jet.values()), by_jet
    assert default.batcher.calls - calls_before < 1000  # concurrent requests were merged into fewer graph calls


def test_batcher_merges_pads_and_isolates_a_bad_request():
    import tensorflow as tf

    calls = []
    gate = threading.Event()

    def run(arrays):
        calls.append(len(arrays["x"]))
        gate.wait(5)
        if np.any(arrays["x"] < 0):
            raise ValueError("negative")
        return {"s": arrays["x"].sum(axis=1)}

    batcher = Batcher(run, {"x": tf.TensorSpec((None, None), tf.float32)}, max_batch_size=64, num_batch_threads=1)
    out = {}

    def submit(k, x):
        try:
            out[k] = batcher.submit({"x": x}, len(x))
        except ValueError as err:
            out[k] = err

    first = threading.Thread(target=submit, args=(0, np.ones((1, 2))))
    first.start()
    while not calls:
        pass
    # while the first call runs, three requests queue up (one with wider padding, one bad)
    others = [
        threading.Thread(target=submit, args=(1, np.ones((2, 3)))),
        threading.Thread(target=submit, args=(2, -np.ones((1, 1)))),
        threading.Thread(target=submit, args=(3, np.full((1, 1), 2.0))),
    ]
    for t in others:
        t.start()
    while batcher.queued() < 3:
        pass
    gate.set()
    for t in [first, *others]:
        t.join(10)
    batcher.close()
    assert calls[:2] == [1, 4]  # the queued requests went in one call, padded to 3 columns
    np.testing.assert_allclose(out[1]["s"], [3.0, 3.0])
    np.testing.assert_allclose(out[3]["s"], [2.0])
    assert isinstance(out[2], ValueError)  # only the bad request failed, after one call per request


def _spec():
    import tensorflow as tf

    return {"x": tf.TensorSpec((None, None), tf.float32)}


def test_an_idle_batcher_runs_the_request_on_its_own_thread():
    threads = []

    def run(arrays):
        threads.append(threading.current_thread())
        return {"s": arrays["x"].sum(axis=1)}

    batcher = Batcher(run, _spec(), num_batch_threads=1)
    out = batcher.submit({"x": np.ones((2, 3))}, 2)
    np.testing.assert_allclose(out["s"], [3.0, 3.0])
    assert threads == [threading.current_thread()] and batcher.calls == 1 and batcher.queued() == 0


@pytest.mark.parametrize("num_batch_threads", [1, 2])
def test_at_most_num_batch_threads_batches_run_at_once_and_queued_requests_go_to_batch_threads(num_batch_threads):
    lock, gate = threading.Lock(), threading.Event()
    state = {"now": 0, "most": 0}
    calls = []  # (rows, thread name)

    def run(arrays):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            calls.append((len(arrays["x"]), threading.current_thread().name))
        gate.wait(5)
        with lock:
            state["now"] -= 1
        return {"s": arrays["x"].sum(axis=1)}

    batcher = Batcher(run, _spec(), max_batch_size=64, num_batch_threads=num_batch_threads, name="bt")
    out = {}

    def submit(k):
        out[k] = batcher.submit({"x": np.full((1, 2), float(k))}, 1)

    requests = [threading.Thread(target=submit, args=(k,), name=f"r{k}") for k in range(4)]
    for t in requests:
        t.start()
        deadline = time.monotonic() + 5
        while len(calls) + batcher.queued() <= requests.index(t) and time.monotonic() < deadline:
            pass  # arrival order 0, 1, 2, 3
    # free slots run requests at once on their own threads; the others wait for a slot
    assert batcher.queued() == 4 - num_batch_threads
    assert calls == [(1, f"r{k}") for k in range(num_batch_threads)]
    gate.set()
    for t in requests:
        t.join(10)
    assert not any(t.is_alive() for t in requests)
    assert {k: float(v["s"][0]) for k, v in out.items()} == {0: 0.0, 1: 2.0, 2: 4.0, 3: 6.0}
    assert state["most"] == num_batch_threads
    # the queued requests went in one call, on a batch thread, once a slot was free
    assert len(calls) == num_batch_threads + 1 and calls[-1][0] == 4 - num_batch_threads
    assert calls[-1][1].startswith("bt-")
    assert batcher.queued() == 0 and batcher.running == 0
    batcher.close()


def test_batch_timeout_waits_for_company():
    calls = []

    def run(arrays):
        calls.append(len(arrays["x"]))
        return {"s": arrays["x"].sum(axis=1)}

    batcher = Batcher(run, _spec(), max_batch_size=64, batch_timeout_s=0.5, num_batch_threads=1)
    out = {}
    threads = [
        threading.Thread(target=lambda k=k: out.update({k: batcher.submit({"x": np.full((1, 2), k)}, 1)}))
        for k in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert calls == [3]  # nobody ran alone: the first request waited for the other two
    assert {k: float(v["s"][0]) for k, v in out.items()} == {0: 0.0, 1: 2.0, 2: 4.0}
    batcher.close()


def test_a_full_batch_queue_is_unavailable():
    """servables/tensorflow/session_bundle_config.proto, max_enqueued_batches: the queue holds at most that
    many batches; TF Serving's batch scheduler then answers UNAVAILABLE ("... queue ... is full")."""
    from serving.errors import ServingError

    release = threading.Event()

    def run(arrays):
        release.wait(10)
        return {"y": arrays["x"]}

    import tensorflow as tf

    batcher = Batcher(
        run, {"x": tf.TensorSpec([None], tf.float32)}, max_batch_size=2, num_batch_threads=1, max_enqueued_batches=1
    )
    threads = [threading.Thread(target=batcher.submit, args=({"x": np.ones(1, np.float32)}, 1)) for _ in range(3)]
    try:
        for t in threads:  # one runs (the only batch slot), two wait: one batch's worth of rows
            t.start()
            time.sleep(0.2)
        assert batcher.queued() == 2
        with pytest.raises(ServingError) as err:
            batcher.submit({"x": np.ones(1, np.float32)}, 1)
        assert err.value.code == "UNAVAILABLE" and "queue" in err.value.message and "is full" in err.value.message
    finally:
        release.set()
        for t in threads:
            t.join(10)
        batcher.close()
    assert batcher.queued() == 0 and batcher.queued_rows == 0
