"""Data-parallel training of one model with ``tf.distribute`` (``python -m training.fit --distribute``).

    python -m training.fit --model particlenet --data q.h5 w.h5 t.h5 --distribute mirrored
    TF_CONFIG='{"cluster": {"worker": ["hostA:12345", "hostB:12345"]}, "task": {"type": "worker", "index": 0}}' \\
        python -m training.fit --model particlenet --data q.h5 w.h5 t.h5 --distribute multi-worker

Choices (``CHOICES``):

* ``none`` (default): no strategy; ``fit`` runs as it always did (XLA on for the classifiers).
* ``mirrored``: ``tf.distribute.MirroredStrategy`` over this machine's devices: every GPU, or the
  CPU as one replica where there is none. ``split_cpu(n)`` (called before TensorFlow starts)
  makes n logical CPU devices, i.e. n replicas on one CPU; the tests use it.
* ``multi-worker``: ``tf.distribute.MultiWorkerMirroredStrategy``, the cluster and this process's
  task read from ``TF_CONFIG`` (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type":
  "worker", "index": i}}``, a ``chief`` job allowed). Every worker runs the same command on the
  same ``--data``; the strategy is created before TensorFlow runs any op, as it requires.

What the strategy changes, and why:

* The model, its optimizer and every variable are created inside ``strategy.scope()``: Keras 3
  (``keras/src/backend/tensorflow/trainer.py``) takes the strategy a model was built under and
  runs each step as ``strategy.run(train_step)``, so the models' own ``train_step`` runs once per
  replica on that replica's part of the batch.
* **Batch.** ``--batch-size`` (or the model's) stays the *global* batch: Keras distributes the
  dataset with ``strategy.experimental_distribute_dataset``, which gives each of the N replicas
  ``batch/N`` rows (``ceil`` or ``floor`` where it does not divide; with several workers the
  batches are sharded by element, every worker reading the same ``--data`` and drawing the same
  seeded batch order, ``training.data.batches``). The one-cycle schedule counts the same steps per
  epoch as without a strategy. Each replica's loss is the mean over its own rows, so where a batch
  does not divide evenly among the replicas (an epoch's last, smaller batch, or a batch size N
  does not divide) a row weighs 1/(N * its replica's rows) instead of 1/batch: a small tilt
  towards the smaller shard, none with a batch size that N divides, apart from the last batch.
* **Gradients.** The Keras 3 TensorFlow optimizer sums the replicas' gradients
  (``TFOptimizer._all_reduce_sum_gradients``), but our ``train_step``s (``models.base.Tagger``,
  ``models.classifier.JetClassifier``) differentiate the *mean* loss of the replica's rows. The
  optimizer's ``loss_scale_factor`` is therefore set to N: ``BaseOptimizer.apply`` divides every
  gradient by it, so the update is the gradient of the global batch mean, as without a strategy.
  (Adam hardly notices a constant factor, but the learning-rate-free Adadelta and any future SGD
  would.) The custom ``train_step``s never call ``optimizer.scale_loss``, so nothing is scaled twice.
* **XLA off with several replicas.** ``JetClassifier.compile`` turns XLA on by default. With two
  replicas the XLA-compiled step fails ("Trying to access resource .../replica_1/... located in
  device CPU:1 from device CPU:0", TensorFlow's XLA known issue "tf.Variable on a different
  device"), and Keras's own ``jit_compile="auto"`` turns XLA off under a strategy too
  (``Trainer._resolve_auto_jit_compile``). With one replica XLA stays on: the run is then the run
  without a strategy, bit for bit (a test).
* **Replica-local state.** Keras 3 creates batch-norm moving statistics, the SNGP precision
  matrix and seed states with ``aggregation="none"``: under a strategy each replica updates its
  own copy from its own rows, and the copies (on different workers too) drift apart.
  ``ReplicaSync`` (a callback) replaces every such floating-point copy by the mean over the
  replicas before each validation and at the end of training, so validation, the checkpoint
  and the model every worker ends with agree. For exponential moving averages (batch norm, the
  SNGP precision with momentum) of equal-sized shards the mean of the copies is the average the
  global batch would have given (for the moving variance: up to the spread of the shards' means).
* **Chief.** Only the chief (task ``chief``, else ``worker`` 0) evaluates on the test rows and
  writes the export and its model card. The other workers keep their checkpoints in a temporary
  folder that is removed at the end, print a summary without an export and write nothing else.
  Every worker prints ``weights_sha256`` (``weights_digest``) so runs can be checked to have
  ended with the same weights.

Peers that never start. Before TensorFlow's strategy (whose start-up waits without end and without
a word for every task of ``TF_CONFIG``, and whose preemption notifier swallows SIGTERM), each
worker listens on its own ``TF_CONFIG`` address and waits for every other one to answer, saying on
stderr which tasks it waits for; after ``PEER_TIMEOUT_S`` seconds (300; the environment variable
``ANOMJET_PEER_TIMEOUT_S`` sets another) it stops with one error line naming the tasks that never
started. SIGINT and SIGTERM stop a multi-worker run at any point, the wait and the training
included, with one line and exit status 128 + the signal's number (130, 143).

Refused, with an error naming the model and the option: models not in ``SUPPORTED_MODELS`` (not
checked under a strategy), ``multi-worker`` without ``--data`` (the workers would all generate
the default dataset at once), ``--ensemble`` (members are independent Dask tasks, parallel already),
the DisCo term (distance correlation is a statistic of the whole batch; per replica it is a
different loss) and ``--memory-budget`` (streamed batches are not distributed here).
"""

