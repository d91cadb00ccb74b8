"""Independent work as Dask tasks: generation shards, ensemble members, the trainings of a scan.

One way to run a list of independent tasks (``run_tasks``), whatever the machine:

* default: a ``dask.distributed.LocalCluster`` of worker *processes* with one thread each, as
  many as ``--workers`` (default: the machine's cores, never more than there are tasks), so the
  path tested on a laptop is the path that runs on a cluster;
* ``--scheduler ADDRESS`` (``tcp://host:8786``): the same tasks on a running Dask cluster, e.g.
  one started on Slurm or HTCondor with ``dask-jobqueue`` (README, "Running on a cluster");
* ``--scheduler serial`` or ``--workers 1``: every task in this process, one after another, in
  order (for debugging with pdb; no Dask involved).

A task is ``fn(task)`` with a picklable argument; its result must depend only on the argument
(each task carries its own seed), so results do not depend on where or in which order tasks ran.
Results come back as ``(index, result)`` in the order tasks finish, with a tqdm bar per task on
stderr. A task that raises is tried again (``retries`` times, each retry reported with the task's
label, which names its seed); a ``DataError`` is a mistake in the input and is not retried. When
the retries are used up the run stops with a ``TaskFailed`` naming the task and its seed.

A lost cluster is an error within a bounded time, never a wait without end: when the client loses
its scheduler (it tries to reconnect for 30 s, ``CONNECT_TIMEOUT``) or the scheduler has no worker
left, the run says so on stderr and stops with a ``TaskFailed`` naming the scheduler's address and
the unfinished tasks once ``LOST_AFTER_S`` seconds (60; the environment variable
``ANOMJET_LOST_AFTER_S`` sets another) have passed without it coming back; tasks the cluster lost
(not failed) are submitted again when it does. What already finished was handed to the caller.

Worker processes of the local cluster get single-threaded numerical libraries (OpenMP, BLAS and
TensorFlow's thread pools, through the environment), so that two workers share two cores instead
of oversubscribing them, and so that a task computes the same numbers on any worker.

``shared_session(scheduler, workers)`` keeps one cluster for every ``run_tasks`` call inside it (a
paper reproduction generates its samples and runs several rounds of trainings; starting workers
and importing TensorFlow in them costs seconds each time).

This module imports nothing heavy at import time: Dask is imported when a cluster is started.
"""

import contextlib
import logging
import os
import sys
import uuid

from preprocessing.errors import DataError

SERIAL = "serial"
CONNECT_TIMEOUT = "30s"  # how long a client tries to (re)connect to its scheduler
POLL_S = 1.0  # how often a run looks at its cluster while no task finishes


def lost_after_s():
    """Seconds a run waits for a lost scheduler or for a worker before it stops (default 60)."""
    return float(os.environ.get("ANOMJET_LOST_AFTER_S", 60))


# environment of local worker processes: one thread per numerical library, deterministic TF ops
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_DETERMINISTIC_OPS": "1",
}

_current = []  # stack of _Shared set by `shared_session`


class TaskFailed(DataError):
    """A task failed on every try; the message names the task (and so its seed) and the error."""


def add_arguments(parser, workers_help=None):
    """Add ``--scheduler`` and ``--workers`` to a CommandParser."""
    from preprocessing.cli import integer

    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler of a running cluster (tcp://host:8786), or 'serial' to run every task in "
        "this process; default: a local cluster of --workers processes",
    )
    parser.add_argument(
        "--workers",
        type=integer(1),
        help=workers_help
        or f"worker processes of the local cluster (default: the machine's {os.cpu_count()} cores; 1 = serial)",
    )


def check_scheduler(address):
    """A DataError for a --scheduler value that is neither 'serial' nor a Dask address."""
    if address is None or address == SERIAL:
        return address
    if "://" not in address and ":" not in address:
        raise DataError(f"--scheduler {address!r}: expected 'serial' or a scheduler address such as tcp://host:8786")
    return address


def default_workers():
    """Worker processes of a local cluster when none are asked for: one per core."""
    return os.cpu_count() or 1


def _local_cluster(workers):
    from distributed import LocalCluster

    env = {**WORKER_ENV, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,  # one task at a time per process: TensorFlow and Pythia are not shared
        processes=True,
        dashboard_address=":0",  # any free port: several clusters on one machine do not collide
        silence_logs=logging.CRITICAL,  # a failed task is reported once, with its seed, by run_tasks,
        env=env,
    )


