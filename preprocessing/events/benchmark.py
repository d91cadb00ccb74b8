"""Generation throughput measurements: bare Pythia ``next()`` against the full pipeline
(``nextBatch`` + clustering and selection + observables) timed in alternating blocks, spawn-pool
runs of one shard per worker, and ``generate`` end to end. The command line with the
description of every rate is ``python -m preprocessing.benchmark``.
"""

import multiprocessing
import time

from preprocessing.console import c_stdout_to_stderr
from preprocessing.events.generator import generate, select_jets
from preprocessing.events.processes import PROCESSES
from preprocessing.events.pythia import make_pythia
from preprocessing.jets.clustering import add_observables
from preprocessing.jets.selection import SELECTIONS


def interleaved(process, n_events, block=200, seed=1):
    """Bare ``next()`` and the pipeline timed in alternating blocks of `block` events.

    Two Pythia instances with the same settings take turns, so a drift of the machine's speed
    (other jobs, CPU steal on a shared VM) affects both sides alike. Returns (bare events/s,
    pipeline events/s, ms per event of bare next, nextBatch, selection and observables, and the
    pipeline's process CPU time over its wall time: about 1 when it ran on one core, above 1 if
    threads, e.g. BLAS ones, did work on other cores); the observables are computed once over all
    selected jets, as a shard does.
    """
    sel = SELECTIONS[PROCESSES[process].preset]
    with c_stdout_to_stderr():
        bare_py = make_pythia(PROCESSES[process], seed)
        pipe_py = make_pythia(PROCESSES[process], seed + 1)
        for _ in range(20):  # warm-up
            bare_py.next()
        pipe_py.nextBatch(20)
        t_bare = t_batch = t_select = cpu = 0.0
        done, parts = 0, []
        while done < n_events:
            t0 = time.perf_counter()
            for _ in range(block):
                bare_py.next()
            t1 = time.perf_counter()
            c1 = time.process_time()
            batch = pipe_py.nextBatch(block)
            t2 = time.perf_counter()
            parts.append(select_jets(batch, PROCESSES[process], sel, observables_now=False))
            t3 = time.perf_counter()
            cpu += time.process_time() - c1
            t_bare += t1 - t0
            t_batch += t2 - t1
            t_select += t3 - t2
            done += block
        t0, c0 = time.perf_counter(), time.process_time()
        add_observables(parts)
        t_obs = time.perf_counter() - t0
        cpu += time.process_time() - c0
    pipeline = t_batch + t_select + t_obs
    ms = {
        k: round(1e3 * v / done, 4)
        for k, v in (
            ("bare_next_ms", t_bare),
            ("next_batch_ms", t_batch),
            ("select_ms", t_select),
            ("observables_ms", t_obs),
        )
    }
    return done / t_bare, done / pipeline, ms, cpu / pipeline


def worker_loop(task):
    """Generate `n_jets` selected jets like a shard does; returns (events, init seconds, loop seconds)."""
    process, n_jets, seed = task
    sel = SELECTIONS[PROCESSES[process].preset]
    with c_stdout_to_stderr():
        t0 = time.perf_counter()
        py = make_pythia(PROCESSES[process], seed)
        t1 = time.perf_counter()
        have = events = 0
        parts = []
        while have < n_jets:  # the loop of generate_shard
            batch = py.nextBatch(200)
            parts.append(select_jets(batch, PROCESSES[process], sel, observables_now=False))
            have += len(parts[-1]["event"])
            events += len(batch)
        add_observables(parts, n_jets)
        return events, t1 - t0, time.perf_counter() - t1


def pool_run(process, n_jets, workers, seed=10):
    """Wall-clock events/s of `workers` spawned workers, one shard of `n_jets` each, and their loop rates."""
    ctx = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ctx.Pool(workers) as pool:
        res = pool.map(worker_loop, [(process, n_jets, seed + i) for i in range(workers)])
    wall = time.perf_counter() - start
    return sum(r[0] for r in res) / wall, [r[0] / r[2] for r in res]


def pipeline_rate(process, n_jets, workers, shard_jets, seed=1):
    start = time.perf_counter()
    sample = generate(process, n_jets, seed=seed, workers=workers, shard_jets=shard_jets, progress=False)
    seconds = time.perf_counter() - start
    return sample.provenance["n_events"] / seconds, len(sample) / seconds, sample.provenance["n_events"]
