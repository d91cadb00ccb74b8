"""Characterise a trained bump-hunt VAE's latent space against m_jj (bortolato2021, Sec. 3).

    python -m evaluation.characterise --encoder exported/bumphunt_vae[/VERSION] --data events.h5 [--out DIR]

The encoder of the exported VAE (its first member for an ensemble) is rebuilt from the export's
Keras weights and frozen; a new decoder learns to reconstruct the six observables from
(z ~ N(z_mean, sigma_z), m ~ N(m_jj, 0.025 m_jj)) with m_jj standard-scaled, reconstruction loss
only, Adam until the validation loss stops improving. Then the decoder is scanned over a grid
z x m_jj in [2, 8] TeV and the report draws

* heatmaps of every reconstructed observable over (m_jj, z) with the regions holding 68 % and 95 %
  of the signal and of the background events (Fig. 7; Fig. 8 for a background-only training),
* the marginal <O>_z / <O>_{z, m_jj} against m_jj (Fig. 9).

The z range is the paper's [-2.5, 0] when it holds at least 90 % of the training events' latent
means; a latent placed elsewhere (the orientation and offset of a 1-D latent are arbitrary) gets
the range from the 1st to the 99th percentile of those means instead, widened to at least one
unit, so that the heatmaps show the decoder where events are rather than an extrapolation.
``--z-range LOW HIGH`` fixes it. Truth labels are used only to draw the signal and background
contours. Writes DIR/*.png, the decoder weights and a JSON summary (last stdout line).
The work is done by evaluation.papers.bortolato2021.characterise.
"""

import json
import pathlib
import sys

from preprocessing.cli import CommandParser, check_inputs, check_output_dir, integer
from preprocessing.errors import DataError, run_command


def main(argv=None):
    parser = CommandParser(prog="python -m evaluation.characterise", description=__doc__)
    parser.add_argument("--encoder", required=True, help="export of a bumphunt_vae: <base>/bumphunt_vae[/<version>]")
    parser.add_argument("--data", nargs="+", required=True, help="event samples (two jets per event)")
    parser.add_argument("--out", help="output folder (default: <export>/characterisation)")
    parser.add_argument("--epochs", type=integer(1), default=200)
    parser.add_argument("--seed", type=integer(0), default=0)
    parser.add_argument(
        "--z-range",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="latent range of the scan (default: the paper's [-2.5, 0] if it holds 90 %% of "
        "the training events, else their 1st-99th percentiles)",
    )
    args = parser.parse_args(argv)
    if args.z_range and not args.z_range[0] < args.z_range[1]:
        parser.error(f"--z-range: LOW must be below HIGH, got {args.z_range}")
    return run_command(run, args)


def run(args):
    if not pathlib.Path(args.encoder).is_dir():
        raise DataError(f"--encoder {args.encoder}: no such export folder")
    check_inputs(args.data, "--data")
    if args.out is not None:
        check_output_dir(args.out, "--out")

    from evaluation.papers import bortolato2021

    summary = bortolato2021.characterise(
        args.encoder,
        args.data,
        out=args.out,
        epochs=args.epochs,
        seed=args.seed,
        z_range=args.z_range,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