@contextlib.contextmanager
def session(scheduler=None, workers=None, n_tasks=None):
    """A Dask client for the tasks run inside the block (None: serial in this process).

    Args:
        scheduler: None (a local cluster), 'serial', or the address of a running scheduler.
        workers: local worker processes (default: the machine's cores); 1 means serial.
        n_tasks: the most tasks the block will run at once, to start no idle workers.
    """
    check_scheduler(scheduler)
    if scheduler is None and workers != 1 and _current:  # an enclosing shared_session decides
        yield _current[-1].client()
        return
    workers = workers or default_workers()
    if n_tasks is not None:
        workers = min(workers, max(n_tasks, 1))
    if scheduler == SERIAL or (scheduler is None and workers <= 1):
        yield None
        return
    with contextlib.ExitStack() as stack:
        yield _connect(stack, scheduler, workers)


def _connect(stack, scheduler, workers):
    """A Client of a new local cluster (scheduler None) or of a running one, closed with `stack`."""
    from distributed import Client

    if scheduler is None:
        cluster = stack.enter_context(_local_cluster(workers))
        return stack.enter_context(Client(cluster))
    # a lost scheduler is reported once by run_tasks (_Watch), not by the client's reconnection
    # tracebacks (logged up to the client's close, so the level is restored after it)
    log = logging.getLogger("distributed.client")
    stack.callback(log.setLevel, log.level)
    log.setLevel(logging.CRITICAL)
    try:
        return stack.enter_context(Client(scheduler, timeout=CONNECT_TIMEOUT))
    except OSError as err:
        raise DataError(f"--scheduler {scheduler}: cannot connect ({err})") from None


class _Shared:
    """The cluster of a ``shared_session``: started by the first task that needs it."""

    def __init__(self, scheduler, workers, stack):
        self.scheduler, self.workers, self.stack, self._client = scheduler, workers, stack, None

    def client(self):
        if self.scheduler == SERIAL or (self.scheduler is None and self.workers <= 1):
            return None
        if self._client is None:
            self._client = _connect(self.stack, self.scheduler, self.workers)
        return self._client


@contextlib.contextmanager
def shared_session(scheduler=None, workers=None):
    """One cluster for every ``run_tasks`` inside the block that does not name its own scheduler
    (a reproduction's generation shards and its rounds of trainings); it starts only when a task
    first needs it, so a block that runs no tasks costs nothing."""
    check_scheduler(scheduler)
    with contextlib.ExitStack() as stack:
        _current.append(_Shared(scheduler, workers or default_workers(), stack))
        try:
            yield
        finally:
            _current.pop()


def _bar(total, initial, desc, unit, progress):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit=unit,
        desc=desc,
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def run_tasks(
    fn,
    tasks,
    labels=None,
    *,
    scheduler=None,
    workers=None,
    retries=2,
    desc="tasks",
    unit="task",
    sizes=None,
    initial=0,
    total=None,
    progress=True,
    shared=None,
):
    """Run ``fn(task)`` (``fn(task, shared)`` with `shared`) for every task; yields ``(index, result)``
    as tasks finish.

    Args:
        fn: a module-level function (workers import it by name).
        tasks: picklable arguments, one per task.
        labels: one text per task naming it and its seed ("shard 3 (seed 123)"), for messages.
        scheduler, workers: see ``session``; inside a ``shared_session`` its cluster is used unless
            the call names a scheduler or asks for one worker.
        retries: further tries of a task that raised (not for a DataError).
        desc, unit, sizes, initial, total: the tqdm bar; ``sizes[i]`` is what task i adds to it.
        progress: show the bar.
        shared: one object every task reads (e.g. training arrays): sent to each worker once.

    Raises:
        TaskFailed: a task failed on every try (the other tasks are cancelled).
    """
    tasks = list(tasks)
    labels = list(labels) if labels is not None else [f"task {i}" for i in range(len(tasks))]
    sizes = list(sizes) if sizes is not None else [1] * len(tasks)
    total = total if total is not None else initial + sum(sizes)
    if not tasks:
        return
    with session(scheduler, workers, n_tasks=len(tasks)) as client, _bar(total, initial, desc, unit, progress) as bar:
        if client is None:
            for i, task in enumerate(tasks):
                for attempt in range(retries + 1):
                    try:
                        result = fn(task) if shared is None else fn(task, shared)
                        break
                    except DataError:
                        raise
                    except Exception as err:
                        _retry_or_fail(labels[i], attempt, retries, err)
                bar.update(sizes[i])
                yield i, result
            return
        yield from _run_on(client, fn, tasks, labels, sizes, retries, bar, shared)


