"""Server-side batching of concurrent requests on one signature (like TF Serving's ``--enable_batching``).

Requests wait in a queue; one worker thread takes every request queued (up to ``max_batch_size``
rows in all), concatenates their inputs along the batch axis, runs the graph once and hands each
request its slice of the outputs. With no competition a request runs at once (there is no
fixed wait unless ``batch_timeout_s`` asks for one); under load, the requests that arrive while
a batch runs form the next batch, so many small requests do not cost one graph call each.

Inputs whose signature leaves a non-batch dimension open (raw constituents: ``(jets, None, 4)``)
are zero padded to the longest request; such padding is masked by the constituent counts. If a
merged batch fails (one request holds a jet with no constituents), every request in it is run
alone, so only the bad request gets the error.
"""

import queue
import threading
import time
from concurrent.futures import Future

import numpy as np


class _Task:
    __slots__ = ("arrays", "rows", "future")

    def __init__(self, arrays, rows):
        self.arrays, self.rows, self.future = arrays, rows, Future()


class Batcher:
    """Batches calls of `run(arrays) -> {output: array}` for one signature.

    Args:
        run: the unbatched call, {input name: (rows, ...) array} -> {output name: (rows, ...) array}.
        input_specs: {input name: TensorSpec}; dimensions that are None beyond the first are padded.
        max_batch_size: most rows merged into one call (a larger request runs alone).
        batch_timeout_s: how long the first request of a batch waits for company (0: not at all).
    """

    def __init__(self, run, input_specs, max_batch_size=256, batch_timeout_s=0.0, name="batcher"):
        self.run = run
        self.padded = {
            n: [i for i, d in enumerate(s.shape.as_list()) if d is None and i > 0] for n, s in input_specs.items()
        }
        self.max_batch_size = max_batch_size
        self.batch_timeout_s = batch_timeout_s
        self.queue = queue.Queue()
        self.calls = 0  # graph calls made, for tests and the benchmark
        self.closed = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def submit(self, arrays, rows):
        """Run `arrays` (with `rows` rows) in some batch; blocks until done; returns the outputs."""
        if self.closed:
            return self.run(arrays)
        task = _Task(arrays, rows)
        self.queue.put(task)
        return task.future.result()

    def close(self):
        self.closed = True
        self.queue.put(None)

    def _collect(self, first):
        tasks, rows = [first], first.rows
        deadline = time.monotonic() + self.batch_timeout_s
        while rows < self.max_batch_size:
            try:
                wait = deadline - time.monotonic()
                task = self.queue.get(timeout=wait) if wait > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            if task is None:
                self.queue.put(None)
                break
            if rows + task.rows > self.max_batch_size:
                self.queue.put(task)  # goes in the next batch, after the ones queued now
                break
            tasks.append(task)
            rows += task.rows
        return tasks

    def _loop(self):
        while True:
            first = self.queue.get()
            if first is None:
                return
            tasks = self._collect(first)
            if len(tasks) == 1:
                self._run_alone(tasks[0])
                continue
            try:
                merged = self._merge([t.arrays for t in tasks])
                self.calls += 1
                out = self.run(merged)
            except Exception:
                for t in tasks:  # find the culprit(s): the others still get their answers
                    self._run_alone(t)
                continue
            start = 0
            for t in tasks:
                t.future.set_result({k: v[start : start + t.rows] for k, v in out.items()})
                start += t.rows

    def _run_alone(self, task):
        try:
            self.calls += 1
            task.future.set_result(self.run(task.arrays))
        except Exception as err:
            task.future.set_exception(err)

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
