"""Energy mover's distance between each jet and its reconstruction: cheng2020's EMD anomaly score.

T. Cheng, J.-F. Arguin, J. Leissner-Martin, J. Pilette, T. Golling, "Variational Autoencoders for
Anomalous Jet Tagging", arXiv:2007.01850, Sec. III A ("Anomaly Metric"), Eq. 6, with the jets'
pT normalised so that Eq. 6's energy-difference term vanishes, and R = 1.

For jets a and b given as constituents (pT_i, eta_i, phi_i) and (pT'_j, eta'_j, phi'_j),

    EMD(a, b) = min_{f_ij >= 0} sum_ij f_ij * theta_ij / R,
    sum_j f_ij = w_i = pT_i / sum_k pT_k,   sum_i f_ij = w'_j = pT'_j / sum_k pT'_k,
    theta_ij = sqrt((eta_i - eta'_j)^2 + (phi_i - phi'_j)^2),   R = 1,

which is ``energyflow.emd.emd(a, b, R=1.0, norm=True)`` exactly: the same ``wasserstein.EMD``
network-simplex solver with the same settings (beta = 1, weights normalised, Euclidean ground
distance in (eta, phi) with no wrapping of phi, ``n_iter_max`` 100000, ``epsilon_large_factor``
1e4, ``epsilon_small_factor`` 1), so the numbers agree to rounding (a test holds them to 1e-9).
With normalised weights the EMD lies in [0, max theta / R]; 0 means the reconstruction carries the
jet's pT to the same places. Larger = more anomalous, like every score here.

Why not ``energyflow.emd.emd`` itself: it builds a new solver on every call, and
``energyflow.emd.emds`` solves the full N x M matrix of pairs (the wrong problem for per-jet
scores). Here one solver is built per process and reused for every jet; jets are split into
chunks spread over processes (``spawn``, so no process forks TensorFlow's threads), each with its
own solver made by the pool's initializer. Starting spawned processes takes about a second, so
the pool is kept for later calls in the same process (an evaluation scores many test sets) and
stopped at exit or by ``shutdown_pools()``. The solver holds the GIL, so threads would not help.

Padding: a constituent with pT = 0 (the zero rows of the ``constituents`` representation) is not a
particle and is dropped. A reconstruction keeps every row with pT > 0, also rows where the input
was padded: a decoder that puts momentum there reconstructs the jet worse, and the EMD says so.
The conversion from (E, px, py, pz) uses the three-momentum only (pT, pseudorapidity, azimuth):
a decoder's E need not match its momentum, and the score does not read it.

Functions:

* ``pt_eta_phi(p4)``: (..., 4) four-vectors -> (..., 3) (pT, eta, phi).
* ``paired_emd(jets_a, jets_b, workers)``: EMD of jet i of a with jet i of b, for (jets, particles, 3)
  arrays in (pT, eta, phi).
* ``four_vector_emd(p4_a, p4_b, workers)``: the same for (jets, particles, 4) (E, px, py, pz).
* ``emd_scores(model, inputs, workers)``: EMD of every jet with the in-memory model's
  ``reconstruction``.
* ``export_emd_scores(loaded, card, sample, source, workers)``: the same through an export's
  ``reconstruction`` signature (``python -m training.score --emd``).
"""

import atexit
import concurrent.futures
import math
import multiprocessing
import numbers
import os
import sys

import numpy as np

from preprocessing.errors import DataError
from preprocessing.jets import physics

R = 1.0  # cheng2020, Eq. 6: "R is a weight parameter and is set to be 1.0"
RECONSTRUCTION = "reconstruction"  # the export signature and its output
SCORE_NAME = "emd"
# energyflow.emd.emd's network-simplex settings (its defaults differ from wasserstein's own)
SIMPLEX_PARAMS = {"n_iter_max": 100000, "epsilon_large_factor": 10000.0, "epsilon_small_factor": 1.0}
# one core does ~20k jets/s (47 us CPU per jet measured) and starting a spawned worker costs ~0.3 s CPU
# (more wall time on a busy machine): below this many jets one process in place is as fast
PARALLEL_MIN_JETS = 20000

