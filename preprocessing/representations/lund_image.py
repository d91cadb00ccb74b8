"""Primary Lund-plane images (dillon2021, appendix A; Lund plane of Dreyer, Salam, Soyez 2018).

Each jet's constituents are reclustered into one jet with the Cambridge/Aachen algorithm
(scikit-hep ``fastjet``, exclusive clustering to one jet, E-scheme recombination). The
clustering is then undone from the last merging backwards, always following the harder
branch: at each step j_a -> j_b j_c with pT_b > pT_c,

    Delta R = sqrt((y_b - y_c)^2 + (phi_b - phi_c)^2),    k_T = pT_c * Delta R,

and j_b is declustered next. These (Delta R, k_T) pairs are the primary Lund plane (l = 0).
FastJet measures Delta R in rapidity y; for the nearly massless subjets of the harder branch y
is within rounding of eta. k_T uses the softer branch (the standard Lund coordinate; Eq. 17 of
dillon2021 prints the harder branch's pT, which for a 600 GeV jet would push every splitting
with Delta R above about 0.3 over ln k_T = 5, outside the paper's own image range).

Image: every primary splitting adds one count to the pixel of (ln 1/Delta R, ln k_T/GeV) on a
40 x 40 grid over [0, 6] x [-2, 5]; splittings outside are dropped (unless none is inside: then
they are moved to the nearest border pixels); each image is normalised to unit sum, as the
DVAE's softmax decoder expects. Images are (jets, 40, 40) float32 indexed
[ln k_T row, ln 1/Delta R column], row 0 at the lowest ln k_T and column 0 at ln 1/Delta R = 0.
"""

import awkward as ak
import numpy as np

from preprocessing.console import c_stdout_to_stderr
from preprocessing.errors import DataError
from preprocessing.representations.constituents import check_constituents
from preprocessing.representations.record import Representation

DEFAULT_PARAMS = {"n_pixels": 40, "log_inv_delta_r_range": [0.0, 6.0], "log_kt_range": [-2.0, 5.0]}


def primary_declusterings(constituents, n_constituents, source="input", batch_size=5000):
    """(Delta R, k_T) of every primary C/A declustering.

    Args:
        constituents: (jets, particles, 4) as (E, px, py, pz) in GeV, zero padded.
        n_constituents: (jets,) number of real constituents.

    Returns:
        delta_r, kt: flat float64 arrays over all splittings, jet by jet, hardest-angle first;
        counts: (jets,) number of primary splittings per jet.
    """
    import fastjet  # imported here: it is only needed for this representation

    p4, n, mask = check_constituents(constituents, n_constituents, source)
    jet_def = fastjet.JetDefinition(fastjet.cambridge_algorithm, 1000.0)
    deltas, kts, counts = [], [], []
    for start in range(0, len(p4), batch_size):
        sl = slice(start, start + batch_size)
        m = mask[sl]
        c = p4[sl][m]  # (real constituents in batch, 4)
        particles = ak.unflatten(
            ak.zip({"px": c[:, 1], "py": c[:, 2], "pz": c[:, 3], "E": c[:, 0]}, with_name="Momentum4D"), n[sl]
        )
        with c_stdout_to_stderr():  # FastJet prints its banner on file descriptor 1
            cluster = fastjet.ClusterSequence(particles, jet_def)
            lund = cluster.exclusive_jets_lund_declusterings(1)  # (jets, 1 jet, splittings)
        lund = lund[:, 0]
        counts.append(ak.to_numpy(ak.num(lund, axis=1)))
        deltas.append(ak.to_numpy(ak.flatten(lund["Delta"])))
        kts.append(ak.to_numpy(ak.flatten(lund["kt"])))
    return np.concatenate(deltas), np.concatenate(kts), np.concatenate(counts).astype(np.int64)


def lund_images(
    constituents,
    n_constituents,
    n_pixels=40,
    log_inv_delta_r_range=(0.0, 6.0),
    log_kt_range=(-2.0, 5.0),
    source="input",
    allow_empty=False,
):
    """Unit-sum primary Lund-plane images.

    Args:
        constituents: (jets, particles, 4) as (E, px, py, pz) in GeV, zero padded.
        n_constituents: (jets,) number of real constituents.
        n_pixels: pixels per side (40).
        log_inv_delta_r_range: [low, high] of ln(1/Delta R) along the columns.
        log_kt_range: [low, high] of ln(k_T / GeV) along the rows.
        source: where the jets came from, for error messages.
        allow_empty: a jet without any primary splitting (a single constituent) has no Lund image:
            False raises DataError naming it; True leaves its image all zero, for a caller that
            drops such jets itself (their sum is 0).

    Returns:
        (jets, n_pixels, n_pixels) float32 images, each summing to one (or zero, see allow_empty).
    """
    delta, kt, counts = primary_declusterings(constituents, n_constituents, source)
    n_jets = len(counts)
    jet = np.repeat(np.arange(n_jets), counts)  # (splittings,)
    ok = (delta > 0) & (kt > 0)
    x = np.log(1.0 / np.where(ok, delta, 1.0))
    y = np.log(np.where(ok, kt, 1.0))
    (x0, x1), (y0, y1) = log_inv_delta_r_range, log_kt_range
    col = np.floor((x - x0) / (x1 - x0) * n_pixels).astype(np.int64)
    row = np.floor((y - y0) / (y1 - y0) * n_pixels).astype(np.int64)
    inside = ok & (col >= 0) & (col < n_pixels) & (row >= 0) & (row < n_pixels)
    # a jet with no splitting inside the window (about 1 in 50k: e.g. one very soft, very wide
    # splitting) keeps its splittings at the nearest border pixels, so that every jet has a
    # unit-sum image and large samples need no special-casing
    in_window = np.bincount(jet[inside], minlength=n_jets) > 0
    edge = ok & ~in_window[jet]
    inside |= edge
    col = np.where(edge, np.clip(col, 0, n_pixels - 1), col)
    row = np.where(edge, np.clip(row, 0, n_pixels - 1), row)
    flat = (jet * n_pixels + row) * n_pixels + col
    images = np.bincount(flat[inside], minlength=n_jets * n_pixels * n_pixels).astype(np.float64)
    images = images.reshape(n_jets, n_pixels, n_pixels)
    total = images.sum(axis=(1, 2))
    empty = np.nonzero(total <= 0)[0]
    if len(empty) and allow_empty:
        return (images / np.maximum(total, 1.0)[:, None, None]).astype(np.float32)
    if len(empty):  # no splitting at all (a single constituent)
        i = int(empty[0])
        raise DataError(
            f"{source}: jet {i} has no primary Lund splitting ({int(counts[i])} declusterings, "
            f"none with Delta R > 0 and kT > 0; {len(empty)} such jets)"
        )
    return (images / total[:, None, None]).astype(np.float32)


def _build(sample, source="input", **params):
    return {"lund_image": lund_images(sample.constituents, sample.n_constituents, source=source, **params)}


REPRESENTATION = Representation(
    name="lund_image",
    build=_build,
    default_params=DEFAULT_PARAMS,
    shapes=lambda p: {"lund_image": (p["n_pixels"], p["n_pixels"])},
)
