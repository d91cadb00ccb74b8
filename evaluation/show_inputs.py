"""A look at the model inputs, the first thing a physicist checks (dillon2021 Figs. 1 and 14,
kahn2021 Sec. 3, bortolato2021 Sec. 3, cheng2020/cheng2022 mass decorrelation).

    python -m evaluation.show_inputs --kind KIND --data FILE [--data FILE ...] --out DIR

KIND is one of

    jet_image   average jet image per class (log colour scale)
    lund_image  average primary Lund plane per class
    vrnn        example VRNN sequences in (eta, phi) with their k_t order, and the pT-fraction
                table pbar_N(t) fitted on the given jets
    highlevel   distributions of the six bortolato2021 features per class, and m_jj (kept aside)
    resample    jet mass of every class before and after resampling to the reference class,
                with the Jensen-Shannon divergences
    all         all of the above

PNG files are written atomically into DIR; stdout gets one JSON line listing them (and the JSD
report for ``resample``); progress goes to stderr.

Figures use the project's seaborn theme (training.figure_style). The class distributions
(``highlevel``) are seaborn histograms with the class as hue and the pT-fraction table, whose axes
are integers (step, multiplicity), a seaborn heatmap; the average jet images and Lund planes stay
matplotlib imshow, because their axes are continuous physical coordinates (eta', phi';
ln 1/Delta R, ln k_T) with extents, not categories.
"""

import json
import pathlib
import sys

import numpy as np
import seaborn as sns
from matplotlib.colors import LogNorm

from preprocessing.cli import CommandParser, check_inputs, check_output_dir, integer
from preprocessing.errors import DataError, run_command
from preprocessing.representations import highlevel, lund_image, vrnn
from preprocessing.representations.jet_image import DEFAULT_PARAMS as IMAGE_PARAMS
from preprocessing.representations.jet_image import jet_images
from preprocessing.samples import resample
from preprocessing.samples.format import concatenate, read_sample
from training.figure_style import pyplot
from training.figures import class_histograms, save_figure

plt = pyplot()

KINDS = ("jet_image", "lund_image", "vrnn", "highlevel", "resample")


def _classes(sample):
    """[(name, jet indices)] for every class present, in label-table order."""
    return [
        (n, np.nonzero(sample.labels == i)[0]) for i, n in enumerate(sample.label_names) if np.any(sample.labels == i)
    ]


def plot_jet_images(sample, out):
    classes = _classes(sample)
    fig, axes = plt.subplots(1, len(classes), figsize=(4.2 * len(classes), 3.8), layout="constrained", squeeze=False)
    n, pe, pp = IMAGE_PARAMS["n_pixels"], IMAGE_PARAMS["pixel_eta"], IMAGE_PARAMS["pixel_phi"]
    extent = [-n / 2 * pe, n / 2 * pe, -n / 2 * pp, n / 2 * pp]
    for ax, (name, idx) in zip(axes[0], classes):
        img = jet_images(sample.constituents[idx], sample.n_constituents[idx], source=name).mean(0)
        im = ax.imshow(img, origin="lower", extent=extent, norm=LogNorm(vmin=1e-6, vmax=img.max()), cmap="viridis")
        ax.set_title(f"{name}: average of {len(idx)} jet images")
        ax.set_xlabel(r"$\eta'$ (aligned)")
        ax.set_ylabel(r"$\phi'$ (aligned)")
        fig.colorbar(im, ax=ax, label="pT fraction per pixel")
    return [str(save_figure(fig, out / "jet_images.png", dpi=110))]


def plot_lund_images(sample, out):
    classes = _classes(sample)
    p = lund_image.DEFAULT_PARAMS
    fig, axes = plt.subplots(1, len(classes), figsize=(4.2 * len(classes), 3.8), layout="constrained", squeeze=False)
    extent = [*p["log_inv_delta_r_range"], *p["log_kt_range"]]
    for ax, (name, idx) in zip(axes[0], classes):
        img = lund_image.lund_images(sample.constituents[idx], sample.n_constituents[idx], source=name).mean(0)
        im = ax.imshow(img, origin="lower", extent=extent, aspect="auto", cmap="magma")
        ax.set_title(f"{name}: primary Lund plane, {len(idx)} jets")
        ax.set_xlabel(r"$\ln(1/\Delta R)$")
        ax.set_ylabel(r"$\ln(k_T/\mathrm{GeV})$")
        fig.colorbar(im, ax=ax, label="mean fraction of splittings per pixel")
    return [str(save_figure(fig, out / "lund_images.png", dpi=110))]