_SOLVER = None  # this process's one wasserstein.EMD, built on first use or by the pool initializer
_POOLS = {}  # workers -> ProcessPoolExecutor, kept for the next call (a spawned pool takes about a second)


def new_solver(radius=R):
    """A ``wasserstein.EMD`` set up as ``energyflow.emd.emd(..., R=radius, norm=True)`` sets up its own."""
    import wasserstein

    solver = wasserstein.EMD(radius, 1.0, True)  # R, beta, norm
    solver.set_network_simplex_params(
        SIMPLEX_PARAMS["n_iter_max"], SIMPLEX_PARAMS["epsilon_large_factor"], SIMPLEX_PARAMS["epsilon_small_factor"]
    )
    return solver


def _process_solver(radius):
    """This process's solver for `radius`, made once and reused."""
    global _SOLVER
    if _SOLVER is None or _SOLVER.R() != radius:
        _SOLVER = new_solver(radius)
    return _SOLVER


def _init_worker(radius):
    _process_solver(radius)


def _pool(workers):
    """This process's pool of `workers` EMD processes, started on first use and reused."""
    pool = _POOLS.get(workers)
    if pool is None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold TF threads
        pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(R,))
        _POOLS[workers] = pool
    return pool


@atexit.register
def shutdown_pools():
    """Stop the worker processes kept for later calls (also done at exit)."""
    while _POOLS:
        _, pool = _POOLS.popitem()
        pool.shutdown(cancel_futures=True)


def default_workers():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pt_eta_phi(p4):
    """(..., 3) float64 (pT, eta, phi) of (..., 4) four-vectors (E, px, py, pz); E is not used."""
    p4 = np.asarray(p4, np.float64)
    return np.stack([physics.pt(p4), physics.eta(p4), physics.phi(p4)], axis=-1)


def _compact(jets):
    """Weights (jets, particles), coordinates (jets, particles, 2) with real particles first, and counts.

    Rows with pT = 0 are padding; a stable sort moves the real rows to the front (a no-op for
    hardest-first jets), so each jet is a contiguous prefix the solver reads without a copy.
    """
    valid = jets[..., 0] > 0  # (jets, particles)
    order = np.argsort(~valid, axis=1, kind="stable")
    jets = np.take_along_axis(jets, order[..., None], axis=1)
    weights = np.ascontiguousarray(jets[..., 0])
    coords = np.ascontiguousarray(jets[..., 1:])
    return weights, coords, valid.sum(axis=1)


def _emd_chunk(task):
    """EMDs of one chunk: task = (jets_a, jets_b, four_vectors, radius, first jet index)."""
    jets_a, jets_b, four_vectors, radius, first = task
    if four_vectors:
        jets_a, jets_b = pt_eta_phi(jets_a), pt_eta_phi(jets_b)
    wa, ca, na = _compact(np.asarray(jets_a, np.float64))
    wb, cb, nb = _compact(np.asarray(jets_b, np.float64))
    solver = _process_solver(radius)
    out = np.empty(len(wa))
    for i in range(len(wa)):  # the one Python step per jet: slice views into the solver
        a, b = na[i], nb[i]
        try:
            out[i] = solver(wa[i, :a], ca[i, :a], wb[i, :b], cb[i, :b])
        except RuntimeError as err:  # the solver's status (infeasible, iteration limit)
            raise DataError(f"EMD of jet {first + i} failed: {err}") from None
    return out


