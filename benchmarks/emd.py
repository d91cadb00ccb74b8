"""Throughput of the EMD score (``training.emd``): jets/s for 20-constituent jets at 1 and 2 workers.

    python -m benchmarks.emd [--n-jets 60000] [--workers 1 2] [--data FILE] [--seed 0]

Pairs every jet (the ``constituents`` representation: 20 x (E, px, py, pz) after cheng2020's
rotation and boosts) with a stand-in for a VAE reconstruction: the same constituents with each
component smeared by 20 % and 1 GeV, every one of the 20 rows filled (a reconstruction has no
padding). The jets come from --data, or are synthetic: massless constituents around a jet axis
with falling momentum fractions, run through the same preprocessing. Measures

* ``energyflow_jets_per_s``, ``energyflow_cpu_us_per_jet``: ``energyflow.emd.emd(a, b, R=1.0,
  norm=True)`` in a loop (a new solver per call), on at most 5000 jets;
* ``solver_cpu_us_per_pair``: one reused ``wasserstein.EMD``, the solver call alone (CPU time);
* ``jets_per_s_W``: ``four_vector_emd`` end to end with W workers (conversion to (pT, eta, phi),
  chunking, transfers), its pool already started; ``jets_per_s_W_cold``: the first call, which
  also starts the W worker processes (for W > 1).

* ``cpu_us_per_jet_W``: CPU time per jet of those calls (this process and its workers, worker
  start-up included), which other programs on the machine do not change: 1e6 / it is what one
  free core does, W x that the best W free cores can do.

Prints a table on stderr and a JSON line on stdout, with the load average before and after: on a
shared machine the jets/s are lower bounds.
"""

import os
import sys
import time

import numpy as np

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, check_inputs, integer, print_result
from preprocessing.errors import run_command

# arguments of `python -m benchmarks --quick`
QUICK = ["--n-jets", "2000", "--workers", "1", "2"]
PEER = "EnergyFlow emd.emd per jet, same jets, same run"


def figures(result):
    """jets/s and CPU time per jet at every worker count, beside EnergyFlow's and the cores' limit."""
    out = [Figure("energyflow_jets_per_s", "EnergyFlow emd.emd, jets/s")]
    for key in result:
        if key.startswith("jets_per_s_") and not key.endswith("_cold"):
            w = int(key.rsplit("_", 1)[1])
            cpu = result.get(f"cpu_us_per_jet_{w}")
            limit = w * 1e6 / cpu if cpu else None
            out.append(
                Figure(
                    key,
                    f"four_vector_emd, {w} worker(s), jets/s",
                    limit,
                    f"{w} free core(s) at the measured CPU time per jet" if limit else "",
                )
            )
            out.append(
                Figure(
                    f"cpu_us_per_jet_{w}",
                    f"CPU time per jet, {w} worker(s), us",
                    same_run="energyflow_cpu_us_per_jet",
                    source=PEER,
                )
            )
    return out


FIGURES = figures


def synthetic_constituents(n_jets, seed=0, n_keep=20):
    """(jets, n_keep, 4) float32 ``constituents`` representation of synthetic jets, and their mask.

    Jets of pT ~ 600 GeV anywhere in |eta| < 1.5 with 15 to 50 massless constituents: momentum
    fractions from a Dirichlet(0.6), angles within about 0.2 of the axis with a wider tail for
    soft particles. Jets with fewer than `n_keep` constituents are zero padded.
    """
    from preprocessing.jets import physics
    from preprocessing.representations.constituents import constituent_four_vectors

    rng = np.random.default_rng(seed)
    max_particles = 50
    counts = rng.integers(15, max_particles + 1, n_jets)
    mask = np.arange(max_particles) < counts[:, None]  # (jets, particles)
    frac = np.where(mask, rng.gamma(0.6, size=(n_jets, max_particles)), 0.0)
    frac /= frac.sum(axis=1, keepdims=True)
    pt = rng.normal(600.0, 50.0, (n_jets, 1)) * frac
    width = 0.05 + 0.2 * (1.0 - np.sqrt(frac / frac.max(axis=1, keepdims=True)))  # soft particles spread wider
    eta = rng.uniform(-1.5, 1.5, (n_jets, 1)) + width * rng.normal(size=pt.shape)
    phi = rng.uniform(-np.pi, np.pi, (n_jets, 1)) + width * rng.normal(size=pt.shape)
    p4 = np.where(mask[..., None], physics.from_pt_eta_phi(pt, eta, phi), 0.0)
    return constituent_four_vectors(p4, counts, n_keep)