def plot_vrnn(sample, out, n_examples=3, n_labels=6):
    classes = _classes(sample)
    fig, axes = plt.subplots(
        len(classes), n_examples, figsize=(3.6 * n_examples, 3.4 * len(classes)), layout="constrained", squeeze=False
    )
    everything = vrnn.sequences(sample.constituents, sample.n_constituents)
    for row, (name, idx) in zip(axes, classes):
        for ax, j in zip(row, idx[:n_examples]):
            m = everything["vrnn_mask"][j] > 0
            f, eta, phi = everything["vrnn_sequence"][j, m].T
            ax.plot(eta, phi, "-", color="0.7", lw=0.8, zorder=1)
            step = np.arange(1, m.sum() + 1)
            sc = ax.scatter(
                eta,
                phi,
                s=1500 * f,
                c=step,
                cmap="plasma",
                vmin=1,
                vmax=len(m),
                zorder=2,
                edgecolors="k",
                linewidths=0.3,
            )
            # the first steps carry the prong structure; later labels would pile up on the cores
            for t in range(min(n_labels, m.sum())):
                ax.annotate(str(t + 1), (eta[t], phi[t]), fontsize=8, xytext=(4, 4), textcoords="offset points")
            ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, ls=":", color="0.5"))
            lim = max(0.5, 1.15 * np.abs(np.concatenate([eta, phi])).max())
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_title(f"{name} jet {j}: {m.sum()} steps")
            ax.set_xlabel(r"$\eta$ (boosted frame)")
            ax.set_ylabel(r"$\phi$ (boosted frame)")
        fig.colorbar(sc, ax=row[-1], label="step in $k_t$ order (marker area: pT fraction)")
    paths = [str(save_figure(fig, out / "vrnn_sequences.png", dpi=110))]

    table = np.array(
        vrnn.fit_pt_fraction_table(everything["vrnn_sequence"], everything["vrnn_mask"])["pt_fraction_table"]
    )
    fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    sns.heatmap(
        table,
        mask=table <= 0,
        norm=LogNorm(),
        cmap="viridis",
        xticklabels=np.arange(1, table.shape[1] + 1),  # steps count from 1
        yticklabels=np.arange(table.shape[0]),
        cbar_kws={"label": "mean pT fraction"},
        ax=ax,
    )
    ax.invert_yaxis()  # multiplicity grows upwards
    ax.tick_params(labelsize=7)
    ax.set_xlabel("step t (k_t order)")
    ax.set_ylabel("multiplicity N")
    ax.set_title(r"$\bar p_{T,N}(t)$ fitted on these jets")
    paths.append(str(save_figure(fig, out / "vrnn_pt_fraction_table.png", dpi=110)))
    return paths


def plot_highlevel(sample, out, min_events=20):
    events = highlevel.complete_events(sample)
    if len(events) == 0:
        raise DataError("highlevel: no event has exactly two jets; give dijet samples")
    feats, mjj, rows = highlevel.dijet_features(events, "highlevel")
    labels = highlevel.event_labels(events, rows)
    print(f"highlevel: {len(rows)} two-jet events of {len(np.unique(sample.event))}", file=sys.stderr)
    for i, cls in enumerate(events.label_names):
        if 0 < np.sum(labels == i) < min_events:
            # a histogram of a handful of events is noise; say so instead of drawing spikes
            print(
                f"highlevel: class {cls!r} has only {int(np.sum(labels == i))} two-jet events; not drawn",
                file=sys.stderr,
            )
    names = list(highlevel.FEATURES) + ["m_jj (kept aside)"]
    columns = [feats[:, i] for i in range(feats.shape[1])] + [mjj]
    fig, axes = plt.subplots(2, 4, figsize=(14, 6.2), layout="constrained")
    for ax, name, values in zip(axes.flat, names, columns):
        bins = np.linspace(*np.quantile(values, [0.0, 0.995]), 41)
        groups = {
            f"{cls} ({np.sum(labels == i)})": values[labels == i]
            for i, cls in enumerate(events.label_names)
            if np.sum(labels == i) >= min_events
        }
        class_histograms(ax, groups, bins, legend=ax is axes.flat[0])
        ax.set_xlabel(name + (" [GeV]" if name.startswith("m_") else ""))
        ax.set_ylabel("density" if ax.get_subplotspec().is_first_col() else "")
    axes.flat[-1].axis("off")
    return [str(save_figure(fig, out / "highlevel_features.png", dpi=110))]