def _check(jets, name, four_vectors):
    """Shape, finiteness and at least one particle per jet; returns float arrays (no copy when possible)."""
    jets = np.asarray(jets)
    width = 4 if four_vectors else 3
    what = "(E, px, py, pz)" if four_vectors else "(pT, eta, phi)"
    if jets.ndim != 3 or jets.shape[-1] != width:
        raise DataError(f"{name}: expected shape (jets, particles, {width}) as {what}, got {jets.shape}")
    if not np.issubdtype(jets.dtype, np.floating):
        jets = jets.astype(np.float64)
    finite = np.isfinite(jets).all(axis=(1, 2))
    if not finite.all():
        bad = np.nonzero(~finite)[0]
        raise DataError(f"{name}: jet {int(bad[0])} has NaN or infinite values ({len(bad)} such jets)")
    pt = physics.pt(jets) if four_vectors else jets[..., 0]
    if not four_vectors and (pt < 0).any():
        jet = int(np.argwhere(pt < 0)[0][0])
        raise DataError(f"{name}: jet {jet} has a constituent with negative pT ({pt[pt < 0][0]:g})")
    empty = ~(pt > 0).any(axis=1)
    if empty.any():
        bad = np.nonzero(empty)[0]
        raise DataError(
            f"{name}: jet {int(bad[0])} has no constituent with pT > 0 ({len(bad)} such jets); its EMD is undefined"
        )
    return jets


def _paired(jets_a, jets_b, workers, four_vectors, radius, chunk_size, progress, names):
    jets_a = _check(jets_a, names[0], four_vectors)
    jets_b = _check(jets_b, names[1], four_vectors)
    if len(jets_a) != len(jets_b):
        raise DataError(
            f"{names[0]} has {len(jets_a)} jets but {names[1]} has {len(jets_b)}; EMD pairs them one to one"
        )
    if isinstance(radius, bool) or not (isinstance(radius, numbers.Real) and math.isfinite(radius) and radius > 0):
        raise DataError(f"EMD radius R must be a finite number > 0, got {radius!r}")
    n = len(jets_a)
    if n == 0:
        return np.zeros(0)
    if workers is None:
        workers = default_workers() if n >= PARALLEL_MIN_JETS else 1
    if isinstance(workers, bool) or not (isinstance(workers, numbers.Integral) and workers >= 1):
        raise DataError(f"EMD workers must be an integer >= 1, got {workers!r}")
    workers = int(workers)
    if chunk_size is None:  # a few chunks per worker (balance, progress), each large enough to amortise a task
        chunk_size = int(min(5000, max(500, math.ceil(n / (8 * workers)))))
    starts = range(0, n, chunk_size)
    tasks = ((jets_a[s : s + chunk_size], jets_b[s : s + chunk_size], four_vectors, float(radius), s) for s in starts)

    from tqdm import tqdm

    bar = tqdm(
        total=n,
        unit="jet",
        desc="EMD",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=(True if n < 50000 else None) if progress is None else not progress,  # None: only on a terminal
    )
    parts = []
    try:
        if workers == 1 or len(starts) == 1:
            for task in tasks:
                parts.append(_emd_chunk(task))
                bar.update(len(parts[-1]))
        else:
            pool = _pool(workers)
            try:
                for part in pool.map(_emd_chunk, tasks):
                    parts.append(part)
                    bar.update(len(part))
            except concurrent.futures.process.BrokenProcessPool:
                _POOLS.pop(workers, None)  # a worker died (killed, out of memory): start afresh next time
                raise
    finally:
        bar.close()
    return np.concatenate(parts)


def paired_emd(jets_a, jets_b, workers=None, *, radius=R, chunk_size=None, progress=None, names=("jets_a", "jets_b")):
    """EMD between jet i of `jets_a` and jet i of `jets_b`, for every i (``energyflow.emd.emd``, norm=True).

    Args:
        jets_a, jets_b: (jets, particles, 3) as (pT, eta, phi); the particle counts may differ
            between a and b. Rows with pT = 0 are padding and are ignored.
        workers: processes; None: every core for ``PARALLEL_MIN_JETS`` (20000) jets or more, else
            one (this process, no pool).
        radius: R of the EMD (1.0 in cheng2020).
        chunk_size: jets per task (default: about 8 tasks per worker, 500 to 5000 jets each).
        progress: tqdm progress bar on stderr; None: shown for 50000 jets or more on a terminal.
        names: what to call the two inputs in error messages.

    Returns:
        (jets,) float64 EMDs; the same whatever `workers` and `chunk_size`.
    """
    return _paired(jets_a, jets_b, workers, False, radius, chunk_size, progress, names)


