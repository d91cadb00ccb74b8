"""Generate jet samples with Pythia8 + FastJet and write them in the project's sample format.

Selection (dillon2021, after the top-tagging reference sample): pp at 13 TeV without
multi-parton interactions, hadron level; visible final-state particles (no neutrinos) clustered
with anti-kT R = 0.8; of each event the two leading jets are kept if 550 < pT < 650 GeV and
|eta| < 2; a top jet must also contain, within dR < 0.8 of its axis, a parton-level top and all
three of that top's decay quarks (b, q, q').

Work is cut into shards of a fixed number of jets; shard i is seeded from
``SeedSequence(seed).spawn`` so the output depends on (process, n_jets, seed, shard size) and
not on the number of worker processes.

Usage::

    python -m preprocessing.generate --process top --n-jets 10000 --seed 1 --out top.h5 --workers 2
"""

import argparse
import contextlib
import dataclasses
import datetime
import multiprocessing
import os
import sys

import numpy as np

from preprocessing import physics
from preprocessing.errors import DataError
from preprocessing.sample import JetSample, write_sample
from preprocessing.version import code_version

NEUTRINOS = (12, 14, 16)
COMMON_SETTINGS = (
    "Beams:eCM = 13000",
    "PartonLevel:MPI = off",
    "Print:quiet = on",
    "Next:numberCount = 0",
)


@dataclasses.dataclass(frozen=True)
class Selection:
    """Jet definition and cuts; the defaults are dillon2021's."""

    jet_radius: float = 0.8
    pt_min: float = 550.0
    pt_max: float = 650.0
    abs_eta_max: float = 2.0
    max_constituents: int = 200
    match_radius: float = 0.8
    jets_per_event: int = 2


@dataclasses.dataclass(frozen=True)
class Process:
    """A Pythia8 process: its settings, the class label of its jets and its truth matching."""

    label: str
    settings: tuple
    matching: str = ""  # "" (none) or "top"
    description: str = ""


PROCESSES = {
    "qcd": Process(
        label="qcd",
        settings=("HardQCD:all = on", "PhaseSpace:pTHatMin = 500"),
        description="hard QCD 2->2 dijets, pTHat > 500 GeV",
    ),
    "top": Process(
        label="top",
        settings=(
            "NewGaugeBoson:ffbar2gmZZprime = on",
            "Zprime:gmZmode = 3",  # pure Z', no gamma*/Z interference
            "32:m0 = 1300",  # tops from a 1.3 TeV Z' peak at pT ~ 600 GeV
            "32:onMode = off",
            "32:onIfAny = 6",
            "24:onMode = off",
            "24:onIfAny = 1 2 3 4 5",  # all-hadronic W decays
        ),
        matching="top",
        description="Z'(1.3 TeV) -> t tbar, all-hadronic",
    ),
}


def shard_seeds(seed, n_shards):
    """Pythia seeds (1 .. 9e8) for shards 0..n-1; shard i's seed does not depend on n_shards."""
    children = np.random.SeedSequence(seed).spawn(n_shards)
    return [int(c.generate_state(1)[0] % 900_000_000) + 1 for c in children]


def _make_pythia(process, seed):
    import pythia8mc

    py = pythia8mc.Pythia("", False)
    for line in COMMON_SETTINGS + process.settings + ("Random:setSeed = on", f"Random:seed = {seed}"):
        if not py.readString(line):
            raise DataError(f"Pythia rejected the setting {line!r}")
    if not py.init():
        raise DataError(f"Pythia failed to initialise process {process.label!r}")
    return py


