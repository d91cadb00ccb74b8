"""Generate jet samples with Pythia8 + FastJet and write them in the project's sample format.

Common to every process: pp at 13 TeV without multi-parton interactions, hadron level; visible
final-state particles (no neutrinos) clustered with anti-kT.

Processes (``--process``; masses in GeV are flags, Pythia mass changes are ``id:m0`` settings):

* ``qcd`` -- hard QCD 2->2 dijets, pTHat > ``--pthat-min`` (500).
* ``w`` -- W' (``--wprime-mass`` 1250, cheng2022) -> W(-> q q') Z(-> nu nu), W mass ``--w-mass``
  (cheng2020 scans 59, 80, 120, 174; default Pythia's 80.385).
* ``top`` -- Z' (``--zprime-mass`` 1300) -> t tbar, all hadronic, ``--top-mass`` and ``--w-mass``
  (cheng2020's m_t = 80 with m_W = 20).
* ``higgs4b`` -- heavy H (Pythia's H0, ``--heavy-mass`` 174) produced with a Z(-> nu nu) at
  pTHat > 500, H -> h h, h -> b bbar with ``--light-mass`` (20 or 80): cheng2020's four-prong jets.
* ``dijet`` -- event-level QCD background like the LHC Olympics R&D set (pTHat > 1100).
* ``lhco-signal`` -- event-level W' (``--wprime-mass`` 3500) -> X Y with X = W-like resonance of
  ``--x-mass`` 500 and Y = Z-like resonance of ``--y-mass`` 100, both -> q qbar (``--prongs 2``).
  X and Y are Pythia's W and Z with their masses moved, so the W' -> W Z matrix element and the
  resonance widths stay Pythia's own. ``--prongs 3``: X -> u dbar g and Y -> d dbar g, three
  colour-connected hard partons each (flat three-body phase space). Pythia's resonance machinery
  has no colour-singlet three-parton channel (a user channel X -> q qbar g gets zero width and is
  never used), so these events are generated at parton level by ``preprocessing.events.lhe``
  and read by Pythia as a Les Houches event file, which then adds showers and hadronisation.

Selections (``--preset``; single cuts can be overridden):

* ``dillon2021`` (default for qcd and top): anti-kT R = 0.8, two leading jets per event with
  550 < pT < 650 GeV and |eta| < 2; a top jet must contain, within dR < 0.8, a parton-level top
  and all three of its decay quarks.
* ``cheng2020`` (default for w, higgs4b): R = 1.0, 550 < pT < 650 GeV, |eta| < 2 (test sets),
  top matching within dR < 1.0; ``cheng2020-train``: R = 1.0, pT > 450 GeV.
* ``lhco`` (default for dijet, lhco-signal): event level, R = 1.0, leading jet pT > 1.2 TeV,
  the two leading jets kept, stored heavier first (``/jets/mass_rank`` 0 and 1) with the dijet
  mass ``/jets/mjj`` on both rows of the event.

Every jet carries pt, eta, phi, mass, energy and the observables of
``preprocessing.jets.observables`` (tau1..tau4, tau21, tau32, d2, n_const) computed from all its
constituents.

Work is cut into shards of a fixed number of jets; shard i is seeded from
``SeedSequence(seed).spawn`` so the output depends on (process, options, n_jets, seed, shard
size) and not on where the shards ran. Shards are Dask tasks (``preprocessing.tasks``): by default
on a local cluster of ``--workers`` processes (default: one per core), on a running cluster with
``--scheduler tcp://host:8786``, or one after another in this process with ``--scheduler serial``
(or ``--workers 1``). They are streamed, in order, into the output file, so memory holds about
one shard whatever the sample size. Finished shards are kept in a hidden sibling folder
``.<out>.shards/`` so an interrupted run, started again with the same arguments, only generates
the missing shards; the folder is removed once the output file has been written (atomically).

Usage::

    python -m preprocessing.generate --process top --n-jets 10000 --seed 1 --out top.h5 --workers 2
    python -m preprocessing.generate --process dijet --n-jets 2000000 --out bkg.h5 --scheduler tcp://head:8786
    python -m preprocessing.generate --process w --w-mass 120 --n-jets 20000 --out w120.h5
    python -m preprocessing.generate --process lhco-signal --n-jets 2000 --out sig.h5
"""

import dataclasses
import pathlib
import shutil
import sys

from preprocessing import tasks
from preprocessing.cli import CommandParser, check_output_file, integer, number
from preprocessing.errors import DataError, run_command
from preprocessing.events.generator import generate_to_file
from preprocessing.events.processes import PROCESSES, make_process
from preprocessing.events.shards import shard_cache_dir
from preprocessing.jets.selection import SELECTIONS