def four_vector_emd(p4_a, p4_b, workers=None, *, radius=R, chunk_size=None, progress=None, names=("jets_a", "jets_b")):
    """``paired_emd`` for (jets, particles, 4) four-vectors (E, px, py, pz), converted to (pT, eta, phi).

    The conversion happens in the worker processes. A row with px = py = 0 (pT = 0) is padding.
    """
    return _paired(p4_a, p4_b, workers, True, radius, chunk_size, progress, names)


def emd_scores(model, inputs, workers=None, batch_size=4096, progress=None):
    """EMD of each input jet with its reconstruction by `model` (cheng2020's EMD anomaly score).

    Args:
        model: a tagger with ``reconstruction(inputs)`` -> (batch, particles, 4) physical
            (E, px, py, pz), inverse-scaled (the cheng2020 VAEs).
        inputs: (rows, particles, 4) ``constituents`` representation in physical units, or a dict of
            named inputs holding ``constituents``.
        workers, progress: as for ``paired_emd``.

    Returns:
        (rows,) float64, larger = more anomalous.
    """
    if not model.has_reconstruction:
        raise DataError(
            f"model {getattr(model, 'name', type(model).__name__)!r} ({type(model).__name__}) has no reconstruction; "
            f"the EMD score compares a jet with the model's reconstruction of it"
        )
    from models.base import batched

    if isinstance(inputs, dict) and "constituents" not in inputs:
        raise DataError(f"EMD needs the 'constituents' input (physical four-vectors); got inputs {sorted(inputs)}")
    jets = inputs["constituents"] if isinstance(inputs, dict) else inputs
    reco = batched(model.reconstruction, inputs, batch_size)
    return four_vector_emd(jets, reco, workers, progress=progress, names=("input jets", "reconstruction"))


def export_emd_scores(loaded, card, sample, source="input", workers=None, batch_size=4096):
    """EMD scores of `sample`'s jets through an export's ``reconstruction`` signature.

    Args:
        loaded: the loaded SavedModel; card: its ModelCard; sample: a JetSample.
        source: the sample's file, for messages.

    Returns:
        (rows,) float64.
    """
    import tensorflow as tf

    from models.base import batched
    from preprocessing import representations

    if RECONSTRUCTION not in loaded.signatures:
        raise DataError(no_reconstruction_message(card, f"its SavedModel has signatures {sorted(loaded.signatures)}"))
    fn = loaded.signatures[RECONSTRUCTION]
    rep = card.representation
    inputs = representations.build(rep["name"], sample, rep.get("params"), source=source)
    if "constituents" not in inputs:
        raise DataError(
            f"model {card.model!r}: EMD needs constituent four-vectors, but representation {rep['name']!r} "
            f"builds {sorted(inputs)}"
        )
    names = list(fn.structured_input_signature[1])
    missing = sorted(set(names) - set(inputs))
    if missing:
        raise DataError(
            f"model {card.model!r}: signature {RECONSTRUCTION!r} expects inputs {missing} not in {sorted(inputs)}"
        )
    feed = {k: inputs[k] for k in names}
    reco = batched(
        lambda b: fn(**{k: tf.constant(v, tf.float32) for k, v in b.items()})[RECONSTRUCTION], feed, batch_size
    )
    return four_vector_emd(inputs["constituents"], reco, workers, names=(f"{source} jets", "reconstruction"))


def no_reconstruction_message(card, detail=""):
    """Why an export of `card` cannot give an EMD score."""
    return (
        f"--emd: model {card.model!r} ({card.class_name}) has no reconstruction, so no EMD score "
        f"(EMD compares each jet with the model's reconstruction of it: cheng2020's VAEs)"
        + (f"; {detail}" if detail else "")
    )