def _flat_index(counts):
    """Offsets of each event's first particle in the flattened record."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def _last_copy(idx, ids, d1, d2, offsets_of):
    """Follow a particle through its shower copies (daughter with the same id) to the last one."""
    idx = idx.copy()
    for _ in range(200):
        off = offsets_of[idx]
        a = np.where(d1[idx] > 0, d1[idx] + off, idx)
        b = np.where(d2[idx] > 0, d2[idx] + off, idx)
        nxt = np.where(ids[a] == ids[idx], a, np.where(ids[b] == ids[idx], b, idx))
        if np.all(nxt == idx):
            return idx
        idx = nxt
    raise RuntimeError("shower-copy chain longer than 200 entries")


def top_partons(prt):
    """Per event, up to two hard tops (just before decay) and their decay quarks (b, q, q').

    Returns four-vectors (E, px, py, pz): tops of shape (events, 2, 4) and quarks of shape
    (events, 2, 3, 4); missing entries are NaN so every comparison with them is False.
    """
    import awkward as ak

    counts = ak.to_numpy(ak.num(prt.id))
    offsets = _flat_index(counts)
    ev_of = np.repeat(np.arange(len(counts)), counts)
    ids = ak.to_numpy(ak.flatten(prt.id))
    status = ak.to_numpy(ak.flatten(prt.status))
    d1 = ak.to_numpy(ak.flatten(prt.daughter1)).astype(np.int64)
    d2 = ak.to_numpy(ak.flatten(prt.daughter2)).astype(np.int64)
    p4 = np.stack([ak.to_numpy(ak.flatten(getattr(prt.p, c))) for c in ("e", "px", "py", "pz")], -1)
    offsets_of = offsets[ev_of]

    n_ev = len(counts)
    top_p4 = np.full((n_ev, 2, 4), np.nan)
    quark_p4 = np.full((n_ev, 2, 3, 4), np.nan)

    tops = np.nonzero((np.abs(ids) == 6) & (status == -22))[0]
    if len(tops) == 0:
        return top_p4, quark_p4
    tops = _last_copy(tops, ids, d1, d2, offsets_of)
    off = offsets_of[tops]
    da, db = d1[tops] + off, d2[tops] + off
    w = np.where(np.abs(ids[da]) == 24, da, db)
    b = np.where(np.abs(ids[da]) == 24, db, da)
    ok = (d1[tops] > 0) & (d2[tops] > d1[tops]) & (np.abs(ids[w]) == 24) & (np.abs(ids[b]) <= 5)
    w = _last_copy(w, ids, d1, d2, offsets_of)
    qa, qb = d1[w] + offsets_of[w], d2[w] + offsets_of[w]
    ok &= (d1[w] > 0) & (np.abs(ids[qa]) <= 5) & (np.abs(ids[qb]) <= 5)

    ev = ev_of[tops]
    slot = np.zeros(len(tops), dtype=np.int64)  # first or second top of its event
    slot[1:] = (ev[1:] == ev[:-1]).astype(np.int64)
    keep = ok & (slot < 2)
    ev, slot = ev[keep], slot[keep]
    t = tops[keep]
    quarks = np.stack([b[keep], qa[keep], qb[keep]], axis=1)  # (tops, 3)
    top_p4[ev, slot] = p4[t]
    quark_p4[ev, slot] = p4[quarks]
    return top_p4, quark_p4


def select_jets(batch, process, sel):
    """Cluster one batch of Pythia events and return the selected jets as numpy arrays.

    Returns a dict with 'constituents' (jets, P, 4), 'n_constituents', 'event' (index in the
    batch) and the jet kinematics.
    """
    import awkward as ak
    import fastjet

    prt = batch.prt
    visible = (prt.status > 0) & (abs(prt.id) != NEUTRINOS[0]) & (abs(prt.id) != NEUTRINOS[1]) & (
        abs(prt.id) != NEUTRINOS[2])
    fs = prt.p[visible]
    particles = ak.zip({"px": fs.px, "py": fs.py, "pz": fs.pz, "E": fs.e})
    cluster = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.antikt_algorithm, sel.jet_radius))
    # jets below half the window cannot pass, and cannot displace a passing jet from the leading two
    jets = cluster.inclusive_jets(min_pt=0.5 * sel.pt_min)
    index = cluster.constituent_index(min_pt=0.5 * sel.pt_min)
    order = ak.argsort(np.hypot(jets.px, jets.py), ascending=False)
    jets = jets[order][:, : sel.jets_per_event]
    index = index[order][:, : sel.jets_per_event]

    n_per_event = ak.to_numpy(ak.num(jets))
    event = np.repeat(np.arange(len(n_per_event)), n_per_event)
    j4 = np.stack([ak.to_numpy(ak.flatten(getattr(jets, c))) for c in ("E", "px", "py", "pz")], -1)
    j4 = j4.reshape(-1, 4)
    jpt, jeta, jphi = physics.pt(j4), physics.eta(j4), physics.phi(j4)
    keep = (jpt > sel.pt_min) & (jpt < sel.pt_max) & (np.abs(jeta) < sel.abs_eta_max)

    if process.matching == "top":
        tops, quarks = top_partons(prt)
        tops, quarks = tops[event], quarks[event]  # (jets, 2, 4), (jets, 2, 3, 4)
        dr_top = physics.delta_r(jeta[:, None], jphi[:, None], physics.eta(tops), physics.phi(tops))
        dr_q = physics.delta_r(jeta[:, None, None], jphi[:, None, None], physics.eta(quarks), physics.phi(quarks))
        with np.errstate(invalid="ignore"):
            matched = (dr_top < sel.match_radius) & np.all(dr_q < sel.match_radius, axis=-1)
        keep &= np.any(matched, axis=-1)

    chosen = np.nonzero(keep)[0]
    flat_index = ak.flatten(index, axis=1)[chosen]
    ev_of_jet = event[chosen]
    cons = {c: fs[ev_of_jet][c][flat_index] for c in ("e", "px", "py", "pz")}
    order = ak.argsort(np.hypot(cons["px"], cons["py"]), ascending=False)
    n_const = np.minimum(ak.to_numpy(ak.num(order)), sel.max_constituents)
    padded = [
        ak.to_numpy(ak.fill_none(ak.pad_none(cons[c][order], sel.max_constituents, clip=True), 0.0))
        for c in ("e", "px", "py", "pz")
    ]
    constituents = np.stack(padded, -1).reshape(len(chosen), sel.max_constituents, 4)
    j = j4[chosen]
    return {
        "constituents": constituents.astype(np.float32),
        "n_constituents": n_const.astype(np.int32),
        "event": ev_of_jet.astype(np.int64),
        "pt": jpt[chosen], "eta": jeta[chosen], "phi": jphi[chosen],
        "mass": physics.mass(j), "energy": j[:, 0],
    }


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send C/C++ output on file descriptor 1 (Pythia's and FastJet's banners) to stderr.

    Commands keep stdout for their results (the fit command's JSON summary)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def generate_shard(task):
    """Worker entry: generate `n_jets` selected jets for one shard. Returns (arrays, n_events)."""
    process_name, n_jets, seed, shard, sel, batch_events = task
    process = PROCESSES[process_name]
    parts, have, n_events = [], 0, 0
    with _stdout_to_stderr():  # Pythia and FastJet print banners from C++
        py = _make_pythia(process, seed)
        while have < n_jets:
            batch = py.nextBatch(batch_events)
            got = select_jets(batch, process, sel)
            got["event"] += n_events + shard * 10**9
            n_events += len(batch)
            parts.append(got)
            have += len(got["event"])
            if have == 0 and n_events >= 200 * batch_events:
                raise DataError(f"process {process_name!r}: no jet passed the selection in {n_events} events "
                                f"({sel}); the cuts select nothing")
    out = {k: np.concatenate([p[k] for p in parts])[:n_jets] for k in parts[0]}
    return out, n_events


def generate(process_name, n_jets, seed=1, workers=1, shard_jets=1000, selection=Selection(),
             batch_events=200, progress=True):
    """Generate `n_jets` jets of `process_name` and return them as a JetSample."""
    if process_name not in PROCESSES:
        raise DataError(f"unknown process {process_name!r}; choose from {sorted(PROCESSES)}")
    if n_jets <= 0:
        raise DataError(f"--n-jets must be positive, got {n_jets}")
    process = PROCESSES[process_name]
    n_shards = -(-n_jets // shard_jets)
    seeds = shard_seeds(seed, n_shards)
    sizes = [min(shard_jets, n_jets - i * shard_jets) for i in range(n_shards)]
    tasks = [(process_name, sizes[i], seeds[i], i, selection, batch_events) for i in range(n_shards)]

    from tqdm import tqdm

    bar = tqdm(total=n_jets, unit="jet", desc=f"generate {process_name}", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    results = []
    if workers > 1 and n_shards > 1:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold TF threads
        with ctx.Pool(min(workers, n_shards)) as pool:
            for res in pool.imap(generate_shard, tasks):
                results.append(res)
                bar.update(len(res[0]["event"]))
    else:
        for task in tasks:
            results.append(generate_shard(task))
            bar.update(len(results[-1][0]["event"]))
    bar.close()

    arrays = {k: np.concatenate([r[0][k] for r in results]) for k in results[0][0]}
    n_events = sum(r[1] for r in results)
    provenance = {
        "generator": "pythia8mc " + _pythia_version(),
        "process": process_name,
        "process_description": process.description,
        "settings": list(COMMON_SETTINGS + process.settings),
        "selection": dataclasses.asdict(selection),
        "matching": process.matching or "none",
        "seed": seed,
        "shard_jets": shard_jets,
        "shard_seeds": seeds,
        "n_events": n_events,
        "code_version": code_version(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return JetSample(
        constituents=arrays["constituents"],
        n_constituents=arrays["n_constituents"],
        labels=np.zeros(len(arrays["event"]), dtype=np.int32),
        event=arrays["event"],
        jets={k: arrays[k].astype(np.float32) for k in ("pt", "eta", "phi", "mass", "energy")},
        label_names=[process.label],
        provenance=provenance,
    )


def _pythia_version():
    from importlib import metadata

    try:
        return metadata.version("pythia8mc")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m preprocessing.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--process", required=True, choices=sorted(PROCESSES))
    parser.add_argument("--n-jets", type=int, required=True, help="number of selected jets to write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="output .h5 file (written atomically)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--shard-jets", type=int, default=1000, help="jets per shard (part of the seed)")
    args = parser.parse_args(argv)
    try:
        sample = generate(args.process, args.n_jets, args.seed, args.workers, args.shard_jets)
        write_sample(args.out, sample)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(sample)} {args.process} jets from {sample.provenance['n_events']} events to {args.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
