"""The sharded generator: Pythia8 events -> selected jets -> a JetSample.

Per batch (``select_jets``): the visible final state of a ``nextBatch`` of Pythia events is
clustered and selected (``preprocessing.jets.clustering``), with truth matching where the process
asks for it. Per shard (``generate_shard``, the worker entry): batches until the shard holds its
jets, the observables computed once over all of them, the result optionally saved in the shard
cache (``preprocessing.events.shards``). ``generate`` cuts the work into shards, runs the missing
ones as Dask tasks (``preprocessing.tasks``: a local cluster, a remote scheduler, or serially
here) with a tqdm progress bar, and joins them with their provenance; ``generate_to_file``
streams them, in shard order, into a sample file (``SampleWriter``) without holding the sample.
Shard i's seed depends only on (seed, i), so the output does not depend on where shards ran.
"""

import contextlib
import datetime
import pathlib

import numpy as np
from threadpoolctl import threadpool_limits

from preprocessing.console import c_stdout_to_stderr
from preprocessing.errors import DataError
from preprocessing.events.matching import top_match
from preprocessing.events.processes import (
    COMMON_SETTINGS,
    make_process,
    resolve_process,
)
from preprocessing.events.pythia import make_pythia, pythia_version, visible_final_state
from preprocessing.events.shards import (
    load_shard,
    save_shard,
    shard_key,
    shard_path,
    shard_seeds,
)
from preprocessing.jets.clustering import add_observables, cluster_flat
from preprocessing.jets.selection import SELECTIONS, selection_record
from preprocessing.samples.format import JetSample
from preprocessing.version import code_version


def select_jets(batch, process, sel, observables_now=True):
    """Cluster one batch of Pythia events and return the selected jets as numpy arrays.

    Args:
        batch: a pythia8mc ``nextBatch`` result.
        process: a Process or a process name (for its truth matching).
        sel: the Selection.
        observables_now: compute the observables here (else see ``cluster_and_select``).

    Returns:
        the dict of ``cluster_and_select``; 'event' is the index in the batch.
    """
    process = resolve_process(process)
    prt = batch["prt"]
    offsets, columns = visible_final_state(prt)
    match = top_match(prt, sel.match_radius) if process.matching == "top" else None
    return cluster_flat(offsets, columns, sel, match, observables_now)


def generate_shard(task):
    """Worker entry: generate `n_jets` selected jets for one shard. Returns (arrays, n_events).

    `task` is (process, n_jets, seed, shard, selection, batch_events[, shard_file]); with a
    shard file the result is also saved there, so it survives an interruption of the run.
    """
    process, n_jets, seed, shard, sel, batch_events = task[:6]
    shard_file = task[6] if len(task) > 6 else None
    process = resolve_process(process)
    parts, have, n_events = [], 0, 0
    # parton-level input: two events per wanted jet leaves a wide margin over the ~75 % of
    # W' events with two jets passing the LHCO selection
    lhe_events = 2 * n_jets + 200
    with c_stdout_to_stderr():  # Pythia and FastJet print banners from C++
        py = make_pythia(process, seed, lhe_events=lhe_events)
        while have < n_jets:
            # the first batch is kept small for small shards; the output does not depend on it
            size = min(batch_events, max(20, 2 * n_jets))
            if have:
                # near the end of the shard ask only for about the events still needed (+20 %):
                # the jets kept are the first n_jets of the event stream whatever the batching
                size = int(np.clip(1.2 * (n_jets - have) * n_events / have + 10, 20, batch_events))
            if process.lhe:
                # a bounded number of tries: at the end of the event file 'skip' would retry forever
                try:
                    batch = py.nextBatch(size, 2.0)
                except RuntimeError as err:
                    raise DataError(
                        f"process {process.name!r}: the {lhe_events} parton-level events of shard "
                        f"{shard} ran out before {n_jets} jets were selected ({err})"
                    ) from None
            else:
                batch = py.nextBatch(size)
            got = select_jets(batch, process, sel, observables_now=False)
            got["event"] += n_events + shard * 10**9
            n_events += len(batch)
            parts.append(got)
            have += len(got["event"])
            if have == 0 and n_events >= 200 * batch_events:
                raise DataError(
                    f"process {process.name or process.label!r}: no jet passed the selection in "
                    f"{n_events} events ({sel}); the cuts select nothing"
                )
    # once per shard: the per-call cost is then negligible. One BLAS thread: a threaded BLAS splits
    # the float32 matrix products of D2 by thread count, which changes its last bit (measured on
    # ~3 % of jets), and a shard must give the same bits on any machine and worker
    with threadpool_limits(1):
        out = add_observables(parts, n_jets)
    if shard_file is not None:
        save_shard(pathlib.Path(shard_file), out, n_events)
    return out, n_events


