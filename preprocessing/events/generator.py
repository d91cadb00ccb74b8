"""The sharded generator: Pythia8 events -> selected jets -> a JetSample.

Per batch (``select_jets``): the visible final state of a ``nextBatch`` of Pythia events is
clustered and selected (``preprocessing.jets.clustering``), with truth matching where the process
asks for it. Per shard (``generate_shard``, the worker entry): batches until the shard holds its
jets, the observables computed once over all of them, the result optionally saved in the shard
cache (``preprocessing.events.shards``). ``generate`` cuts the work into shards, runs the missing
ones on a spawn pool of workers with a tqdm progress bar, and joins them with their provenance.
"""

import datetime
import multiprocessing
import pathlib
import sys

import numpy as np

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
    out = add_observables(parts, n_jets)  # once per shard: the per-call cost is then negligible
    if shard_file is not None:
        save_shard(pathlib.Path(shard_file), out, n_events)
    return out, n_events


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
    **options,
):
    """Generate `n_jets` jets of a process and return them as a JetSample.

    Args:
        process_name: one of PROCESSES, or a Process from ``make_process``.
        n_jets: number of jets (for event-level selections: an even number, two per event).
        seed: master seed; shard i uses ``shard_seeds(seed, n)[i]``.
        workers: worker processes (the output does not depend on it).
        shard_jets: jets per shard (part of the seed; even for event-level selections).
        selection: a Selection, a preset name from SELECTIONS, or None for the process default.
        batch_events: events per ``nextBatch`` call.
        progress: show a tqdm bar on stderr.
        cache_dir: folder keeping finished shards; a rerun with the same arguments reuses them.
        **options: mass options for ``make_process`` (w_mass=120, ...).
    """
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
    files = [None] * n_shards
    results = [None] * n_shards
    if cache_dir is not None:
        pathlib.Path(cache_dir).mkdir(parents=True, exist_ok=True)
        files = [shard_path(cache_dir, i, sizes[i], key) for i in range(n_shards)]
        for i, path in enumerate(files):
            if path.is_file():
                results[i] = load_shard(path)
    todo = [i for i in range(n_shards) if results[i] is None]
    tasks = [(process, sizes[i], seeds[i], i, selection, batch_events, files[i]) for i in todo]

    from tqdm import tqdm

    done = sum(sizes[i] for i in range(n_shards) if results[i] is not None)
    bar = tqdm(
        total=n_jets,
        initial=done,
        unit="jet",
        desc=f"generate {process.name}",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    if workers > 1 and len(tasks) > 1:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold TF threads
        with ctx.Pool(min(workers, len(tasks))) as pool:
            for i, res in zip(todo, pool.imap(generate_shard, tasks)):
                results[i] = res
                bar.update(len(res[0]["event"]))
    else:
        for i, task in zip(todo, tasks):
            results[i] = generate_shard(task)
            bar.update(len(results[i][0]["event"]))
    bar.close()

    arrays = {k: np.concatenate([r[0][k] for r in results]) for k in results[0][0]}
    n_events = sum(r[1] for r in results)
    provenance = {
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
    fixed = ("constituents", "n_constituents", "event")
    return JetSample(
        constituents=arrays["constituents"],
        n_constituents=arrays["n_constituents"],
        labels=np.zeros(len(arrays["event"]), dtype=np.int32),
        event=arrays["event"],
        jets={k: v.astype(np.float32) for k, v in arrays.items() if k not in fixed},
        label_names=[process.label],
        provenance=provenance,
    )