def _retry_or_fail(label, attempt, retries, err):
    if isinstance(err, DataError):
        raise err
    if attempt >= retries:
        raise TaskFailed(
            f"{label} failed {attempt + 1} time(s): {type(err).__name__}: {err}; rerun the same command "
            f"to resume (finished work is kept)"
        ) from err
    print(f"retrying {label} (try {attempt + 2} of {retries + 1}) after {type(err).__name__}: {err}", file=sys.stderr)


class _Watch:
    """Whether a client still has its scheduler and a worker; a TaskFailed naming the address and
    the unfinished tasks once either has been gone for ``lost_after_s()`` seconds."""

    def __init__(self, client, labels):
        self.client, self.labels, self.limit = client, labels, lost_after_s()
        self.address = getattr(client.scheduler, "address", None) or "?"
        self.since, self.what = None, None  # when and what went missing

    def check(self, unfinished, finished):
        """Raise if the cluster has been lost too long; True while it is usable."""
        import time

        if self.client.status != "running":
            missing = "scheduler"
        else:
            try:
                missing = None if self.client.nthreads() else "worker"
            except (OSError, TimeoutError):
                missing = "scheduler"
        if missing is None:
            self.since = self.what = None
            return True
        if self.what != missing:
            self.since, self.what = time.monotonic(), missing
            print(
                f"the Dask scheduler at {self.address} "
                + ("is not answering" if missing == "scheduler" else "has no worker")
                + f": waiting up to {self.limit:g} s for it to come back",
                file=sys.stderr,
            )
        gone = time.monotonic() - self.since
        if gone >= self.limit or self.client.status in ("closing", "closed"):
            lost = "lost the connection to it" if missing == "scheduler" else "it has had no worker"
            when = f"for {self.limit:g} s" if gone >= self.limit else f"(no reconnection within {CONNECT_TIMEOUT})"
            left = ", ".join(self.labels[i] for i in sorted(unfinished))
            raise TaskFailed(
                f"the Dask scheduler at {self.address}: {lost} {when}; unfinished: {left} "
                f"({finished} of {len(self.labels)} finished)"
            )
        return False


def _run_on(client, fn, tasks, labels, sizes, retries, bar, shared):
    from concurrent.futures import CancelledError

    from distributed import wait

    run_id = uuid.uuid4().hex[:8]
    name = getattr(fn, "__name__", "task")
    extra = () if shared is None else (client.scatter([shared], broadcast=True, hash=False)[0],)

    def submit(i, attempt):
        return client.submit(fn, tasks[i], *extra, key=f"{name}-{run_id}-{i}-try{attempt}", pure=False)

    live, attempts = {}, [0] * len(tasks)  # key -> (task index, future) of unfinished tasks
    lost, finished, watch = [], 0, _Watch(client, labels)  # tasks the cluster lost (not failed), to submit again
    for i in range(len(tasks)):
        future = submit(i, 0)
        live[future.key] = (i, future)
    try:
        while live or lost:
            done = ()
            if live:
                try:
                    done = wait([f for _, f in live.values()], timeout=POLL_S, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    pass
                except CancelledError:  # the client lost its scheduler: every future was cancelled
                    done = [f for _, f in live.values() if f.done()]
            if not done:
                unfinished = [i for i, _ in live.values()] + lost
                if watch.check(unfinished, finished) and lost:  # the cluster is back: submit what it lost
                    for i in lost:  # a retry too, so that a cluster that keeps losing a task stops
                        _retry_or_fail(labels[i], attempts[i], retries, ConnectionError("the Dask cluster lost it"))
                        attempts[i] += 1
                        again = submit(i, attempts[i])
                        live[again.key] = (i, again)
                    lost = []
                continue
            for future in done:
                i, _ = live.pop(future.key)
                if future.status == "finished":
                    try:  # bounded: a result whose worker died before it was fetched is computed again
                        result = future.result(timeout=watch.limit)
                    except (TimeoutError, CancelledError):
                        live[future.key] = (i, future)
                        continue
                    future.release()
                    finished += 1
                    bar.update(sizes[i])
                    yield i, result
                    continue
                err = future.exception() if future.status == "error" else None
                future.release()
                if err is None:  # cancelled or lost with its worker or scheduler: not the task's fault
                    lost.append(i)
                    continue
                _retry_or_fail(labels[i], attempts[i], retries, err)
                attempts[i] += 1
                again = submit(i, attempts[i])
                live[again.key] = (i, again)
    finally:
        if live and client.status == "running":  # stopped early (a failure, or the caller stopped reading)
            client.cancel([f for _, f in live.values()])