import contextlib
import hashlib
import json
import os
import signal
import socket
import sys
import time

from preprocessing.errors import DataError

NONE, MIRRORED, MULTI_WORKER = "none", "mirrored", "multi-worker"
CHOICES = (NONE, MIRRORED, MULTI_WORKER)
# checked under a strategy (their train_step is a mean over rows plus batch-size-free penalties)
SUPPORTED_MODELS = ("fcn", "particlenet")
JOBS = ("chief", "worker")  # MultiWorkerMirroredStrategy's jobs (no parameter servers, no side evaluator)
_SYNC_FUNCTIONS = {}  # (model, strategy, variables) -> traced averaging step of sync_replicas


def parse_tf_config(text):
    """The cluster and task of a ``TF_CONFIG`` value, checked; a DataError naming TF_CONFIG otherwise.

    Returns:
        (cluster {job: [address, ...]}, task type, task index).
    """
    if text is None or not text.strip():
        raise DataError(
            "--distribute multi-worker reads the cluster from the environment variable TF_CONFIG, which is not set; "
            'e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\''
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"TF_CONFIG is not valid JSON ({err.msg} at character {err.pos}): {text!r}") from None
    if not isinstance(config, dict):
        raise DataError(f"TF_CONFIG must be a JSON object with 'cluster' and 'task', got {text!r}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise DataError(f"TF_CONFIG has no 'cluster' object of jobs and addresses: {text!r}")
    for job, addresses in cluster.items():
        if job not in JOBS:
            raise DataError(
                f"TF_CONFIG: job {job!r} in 'cluster' is not one --distribute multi-worker runs; jobs: {list(JOBS)}"
            )
        if (
            not isinstance(addresses, list)
            or not addresses
            or not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)
        ):
            raise DataError(f"TF_CONFIG: cluster job {job!r} must be a list of 'host:port' strings, got {addresses!r}")
    if "chief" in cluster and len(cluster["chief"]) != 1:
        raise DataError(f"TF_CONFIG: the 'chief' job has one task, got {cluster['chief']!r}")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise DataError(f"TF_CONFIG has no 'task' object with 'type' and 'index': {text!r}")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise DataError(f"TF_CONFIG: task type {kind!r} is not a job of the cluster {sorted(cluster)}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise DataError(f"TF_CONFIG: task index {index!r} is not one of 0..{len(cluster[kind]) - 1} of job {kind!r}")
    return cluster, kind, index


def is_chief_task(cluster, kind, index):
    """Whether a task writes the results: the chief job's task, else worker 0 where there is no chief."""
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)


def check_request(kind, model, ensemble=1, memory_budget=None, data=(), environ=None):
    """The cheap checks of --distribute, before TensorFlow starts: choice, model, options, TF_CONFIG."""
    if kind not in CHOICES:
        raise DataError(f"--distribute must be one of {list(CHOICES)}, got {kind!r}")
    if kind == NONE:
        return
    if model not in SUPPORTED_MODELS:
        raise DataError(
            f"--distribute {kind}: model {model!r} is not supported (its training step has not been checked "
            f"under a tf.distribute strategy); supported: {list(SUPPORTED_MODELS)}"
        )
    if ensemble > 1:
        raise DataError(
            f"--distribute {kind} trains one model; --ensemble {ensemble} trains independent members as Dask "
            "tasks, which run in parallel already (use --workers/--scheduler)"
        )
    if memory_budget is not None:
        raise DataError(f"--distribute {kind} does not take --memory-budget (streamed batches are not distributed)")
    if kind == MULTI_WORKER:
        parse_tf_config((os.environ if environ is None else environ).get("TF_CONFIG"))
        if not data:  # workers generating one default dataset at once would race on its shard files
            raise DataError(
                "--distribute multi-worker needs --data: every worker must read the same sample files "
                "(make them once with python -m preprocessing.generate, or with one fit without --distribute)"
            )