def main(argv=None):
    parser = CommandParser(prog="python -m preprocessing.generate", description=__doc__)
    parser.add_argument("--process", required=True, choices=sorted(PROCESSES))
    parser.add_argument(
        "--n-jets",
        type=integer(1),
        required=True,
        help="number of selected jets to write (event-level processes: 2 per event)",
    )
    parser.add_argument("--seed", type=integer(0), default=1)
    parser.add_argument("--out", required=True, help="output .h5 file (written atomically)")
    tasks.add_arguments(parser)
    parser.add_argument("--shard-jets", type=integer(1), default=1000, help="jets per shard (part of the seed)")
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="discard finished shards of an earlier interrupted run instead of reusing them",
    )
    cuts = parser.add_argument_group("selection (a preset, then single overrides)")
    cuts.add_argument("--preset", choices=sorted(SELECTIONS), help="default: the process's paper preset")
    cuts.add_argument("--jet-radius", type=number(above=0))
    cuts.add_argument("--pt-min", type=number(minimum=0))
    cuts.add_argument("--pt-max", type=number(above=0))
    cuts.add_argument("--abs-eta-max", type=number(above=0))
    cuts.add_argument("--match-radius", type=number(above=0))
    cuts.add_argument("--max-constituents", type=integer(1))
    cuts.add_argument("--lead-pt-min", type=number(minimum=0), help="event level: leading-jet pT threshold")
    masses = parser.add_argument_group("process options (GeV)")
    for flag, text in (
        ("w-mass", "w, top: W mass (Pythia's 80.385)"),
        ("wprime-mass", "w: W' mass (1250); lhco-signal: 3500"),
        ("top-mass", "top: top mass (173)"),
        ("zprime-mass", "top: Z' mass (1300)"),
        ("heavy-mass", "higgs4b: H mass (174)"),
        ("light-mass", "higgs4b: h mass (20)"),
        ("x-mass", "lhco-signal: X mass (500)"),
        ("y-mass", "lhco-signal: Y mass (100)"),
        ("pthat-min", "qcd: pTHat threshold (500); dijet: 1100"),
    ):
        masses.add_argument(f"--{flag}", type=number(above=0), help=text)
    masses.add_argument("--prongs", type=int, help="lhco-signal: 2 (X, Y -> q qbar, default) or 3 (-> q qbar g)")
    shifted = parser.add_argument_group("simulation (default: 13 TeV, MPI off, Monash 2013), for mismodelling studies")
    shifted.add_argument("--mpi", choices=("on", "off"), help="multi-parton interactions")
    shifted.add_argument("--tune", type=integer(1), help="Pythia Tune:pp number (14: Monash 2013; 5: Tune 4C)")
    shifted.add_argument("--ecm", type=number(above=0), help="pp collision energy in GeV (13000)")
    args = parser.parse_args(argv)
    return run_command(run, args)


def run(args):
    cache = shard_cache_dir(args.out)
    check_output_file(args.out, "--out", [("shard cache", cache)])
    options = {
        k: getattr(args, k)
        for k in (
            "w_mass",
            "wprime_mass",
            "top_mass",
            "zprime_mass",
            "heavy_mass",
            "light_mass",
            "x_mass",
            "y_mass",
            "pthat_min",
            "prongs",
            "tune",
            "ecm",
        )
    }
    options["mpi"] = None if args.mpi is None else args.mpi == "on"
    process = make_process(args.process, **options)
    sel = SELECTIONS[args.preset or process.preset]
    overrides = {
        k: getattr(args, k)
        for k in ("jet_radius", "pt_min", "pt_max", "abs_eta_max", "match_radius", "max_constituents", "lead_pt_min")
        if getattr(args, k) is not None
    }
    for k, v in overrides.items():
        if v < 0 or (v == 0 and k not in ("pt_min", "lead_pt_min")):
            raise DataError(f"--{k.replace('_', '-')} must be positive, got {v}")
    sel = dataclasses.replace(sel, **overrides)
    if sel.pt_max <= sel.pt_min:
        raise DataError(f"empty pT window: --pt-min {sel.pt_min:g} >= --pt-max {sel.pt_max:g}")
    if args.no_resume and cache.exists():
        shutil.rmtree(cache)
    tasks.check_scheduler(args.scheduler)
    cache_existed = cache.exists()
    try:
        _, n_jets, n_events = generate_to_file(
            args.out,
            process,
            args.n_jets,
            args.seed,
            args.workers,
            args.shard_jets,
            selection=sel,
            cache_dir=cache,
            scheduler=args.scheduler,
        )
    except OSError as err:
        # the machine failed us (disk full, file too large): leave nothing this run wrote (shards
        # of a cache it started, a shard's temporary file); an earlier run's shards are kept
        if cache_existed:
            for part in cache.glob(".*.part"):
                part.unlink(missing_ok=True)
        else:
            shutil.rmtree(cache, ignore_errors=True)
        if err.filename is None or pathlib.Path(err.filename).parent == cache:  # a shard: OUT is what failed
            raise OSError(err.errno, err.strerror or str(err), args.out) from None
        raise
    shutil.rmtree(cache, ignore_errors=True)
    print(f"wrote {n_jets} {args.process} jets from {n_events} events to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