def smeared_reconstruction(jets, seed=1):
    """A stand-in reconstruction: every component smeared by 20 % and 1 GeV, padded rows filled too."""
    rng = np.random.default_rng(seed)
    jets = np.asarray(jets, np.float64)
    return (jets * (1.0 + 0.2 * rng.normal(size=jets.shape)) + rng.normal(size=jets.shape)).astype(np.float32)


def _cpu_seconds():
    """User + system CPU seconds of this process and of its exited child processes."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.emd", description=__doc__)
    parser.add_argument("--data", nargs="+", help="sample files (default: synthetic jets)")
    parser.add_argument("--n-jets", type=integer(1), default=60000)
    parser.add_argument("--workers", type=integer(1), nargs="+", default=[1, 2], help="worker counts to time")
    parser.add_argument("--seed", type=integer(0), default=0)
    return parser


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


def collect(args):
    """The figures of one run as a JSON-ready dict (``run`` prints them)."""
    if args.data:
        check_inputs(args.data, "--data")

    import energyflow

    from training import emd

    load_before = os.getloadavg()
    if args.data:
        from preprocessing import representations
        from training.data import datasets

        sample = datasets.load(args.data)
        if args.n_jets < len(sample):
            sample = sample.subset(np.random.default_rng(args.seed).choice(len(sample), args.n_jets, replace=False))
        jets = representations.build("constituents", sample)["constituents"]
    else:
        jets, _ = synthetic_constituents(args.n_jets, args.seed)
    reco = smeared_reconstruction(jets, args.seed + 1)
    n = len(jets)
    result = {
        "n_jets": n,
        "jets": "data" if args.data else "synthetic",
        "mean_constituents": round(float((np.abs(jets).sum(-1) > 0).sum(1).mean()), 2),
        "cores": emd.default_workers(),
    }

    a, b = emd.pt_eta_phi(jets), emd.pt_eta_phi(reco)
    m = min(n, 5000)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(m):
        energyflow.emd.emd(a[i][a[i, :, 0] > 0], b[i][b[i, :, 0] > 0], R=1.0, norm=True)
    result["energyflow_jets_per_s"] = m / (time.perf_counter() - start)
    result["energyflow_cpu_us_per_jet"] = (time.process_time() - cpu) / m * 1e6

    wa, ca, na = emd._compact(a)
    wb, cb, nb = emd._compact(b)
    solver = emd.new_solver()
    cpu = time.process_time()
    for i in range(m):
        solver(wa[i, : na[i]], ca[i, : na[i]], wb[i, : nb[i]], cb[i, : nb[i]])
    result["solver_cpu_us_per_pair"] = (time.process_time() - cpu) / m * 1e6

    reference = None
    for workers in args.workers:
        cpu = _cpu_seconds()
        for run_ in ("cold", "warm"):  # cold: the first call, which starts the worker processes
            start = time.perf_counter()
            values = emd.four_vector_emd(jets, reco, workers=workers, progress=False)
            key = f"jets_per_s_{workers}" + ("_cold" if run_ == "cold" else "")
            result[key] = n / (time.perf_counter() - start)
            if reference is None:
                reference = values
            elif not np.array_equal(values, reference):
                raise AssertionError(f"EMDs with {workers} workers differ from {args.workers[0]} worker(s)")
        emd.shutdown_pools()  # a worker's CPU time is counted once it has exited
        # CPU time per jet over both calls (worker start-up included): what contention does not change
        result[f"cpu_us_per_jet_{workers}"] = (_cpu_seconds() - cpu) / (2 * n) * 1e6
    result["mean_emd"] = float(reference.mean())
    result["load_average_before"] = [round(x, 2) for x in load_before]
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    return result


def run(args):
    print_result(collect(args), {"mean_emd": 3}, width=26)
    return 0


if __name__ == "__main__":
    sys.exit(main())