def check_settings(settings, kind):
    """Refuse resolved settings a strategy would change the meaning of (the batch-level DisCo term)."""
    if kind in (None, NONE):
        return
    if settings.config.get("disco_weight", 0) > 0:
        raise DataError(
            f"--distribute {kind}: model {settings.name!r} (preset {settings.preset!r}) has disco_weight "
            f"{settings.config['disco_weight']}: the distance correlation is a statistic of the whole batch, and "
            "each replica would compute it on its own share; train it without --distribute"
        )


def split_cpu(n):
    """Make `n` logical CPU devices (n replicas for ``mirrored`` on a CPU); call before TensorFlow runs."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(n))


def make_strategy(kind):
    """The tf.distribute strategy of a --distribute choice (None for ``none``)."""
    if kind in (None, NONE):
        return None
    import tensorflow as tf

    if kind == MIRRORED:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return _strategy_class(tf.distribute.MirroredStrategy)(devices)
    if kind == MULTI_WORKER:
        cluster, task, index = parse_tf_config(os.environ.get("TF_CONFIG"))  # again: the clear error, not TensorFlow's
        stop_on_signals()
        wait_for_peers(cluster, task, index)
        strategy = _strategy_class(tf.distribute.MultiWorkerMirroredStrategy)()
        stop_on_signals()  # TensorFlow's preemption notifier took SIGTERM over: take it back
        return strategy
    raise DataError(f"--distribute must be one of {list(CHOICES)}, got {kind!r}")


def peer_timeout_s():
    """Seconds a multi-worker task waits for the others to start (default 300)."""
    return float(os.environ.get("ANOMJET_PEER_TIMEOUT_S", 300))


def _stop(signum, frame):
    print(f"error: --distribute multi-worker: stopped by {signal.Signals(signum).name}", file=sys.stderr)
    raise SystemExit(128 + signum)


def stop_on_signals():
    """SIGINT and SIGTERM end the process with one line and status 128 + signal (the main thread's
    Python code runs the handler: the peer wait and the training loop)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)


def wait_for_peers(cluster, task, index, timeout=None, poll=0.5):
    """Listen on this task's TF_CONFIG address and wait until every other task's address answers;
    a DataError naming the tasks that did not start within `timeout` seconds (``peer_timeout_s``)."""
    timeout = peer_timeout_s() if timeout is None else timeout
    me = cluster[task][index]
    peers = {
        f"{job} {k} at {a}": a for job in JOBS for k, a in enumerate(cluster.get(job, ())) if (job, k) != (task, index)
    }
    if not peers:
        return
    host, _, port = me.rpartition(":")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", int(port)))
        listener.listen(len(peers) + 4)
    except OSError as err:
        listener.close()
        raise DataError(
            f"--distribute multi-worker: cannot listen on {me}, this task's TF_CONFIG address ({err.strerror})"
        ) from None
    waiting = dict(peers)
    print(
        f"--distribute multi-worker ({task} {index} at {me}): waiting up to {timeout:g} s for "
        + ", ".join(waiting)
        + " (TF_CONFIG) to start",
        file=sys.stderr,
    )
    start = time.monotonic()
    try:
        while waiting:
            for name, address in list(waiting.items()):
                peer_host, _, peer_port = address.rpartition(":")
                try:
                    socket.create_connection((peer_host, int(peer_port)), timeout=poll).close()
                    del waiting[name]
                except OSError:
                    pass
            if waiting and time.monotonic() - start >= timeout:
                raise DataError(
                    f"--distribute multi-worker: {', '.join(waiting)} (TF_CONFIG) did not start within {timeout:g} s; "
                    f"start the same command there with its TF_CONFIG task (ANOMJET_PEER_TIMEOUT_S sets the wait)"
                )
            if waiting:
                time.sleep(poll)
    finally:
        listener.close()


