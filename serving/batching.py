"""Server-side batching of concurrent requests on one signature (like TF Serving's ``--enable_batching``).

Requests wait in a queue and are run in batches: a batch takes the queued requests in arrival
order (up to ``max_batch_size`` rows in all), concatenates their inputs along the batch axis,
runs the graph once and hands each request its slice of the outputs. At most
``num_batch_threads`` batches run at once (TF Serving's default: one per core). With no
competition a request runs at once (there is no fixed wait unless ``batch_timeout_s`` asks for
one); under load, the requests that arrive while the batches run form the next ones, so many
small requests do not cost one graph call each.

A request that finds nothing queued and a batch slot free (and no ``batch_timeout_s``) runs on
the thread that received it: an unloaded server then makes no thread hand-off (each costs a
scheduler wake-up, milliseconds on a busy machine). Queued requests are run by the batch
threads, which take batch after batch without sleeping while the queue is not empty.

Inputs whose signature leaves a non-batch dimension open (raw constituents: ``(jets, None, 4)``)
are zero padded to the longest request; such padding is masked by the constituent counts. If a
merged batch fails (one request holds a jet with no constituents), every request in it is run
alone, so only the bad request gets the error.
"""

import collections
import os
import threading
import time

import numpy as np


class _Task:
    __slots__ = ("arrays", "rows", "result", "error", "done")

    def __init__(self, arrays, rows):
        self.arrays, self.rows = arrays, rows
        self.result = self.error = None
        self.done = threading.Event()


class Batcher:
    """Batches calls of `run(arrays) -> {output: array}` for one signature.

    Args:
        run: the unbatched call, {input name: (rows, ...) array} -> {output name: (rows, ...) array}.
        input_specs: {input name: TensorSpec}; dimensions that are None beyond the first are padded.
        max_batch_size: most rows merged into one call (a larger request runs alone).
        batch_timeout_s: how long the first request of a batch waits for company (0: not at all).
        num_batch_threads: most batches running at once (None: one per core, as TF Serving).
        max_enqueued_batches: most batches' worth of rows waiting (None: no bound); a request that
            finds the queue full is UNAVAILABLE, as TF Serving's batch scheduler answers it.
    """

    def __init__(
        self,
        run,
        input_specs,
        max_batch_size=256,
        batch_timeout_s=0.0,
        num_batch_threads=None,
        name="batcher",
        max_enqueued_batches=None,
    ):
        self.run = run
        self.padded = {
            n: [i for i, d in enumerate(s.shape.as_list()) if d is None and i > 0] for n, s in input_specs.items()
        }
        self.max_batch_size = max_batch_size
        self.batch_timeout_s = batch_timeout_s
        self.num_batch_threads = max(1, int(num_batch_threads or os.cpu_count() or 1))
        self.max_queued_rows = None if max_enqueued_batches is None else max_enqueued_batches * max_batch_size
        self.queued_rows = 0
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # a request queued, or a batch slot freed
        self.pending = collections.deque()  # queued tasks, oldest first
        self.running = 0  # batches running now, on request or batch threads (at most num_batch_threads)
        self.calls = 0  # graph calls made, for tests and the benchmark
        self.closed = False
        self.threads = [
            threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True) for i in range(self.num_batch_threads)
        ]
        for t in self.threads:
            t.start()

    def queued(self):
        """Requests waiting for a batch."""
        with self.lock:
            return len(self.pending)

    def submit(self, arrays, rows):
        """Run `arrays` (with `rows` rows) in some batch; blocks until done; returns the outputs."""
        task = _Task(arrays, rows)
        with self.lock:
            inline = self.closed or (
                not self.pending and self.running < self.num_batch_threads and self.batch_timeout_s <= 0
            )
            if inline:
                self.running += 1
            else:
                if self.max_queued_rows is not None and self.queued_rows + rows > self.max_queued_rows:
                    from serving.errors import ServingError

                    raise ServingError(
                        "UNAVAILABLE",
                        f"The batch scheduling queue to which this task was submitted is full "
                        f"({self.queued_rows} rows wait; max_enqueued_batches x max_batch_size = {self.max_queued_rows})",
                    )
                self.pending.append(task)
                self.queued_rows += rows
                self.changed.notify_all()
        if inline:
            try:
                self._run_alone(task)
            finally:
                with self.lock:
                    self.running -= 1
                    self.changed.notify_all()  # a batch thread may take the slot for queued requests
        else:
            task.done.wait()
        if task.error is not None:
            raise task.error
        return task.result

    def close(self):
        """New requests run unbatched on their own threads; queued ones are still answered."""
        with self.lock:
            self.closed = True
            self.changed.notify_all()

    def _loop(self):
        while True:
            with self.lock:
                while not (self.pending and self.running < self.num_batch_threads):
                    if self.closed and not self.pending:
                        return
                    self.changed.wait()
                tasks = self._take()
                if not tasks:  # the queue or the slots changed while this thread waited for company
                    continue
                self.running += 1
            try:
                self._execute(tasks)
            finally:
                with self.lock:
                    self.running -= 1
                    self.changed.notify_all()

    def _take(self):
        """The next batch from the queue (lock held, queue not empty): oldest first, up to max_batch_size rows.

        With ``batch_timeout_s`` it first waits (lock released) for more rows; [] if meanwhile
        other batch threads took every queued request or every slot.
        """
        if self.batch_timeout_s > 0:
            deadline = time.monotonic() + self.batch_timeout_s
            while sum(t.rows for t in self.pending) < self.max_batch_size and not self.closed:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
                self.changed.wait(wait)
            if not self.pending or self.running >= self.num_batch_threads:
                return []  # taken, or the slots filled, while this thread waited
        tasks = [self.pending.popleft()]
        rows = tasks[0].rows
        while self.pending and rows + self.pending[0].rows <= self.max_batch_size:
            tasks.append(self.pending.popleft())
            rows += tasks[-1].rows
        self.queued_rows -= rows
        return tasks

    def _count_call(self):
        with self.lock:
            self.calls += 1

    def _execute(self, tasks):
        if len(tasks) == 1:
            return self._run_alone(tasks[0])
        try:
            merged = self._merge([t.arrays for t in tasks])
            self._count_call()
            out = self.run(merged)
        except Exception:
            for t in tasks:  # find the culprit(s): the others still get their answers
                self._run_alone(t)
            return None
        start = 0
        for t in tasks:
            self._answer(t, result={k: v[start : start + t.rows] for k, v in out.items()})
            start += t.rows
        return None

    def _run_alone(self, task):
        try:
            self._count_call()
            result = self.run(task.arrays)
        except Exception as err:
            self._answer(task, error=err)
        else:
            self._answer(task, result=result)

    @staticmethod
    def _answer(task, result=None, error=None):
        task.result, task.error = result, error
        task.done.set()

    def _merge(self, parts):
        merged = {}
        for name, axes in self.padded.items():
            arrays = [p[name] for p in parts]
            if axes:
                longest = [max(a.shape[i] for a in arrays) for i in range(arrays[0].ndim)]
                arrays = [
                    np.pad(a, [(0, longest[i] - a.shape[i]) if i in axes else (0, 0) for i in range(a.ndim)])
                    for a in arrays
                ]
            merged[name] = np.concatenate(arrays, axis=0)
        return merged
