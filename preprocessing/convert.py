"""Convert public jet data sets into the project's sample format (``preprocessing.samples``).

Formats (``--format auto`` picks one from the file's content):

* ``lhco`` -- LHC Olympics 2020 R&D set (``events_anomalydetection.h5``; bortolato2021,
  kahn2021): a pandas HDF table, one row per event, 700 particles x (pT, eta, phi), zero padded,
  then the truth label (0 background, 1 signal). Particles are taken massless,
  E = pT cosh(eta), and reclustered with anti-kT R = 1.0; the two leading jets are kept, stored
  heavier first with the dijet mass m_jj, as the ``lhco`` selection of ``preprocessing.generate``.
* ``toptagging`` -- the top-tagging reference set (dillon2021; Kasieczka et al.,
  arXiv:1902.09914): pandas HDF key ``table``, columns ``E_i, PX_i, PY_i, PZ_i`` for i = 0..199
  (pT ordered, zero padded) and ``is_signal_new`` (1 top, 0 QCD). One jet per row; the jet is the
  sum of its constituents.
* ``delphes`` -- Delphes ROOT files (tree ``Delphes``) read with uproot: jets are rebuilt with
  anti-kT from the particle-flow objects ``EFlowTrack`` (PT, Eta, Phi), ``EFlowPhoton`` and
  ``EFlowNeutralHadron`` (ET, Eta, Phi), taken massless; the two leading jets per event are kept,
  heavier first, with m_jj. Branches may be spelled ``EFlowTrack.PT`` (Delphes' split branches)
  or ``EFlowTrack_PT`` (flat ntuples). The class label comes from ``--label``.

Input is read in chunks of ``--chunk`` rows/events with a progress bar, and the output is
appended chunk by chunk, so memory stays bounded for the 1.1 M-event LHCO file. Observables
(tau1..tau4, D2, constituent count) are computed for every jet. A file of the wrong format,
missing columns or branches, or a read error part-way through is a DataError naming the file;
nothing is left at the output path then.

Usage::

    python -m preprocessing.convert events_anomalydetection.h5 --out lhco.h5
    python -m preprocessing.convert test.h5 --out toptag_test.h5 --format toptagging
    python -m preprocessing.convert delphes.root --out sig.h5 --label signal
"""

import re
import sys

from preprocessing.cli import CommandParser, check_inputs, check_output_file, integer, number
from preprocessing.console import c_stdout_to_stderr
from preprocessing.errors import DataError, run_command
from preprocessing.samples.convert import FORMATS, convert


def main(argv=None):
    parser = CommandParser(prog="python -m preprocessing.convert", description=__doc__)
    parser.add_argument("input")
    parser.add_argument("--out", required=True, help="output sample file (.h5, written atomically)")
    parser.add_argument("--format", default="auto", choices=("auto",) + FORMATS)
    parser.add_argument("--label", default="unlabelled", help="class name of Delphes events")
    parser.add_argument("--chunk", type=integer(1), help="rows/events read at a time")
    parser.add_argument(
        "--jet-radius", type=number(above=0), default=1.0, help="anti-kT R for reclustering (default 1.0)"
    )
    parser.add_argument("--max-constituents", type=integer(1), default=200)
    args = parser.parse_args(argv)
    return run_command(run, args)


def run(args):
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", args.label):
        raise DataError(f"--label {args.label!r} must be a plain name")
    check_inputs([args.input], "input file")
    check_output_file(args.out, "--out", [("the input", args.input)])
    with c_stdout_to_stderr():  # FastJet's banner is C++ output on stdout; stdout keeps the result
        out = convert(args.input, args.out, args.format, args.label, args.chunk, args.jet_radius, args.max_constituents)
    print(str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