def _strategy_class(base):
    """`base` (a tf.distribute strategy class) with a ``reduce`` that takes what Keras 3 gives it.

    ``model.fit`` of Keras 3.15 fails under the plain strategies, for any model (a two-worker
    ``keras.Sequential`` with ``loss="mse"`` on 127.0.0.1 too), in two places of
    ``keras/src/backend/tensorflow/trainer.py``:

    1. ``_maybe_symbolic_build`` averages the first distributed batch of ``fit`` and of every
       validation, a tuple or dict of per-replica tensors, with one ``strategy.reduce("MEAN",
       batch, axis=None)``. TensorFlow's ``reduce`` takes one value ("TODO(josh11b): support
       `value` being a nest", ``distribute_lib.py``): the multi-worker strategy refuses a nest
       ("Attempt to convert a value (PerReplica:{...}) with an unsupported type ... to a
       Tensor"), and MirroredStrategy adds the replicas' shards, which fails where a batch does
       not split evenly ("Inputs to operation AddN ... must have the same size and shape. Input
       0: [21,20,4] != input 1: [20,20,4]"; collectives across workers fail the same way:
       "Shape mismatch in the collective instance"). Keras wants the batch's structure and
       shapes only: a nest is answered, without any reduction or collective, with this
       process's first replica's values.
    2. ``reduce_per_replica`` averages each step's metric results (scalars) with
       ``strategy.reduce("MEAN", v, axis=0)`` in multi-worker mode: "Invalid reduction dimension 0
       for input with 0 dimensions". A scalar has no batch axis; it is averaged over the
       replicas (``axis=None``), which is what the single-worker path of that function does.
    """
    import tensorflow as tf

    class Strategy(base):
        def reduce(self, reduce_op, value, axis):
            if isinstance(value, (dict, list, tuple)):  # 1.
                return tf.nest.map_structure(lambda v: self.experimental_local_results(v)[0], value)
            if axis is not None and self.experimental_local_results(value)[0].shape.rank == 0:  # 2.
                axis = None
            return super().reduce(reduce_op, value, axis)

    Strategy.__name__ = Strategy.__qualname__ = base.__name__
    return Strategy


def task_of(strategy):
    """(task type, index, is chief) of this process: ("local", 0, True) without a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is None or not resolver.task_type:
        return "local", 0, True
    cluster = resolver.cluster_spec().as_dict()
    return resolver.task_type, int(resolver.task_id), is_chief_task(cluster, resolver.task_type, resolver.task_id)


def is_chief(strategy):
    return task_of(strategy)[2]


def scope(strategy):
    """``strategy.scope()``, or a context that does nothing without a strategy."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def compile_arguments(optimizer):
    """Keyword arguments of ``model.compile`` for `optimizer` under the strategy in scope (if any).

    Under a strategy of N > 1 replicas the optimizer divides the summed gradients by N and XLA is
    off (module docstring); otherwise the arguments are just the optimizer.
    """
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return {"optimizer": optimizer}
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if getattr(optimizer, "_distribution_strategy", None) is not tf.distribute.get_strategy():
        raise DataError("the optimizer must be created inside the strategy's scope")  # a programming error
    if replicas == 1:  # one replica computes what no strategy does (bit for bit, XLA included)
        return {"optimizer": optimizer}
    optimizer.loss_scale_factor = float(replicas)
    return {"optimizer": optimizer, "jit_compile": False}


def replica_local_variables(model):
    """The model's non-trainable floating-point variables that each replica updates on its own
    (aggregation "none"; the optimizer updates the trainable ones across replicas)."""
    import tensorflow as tf

    out = []
    for v in model.non_trainable_variables:
        value = getattr(v, "value", v)
        if (
            isinstance(value, tf.distribute.DistributedValues)
            and value.aggregation == tf.VariableAggregation.NONE
            and value.dtype.is_floating
        ):
            out.append(value)
    return out


def sync_replicas(model, strategy):
    """Set every replica-local float variable to its mean over all replicas (a collective: every
    worker must call it at the same point); returns how many variables were averaged."""
    import tensorflow as tf

    if strategy is None or strategy.num_replicas_in_sync == 1:
        return 0
    variables = replica_local_variables(model)
    if not variables:
        return 0
    key = (id(model), id(strategy), len(variables))
    if key not in _SYNC_FUNCTIONS:  # one traced function per model: a collective per call, no retracing

        def average():
            context = tf.distribute.get_replica_context()
            means = context.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v) for v in variables])
            for v, mean in zip(variables, means):
                v.assign(mean)  # aggregation "none" in a replica: each replica sets its own copy

        _SYNC_FUNCTIONS.clear()  # only the model being trained is synchronised
        _SYNC_FUNCTIONS[key] = tf.function(lambda: strategy.run(average))
    _SYNC_FUNCTIONS[key]()
    return len(variables)


def callbacks(strategy):
    """The callbacks a strategy needs during ``fit`` (``ReplicaSync``); none without one."""
    if strategy is None:
        return ()
    import keras

    class ReplicaSync(keras.callbacks.Callback):
        """Averages replica-local state (batch-norm statistics, SNGP precision) over the replicas
        before each validation and at the end of training (see the module docstring)."""

        def on_test_begin(self, logs=None):
            sync_replicas(self.model, strategy)

        def on_train_end(self, logs=None):
            sync_replicas(self.model, strategy)

    return (ReplicaSync(),)


def weights_digest(model):
    """sha256 of every weight of `model` (values, shapes and dtypes, in order): equal digests,
    equal models."""
    import numpy as np

    h = hashlib.sha256()
    for w in model.get_weights():
        w = np.ascontiguousarray(w)
        h.update(f"{w.dtype.str}{w.shape}".encode())
        h.update(w.tobytes())
    return h.hexdigest()