def _plan(process_name, n_jets, seed, shard_jets, selection, batch_events, options):
    """(process, selection, shard seeds, shard sizes, shard key) of a run, after checking its arguments."""
    process = make_process(process_name, **options) if options else resolve_process(process_name)
    if selection is None:
        selection = SELECTIONS[process.preset]
    elif isinstance(selection, str):
        if selection not in SELECTIONS:
            raise DataError(f"unknown selection preset {selection!r}; choose from {sorted(SELECTIONS)}")
        selection = SELECTIONS[selection]
    if n_jets <= 0:
        raise DataError(f"--n-jets must be positive, got {n_jets}")
    if selection.event_level and (n_jets % 2 or shard_jets % 2):
        raise DataError(
            f"event-level samples hold two jets per event: --n-jets ({n_jets}) and --shard-jets "
            f"({shard_jets}) must be even"
        )
    n_shards = -(-n_jets // shard_jets)
    seeds = shard_seeds(seed, n_shards)
    sizes = [min(shard_jets, n_jets - i * shard_jets) for i in range(n_shards)]
    key = shard_key(process, selection, seed, shard_jets, batch_events)
    return process, selection, seeds, sizes, key


def _shards(process, selection, seeds, sizes, key, batch_events, cache_dir, workers, scheduler, progress):
    """(arrays, n_events) of every shard, in shard order, generating the missing ones as Dask tasks.

    With a `cache_dir`, finished shards are saved there (by this process, so workers need no shared
    disk) and read back one at a time, in order, once every shard is done: memory holds about one
    shard, and a run killed while generating leaves only whole shards behind. Without a cache,
    shards are handed on as soon as their predecessors are; early ones wait in memory.
    """
    from preprocessing.tasks import run_tasks

    n_shards = len(sizes)
    files = [None] * n_shards
    cached = set()
    if cache_dir is not None:
        pathlib.Path(cache_dir).mkdir(parents=True, exist_ok=True)
        files = [shard_path(cache_dir, i, sizes[i], key) for i in range(n_shards)]
        # a damaged file (a disk that filled up) counts as missing and is generated again
        cached = {i for i, path in enumerate(files) if path.is_file() and load_shard(path) is not None}
    todo = [i for i in range(n_shards) if i not in cached]
    tasks = [(process, sizes[i], seeds[i], i, selection, batch_events) for i in todo]
    labels = [f"{process.name or process.label} shard {i} (seed {seeds[i]}, {sizes[i]} jets)" for i in todo]
    finished = run_tasks(
        generate_shard,
        tasks,
        labels,
        scheduler=scheduler,
        workers=workers,
        desc=f"generate {process.name}",
        unit="jet",
        sizes=[sizes[i] for i in todo],
        initial=sum(sizes[i] for i in cached),
        total=sum(sizes),
        progress=progress,
    )
    if cache_dir is not None:
        with contextlib.closing(finished):  # a failed save ends the progress bar before the error is shown
            for k, result in finished:
                save_shard(files[todo[k]], *result)
        for i, path in enumerate(files):
            result = load_shard(path)
            if result is None:
                raise DataError(f"{path}: shard {i} cannot be read back (disk full?); run again to redo it")
            yield result
        return
    held, upcoming = {}, 0  # shards finished before their predecessors
    for k, result in finished:
        held[todo[k]] = result
        while upcoming in held:
            yield held.pop(upcoming)
            upcoming += 1


def _provenance(process, selection, seed, shard_jets, seeds, n_events):
    return {
        "generator": "pythia8mc " + pythia_version(),
        "process": process.name,
        "process_description": process.description,
        "process_options": dict(process.options),
        "settings": list(COMMON_SETTINGS + process.settings),
        "parton_level_events": {"module": "preprocessing.events.lhe", **dict(process.lhe)} if process.lhe else None,
        "selection": selection_record(selection),
        "matching": process.matching or "none",
        "observables": "tau_N: unnormalised N-subjettiness, beta=1, exclusive-kT axes; d2: beta=1",
        "seed": seed,
        "shard_jets": shard_jets,
        "shard_seeds": seeds,
        "n_events": n_events,
        "code_version": code_version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


_FIXED = ("constituents", "n_constituents", "event")


def _chunk(arrays, label):
    """A JetSample of one shard's arrays (the layout of the sample file)."""
    return JetSample(
        constituents=arrays["constituents"],
        n_constituents=arrays["n_constituents"],
        labels=np.zeros(len(arrays["event"]), dtype=np.int32),
        event=arrays["event"],
        jets={k: v.astype(np.float32) for k, v in arrays.items() if k not in _FIXED},
        label_names=[label],
        provenance={},
    )


def generate(
    process_name,
    n_jets,
    seed=1,
    workers=1,
    shard_jets=1000,
    selection=None,
    batch_events=200,
    progress=True,
    cache_dir=None,
    scheduler=None,
    **options,
):
    """Generate `n_jets` jets of a process and return them as a JetSample (in memory).

    Args:
        process_name: one of PROCESSES, or a Process from ``make_process``.
        n_jets: number of jets (for event-level selections: an even number, two per event).
        seed: master seed; shard i uses ``shard_seeds(seed, n)[i]``.
        workers: Dask worker processes of a local cluster; 1 runs the shards here, in order
            (the output does not depend on it).
        shard_jets: jets per shard (part of the seed; even for event-level selections).
        selection: a Selection, a preset name from SELECTIONS, or None for the process default.
        batch_events: events per ``nextBatch`` call.
        progress: show a tqdm bar on stderr.
        cache_dir: folder keeping finished shards; a rerun with the same arguments reuses them.
        scheduler: None, 'serial' or a Dask scheduler address (``preprocessing.tasks``).
        **options: mass options for ``make_process`` (w_mass=120, ...).
    """
    process, selection, seeds, sizes, key = _plan(
        process_name, n_jets, seed, shard_jets, selection, batch_events, options
    )
    results = list(
        _shards(process, selection, seeds, sizes, key, batch_events, cache_dir, workers, scheduler, progress)
    )
    arrays = {k: np.concatenate([r[0][k] for r in results]) for k in results[0][0]}
    sample = _chunk(arrays, process.label)
    sample.provenance = _provenance(process, selection, seed, shard_jets, seeds, sum(r[1] for r in results))
    return sample


def generate_to_file(
    out,
    process_name,
    n_jets,
    seed=1,
    workers=None,
    shard_jets=1000,
    selection=None,
    batch_events=200,
    progress=True,
    cache_dir=None,
    scheduler=None,
    **options,
):
    """Generate like ``generate`` and stream the shards, in order, into the sample file `out`.

    Memory holds one shard at a time (plus shards that finished early when there is no
    `cache_dir`); the file is written atomically and holds the same arrays as
    ``write_sample(out, generate(...))``. Returns (path, jets, events).
    """
    from preprocessing.samples.format import SampleWriter

    process, selection, seeds, sizes, key = _plan(
        process_name, n_jets, seed, shard_jets, selection, batch_events, options
    )
    shards = _shards(process, selection, seeds, sizes, key, batch_events, cache_dir, workers, scheduler, progress)
    n_events, writer = 0, None
    try:
        for arrays, events in shards:
            chunk = _chunk(arrays, process.label)
            if writer is None:
                writer = SampleWriter(out, chunk.label_names, {}, n_particles=chunk.constituents.shape[1])
            writer.append(chunk)
            n_events += events
        writer.provenance = _provenance(process, selection, seed, shard_jets, seeds, n_events)
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return pathlib.Path(out), writer.n, n_events
