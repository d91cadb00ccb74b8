"""Mass decorrelation by matching a sample's jet-mass distribution to a reference
(cheng2020 Sec. IV, outlier exposure with mass-rescaled W jets; cheng2022 Sec. 3 "planing").

With bins b over the reference range, reference histogram R_b and sample histogram S_b (both
normalised to unit sum), every jet i of the sample in bin b(i) gets the weight

    w_i = R_b(i) / S_b(i)        (0 outside the reference range),

so the weighted sample histogram equals R wherever the sample populates the bin. ``reweight``
returns w normalised to mean 1; ``resample`` draws jets with replacement with probability
proportional to w (a plain, unweighted sample for training), seeded.

Matching quality is reported as the Jensen-Shannon divergence of the two normalised histograms,

    JSD(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M),   M = (P + Q) / 2,

in bits (log base 2), so 0 <= JSD <= 1: 0 for identical histograms, 1 for disjoint ones.
Reference bins that hold no sample jet cannot be matched; their reference probability is
reported as ``unmatched_reference_fraction``.
"""

import numpy as np

from preprocessing.errors import DataError

DEFAULT_BINS = 40


def mass_bins(reference_mass, bins=DEFAULT_BINS, low=None, high=None):
    """Equal-width bin edges over [low, high], by default the reference's 0.1 and 99.9 % quantiles."""
    ref = np.asarray(reference_mass, np.float64)
    if len(ref) == 0:
        raise DataError("reference mass distribution is empty")
    low = np.quantile(ref, 0.001) if low is None else low
    high = np.quantile(ref, 0.999) if high is None else high
    if not high > low:
        raise DataError(f"mass bins need high > low, got [{low}, {high}]")
    return np.linspace(low, high, int(bins) + 1)


def histogram(mass, edges, weights=None):
    """Normalised histogram (unit sum) of mass in edges; all zeros if nothing falls inside."""
    h, _ = np.histogram(np.asarray(mass, np.float64), edges, weights=weights)
    total = h.sum()
    return h / total if total > 0 else h.astype(np.float64)


def jensen_shannon(p, q):
    """Jensen-Shannon divergence in bits of two histograms (normalised here)."""
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    if p.shape != q.shape:
        raise DataError(f"histograms have different shapes {p.shape} and {q.shape}")
    if p.sum() <= 0 or q.sum() <= 0:
        raise DataError("Jensen-Shannon divergence of an empty histogram")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a):
        nz = a > 0
        return np.sum(a[nz] * np.log2(a[nz] / m[nz]))

    return float(0.5 * kl(p) + 0.5 * kl(q))


def reweight(mass, reference_mass, edges=None):
    """Per-jet weights (mean 1) that make the mass histogram of `mass` match the reference's.

    Args:
        mass: (jets,) masses of the sample to reweight.
        reference_mass: (jets_ref,) masses of the reference (e.g. QCD).
        edges: bin edges; `mass_bins(reference_mass)` if None.

    Returns:
        (jets,) float64 weights, zero outside the reference range and in bins the reference lacks.
    """
    mass = np.asarray(mass, np.float64)
    edges = mass_bins(reference_mass) if edges is None else np.asarray(edges, np.float64)
    ref_h = histogram(reference_mass, edges)
    own_h = histogram(mass, edges)
    if own_h.sum() <= 0:
        raise DataError(
            f"no jet of the sample has a mass inside the reference range [{edges[0]:.1f}, {edges[-1]:.1f}] GeV"
        )
    b = np.digitize(mass, edges) - 1  # bin index; -1 and len(edges)-1 are outside
    inside = (b >= 0) & (b < len(edges) - 1)
    b_safe = np.clip(b, 0, len(edges) - 2)
    ratio = np.where(own_h > 0, ref_h / np.where(own_h > 0, own_h, 1.0), 0.0)
    # the last edge belongs to the last bin, as in np.histogram
    inside |= mass == edges[-1]
    w = np.where(inside, ratio[b_safe], 0.0)
    if w.sum() <= 0:
        raise DataError("the sample and the reference share no populated mass bin")
    return w * (len(w) / w.sum())


def resample(mass, reference_mass, n=None, edges=None, seed=0):
    """Indices of a resampled sample (with replacement) whose mass distribution matches the reference.

    Args:
        mass: (jets,) masses of the sample.
        reference_mass: (jets_ref,) reference masses.
        n: number of jets to draw; len(mass) if None.
        edges: bin edges; `mass_bins(reference_mass)` if None.
        seed: seed of the draw.

    Returns:
        (n,) int indices into the sample.
    """
    w = reweight(mass, reference_mass, edges)
    n = len(w) if n is None else int(n)
    return np.random.default_rng(seed).choice(len(w), size=n, replace=True, p=w / w.sum())


def jsd_report(mass, reference_mass, edges=None, weights=None, index=None):
    """Matching quality of a sample against the reference, before and after reweighting/resampling.

    Args:
        mass: (jets,) sample masses.
        reference_mass: (jets_ref,) reference masses.
        edges: bin edges; `mass_bins(reference_mass)` if None.
        weights: per-jet weights from `reweight`, or None.
        index: indices from `resample`, or None.

    Returns:
        {"jsd_before", "jsd_after" (if weights or index given), "unmatched_reference_fraction",
         "bins", "range"}: JSON-safe numbers.
    """
    mass = np.asarray(mass, np.float64)
    edges = mass_bins(reference_mass) if edges is None else np.asarray(edges, np.float64)
    ref_h = histogram(reference_mass, edges)
    own_h = histogram(mass, edges)
    report = {
        "jsd_before": jensen_shannon(own_h, ref_h),
        "unmatched_reference_fraction": float(ref_h[own_h <= 0].sum()),
        "bins": len(edges) - 1,
        "range": [float(edges[0]), float(edges[-1])],
    }
    if weights is not None:
        report["jsd_after"] = jensen_shannon(histogram(mass, edges, weights), ref_h)
    elif index is not None:
        report["jsd_after"] = jensen_shannon(histogram(mass[np.asarray(index)], edges), ref_h)
    return report