def plot_resample(sample, out, reference=None, seed=0):
    classes = _classes(sample)
    names = [n for n, _ in classes]
    reference = reference or ("qcd" if "qcd" in names else names[0])
    if reference not in names:
        raise DataError(f"reference class {reference!r} not in the data; classes: {names}")
    mass = np.asarray(sample.jets["mass"], np.float64)
    ref_mass = mass[dict(classes)[reference]]
    edges = resample.mass_bins(ref_mass)
    others = [(n, i) for n, i in classes if n != reference]
    if not others:
        raise DataError(f"resample: only the reference class {reference!r} is present; give another class too")
    fig, axes = plt.subplots(1, len(others), figsize=(5.2 * len(others), 4), layout="constrained", squeeze=False)
    report = {}
    plot_edges = np.linspace(0.0, max(edges[-1], np.quantile(mass, 0.995)), 61)
    for ax, (name, idx) in zip(axes[0], others):
        pick = resample.resample(mass[idx], ref_mass, edges=edges, seed=seed)
        rep = resample.jsd_report(mass[idx], ref_mass, edges=edges, index=pick)
        report[name] = rep
        ax.hist(
            ref_mass, plot_edges, density=True, histtype="stepfilled", color="0.85", label=f"{reference} (reference)"
        )
        ax.hist(
            mass[idx],
            plot_edges,
            density=True,
            histtype="step",
            lw=1.5,
            label=f"{name} before, JSD {rep['jsd_before']:.3f}",
        )
        ax.hist(
            mass[idx][pick],
            plot_edges,
            density=True,
            histtype="step",
            lw=1.5,
            ls="--",
            label=f"{name} resampled, JSD {rep['jsd_after']:.4f}\n"
            f"(reference mass not covered: {rep['unmatched_reference_fraction']:.1%})",
        )
        ax.set_xlabel("jet mass [GeV]")
        ax.set_ylabel("density")
        ax.set_title(f"{name} resampled to the {reference} mass")
        ax.legend(fontsize=8)
    return [str(save_figure(fig, out / "mass_resampling.png", dpi=110))], {"reference": reference, "classes": report}


def main(argv=None):
    parser = CommandParser(prog="python -m evaluation.show_inputs", description=__doc__)
    parser.add_argument("--kind", required=True, choices=KINDS + ("all",))
    parser.add_argument("--data", required=True, action="append", help="sample file (repeat for more)")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="folder for the PNG files")
    parser.add_argument("--max-jets", type=integer(1), default=20000, help="jets per class at most (first ones)")
    parser.add_argument("--reference", default=None, help="reference class for resample (default qcd)")
    args = parser.parse_args(argv)
    return run_command(run, args)


def run(args):
    check_inputs(args.data, "--data")
    check_output_dir(args.out, "--out")
    samples = [read_sample(p) for p in args.data]
    sample = concatenate(samples) if len(samples) > 1 else samples[0]
    keep = np.concatenate([idx[: args.max_jets] for _, idx in _classes(sample)])
    sample = sample.subset(np.sort(keep))
    result = {"figures": []}
    for kind in KINDS if args.kind == "all" else (args.kind,):
        print(f"show_inputs: {kind} ...", file=sys.stderr)
        if kind == "jet_image":
            result["figures"] += plot_jet_images(sample, args.out)
        elif kind == "lund_image":
            result["figures"] += plot_lund_images(sample, args.out)
        elif kind == "vrnn":
            result["figures"] += plot_vrnn(sample, args.out)
        elif kind == "highlevel":
            result["figures"] += plot_highlevel(sample, args.out)
        else:
            paths, report = plot_resample(sample, args.out, args.reference)
            result["figures"] += paths
            result["resample"] = report
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
