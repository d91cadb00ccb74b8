"""Throughput of the EMD score (``training.emd``): jets/s for 20-constituent jets at 1 and 2 workers.

    python -m benchmarks.emd [--n-jets 60000] [--workers 1 2] [--rounds 3] [--data FILE] [--seed 0]

Pairs every jet (the ``constituents`` representation: 20 x (E, px, py, pz) after cheng2020's
rotation and boosts) with a stand-in for a VAE reconstruction: the same constituents with each
component smeared by 20 % and 1 GeV, every one of the 20 rows filled (a reconstruction has no
padding). The jets come from --data, or are synthetic: massless constituents around a jet axis
with falling momentum fractions, run through the same preprocessing. Measures

* ``energyflow_jets_per_s``, ``energyflow_cpu_us_per_jet``: EnergyFlow as a user would call it,
  a plain loop of ``energyflow.emd.emd(a, b, R=1.0, norm=True)`` over the same pairs, given as
  (pT, eta, phi) arrays with the padding already stripped (outside the timed loop: a user holds
  them so); ``ours_jets_per_s``: ``four_vector_emd`` with 1 worker on the same jets, end to end
  (four-vectors to EMDs, conversion and padding included), and ``paired_jets_per_s``:
  ``paired_emd`` with 1 worker on the padded (pT, eta, phi) arrays the peer's were cut from. The
  three are alternated --rounds times in one process (only rates taken side by side compare on
  shared cores); each figure is the median, ``ratio`` the median per-round ours / EnergyFlow
  (``ratio_cpu`` the same in CPU time per jet, ``*_alternated_cpu_us_per_jet``);
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
import statistics
import sys
import time

import numpy as np

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, check_inputs, integer, print_result
from preprocessing.errors import run_command

# arguments of `python -m benchmarks --quick`
QUICK = ["--n-jets", "2000", "--workers", "1", "2"]
PEER = "EnergyFlow emd.emd loop, same jets, same run"


def figures(result):
    """jets/s and CPU time per jet at every worker count, beside EnergyFlow's and the cores' limit."""
    out = [
        Figure("energyflow_jets_per_s", "EnergyFlow emd.emd loop (padding stripped beforehand), jets/s"),
        Figure(
            "ours_jets_per_s",
            "four_vector_emd, 1 worker, alternated, jets/s",
            same_run="energyflow_jets_per_s",
            source=PEER,
        ),
        Figure("ratio", "four_vector_emd / EnergyFlow loop, alternated, jets/s ratio"),
        Figure("ratio_cpu", "four_vector_emd / EnergyFlow loop, alternated, CPU-time speed-up"),
        Figure(
            "paired_jets_per_s",
            "paired_emd on (pT, eta, phi), 1 worker, alternated, jets/s",
            same_run="energyflow_jets_per_s",
            source=PEER,
        ),
    ]
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


def _spread(values):
    return f"{statistics.median(values):,.0f} [{min(values):,.0f}-{max(values):,.0f}]"


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.emd", description=__doc__)
    parser.add_argument("--data", nargs="+", help="sample files (default: synthetic jets)")
    parser.add_argument("--n-jets", type=integer(1), default=60000)
    parser.add_argument("--workers", type=integer(1), nargs="+", default=[1, 2], help="worker counts to time")
    parser.add_argument("--seed", type=integer(0), default=0)
    parser.add_argument("--rounds", type=integer(1), default=3, help="alternated rounds of EnergyFlow and ours")
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
    pairs = [(a[i][a[i, :, 0] > 0], b[i][b[i, :, 0] > 0]) for i in range(n)]  # as a user holds them

    def energyflow_loop():
        for a_i, b_i in pairs:
            energyflow.emd.emd(a_i, b_i, R=1.0, norm=True)

    calls = {
        "energyflow": energyflow_loop,
        "ours": lambda: emd.four_vector_emd(jets, reco, workers=1, progress=False),
        "paired": lambda: emd.paired_emd(a, b, workers=1, progress=False),
    }
    rates, cpu_us = {name: [] for name in calls}, {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            start, cpu = time.perf_counter(), time.process_time()
            call()
            rates[name].append(n / (time.perf_counter() - start))
            cpu_us[name].append((time.process_time() - cpu) / n * 1e6)
    for name in calls:
        result[f"{name}_jets_per_s"] = statistics.median(rates[name])
        result[f"{name}_alternated_cpu_us_per_jet"] = statistics.median(cpu_us[name])
    result["energyflow_cpu_us_per_jet"] = result.pop("energyflow_alternated_cpu_us_per_jet")
    result["ratio"] = statistics.median(o / e for o, e in zip(rates["ours"], rates["energyflow"]))
    result["ratio_paired"] = statistics.median(o / e for o, e in zip(rates["paired"], rates["energyflow"]))
    result["ratio_cpu"] = statistics.median(e / o for o, e in zip(cpu_us["ours"], cpu_us["energyflow"]))
    print(
        f"EMD pairs/s, {args.rounds} alternated rounds (median [min-max]): "
        + "  ".join(f"{name} {_spread(values)}" for name, values in rates.items())
        + f"  ours/EnergyFlow {result['ratio']:.2f} (CPU time {result['ratio_cpu']:.2f}), "
        f"paired/EnergyFlow {result['ratio_paired']:.2f}",
        file=sys.stderr,
    )

    m = min(n, 5000)
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
    print_result(collect(args), {"mean_emd": 3, "ratio": 3, "ratio_paired": 3, "ratio_cpu": 3}, width=34)
    return 0


if __name__ == "__main__":
    sys.exit(main())
