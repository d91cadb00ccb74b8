"""VRNN input sequences (kahn2021, Sec. 3.1 Algorithm 1, Sec. 3.2 and Eq. 2.8).

Algorithm 1 ("jet boosting"), one pass on the constituents p_i of a jet J = sum_i p_i:

1. boost along z with beta_z = -J_z / J_E, so eta_J = 0;
2. rotate about z by -phi_J, so the jet points along +x;
3. rescale every four-vector by m_ref / m_J (m_ref = 0.25 GeV), so m_J = m_ref;
4. boost along x (the jet axis) by the rapidity difference y_ref - y_J, where
   y = atanh(|p| / E) and y_ref = atanh(sqrt(E_ref^2 - m_ref^2) / E_ref), so E_J = E_ref = 1 GeV;
5. rotate about x by -atan2(p_z, p_y) of the hardest constituent, so it has eta = 0, phi > 0.

Then, with Delta R_i = sqrt(eta_i^2 + phi_i^2) measured from the x axis: if any constituent has
Delta R > 1, remove those and repeat from step 1; else if more than 20 constituents remain, keep
the 20 of highest pT and repeat from step 1; else reflect p_z -> -p_z if the second-hardest
constituent has eta < 0. Every repetition removes constituents, so the loop ends. A jet left
massless by the removals (one photon, about 0.3 % of QCD jets) cannot be rescaled; it becomes
a one-step sequence along the jet axis and is flagged (see `algorithm1`). All passes
run on whole batches of jets at once (padded arrays); only jets that still change take part in
the next pass.

"Hardest" in step 5 is the constituent of largest |p| in the current frame. A rotation about x
gives it pT = |p|, and every other constituent has pT <= |p_j| <= |p|, so it is also the
highest-pT constituent of the final frame, the one that must sit at eta = 0, phi > 0 (choosing by
pT before the rotation would not guarantee this, because rotations about x change pT).

Sequence order (Eq. 3.1, "k_t-distance order"): c_1 is the hardest constituent; c_n is the
not-yet-used constituent j maximising pT_j * Delta R(j, c_{n-1}).

Paper vs the authors' code (``selection``): the paper (default, ``"paper"``) keeps the 20 hardest
constituents by pT and reflects so that the second-hardest constituent has eta >= 0; the authors'
public code (``"authors"``) keeps the first 20 by pT^2 * Delta R^2 to the jet axis (largest first)
and reflects so that the second element of the k_t sequence has eta >= 0. The reflection changes
neither pT nor Delta R, so the k_t order is the same before and after it.

Jets left with fewer than ``min_constituents`` (3) constituents after the algorithm are dropped
(paper Sec. 3.1 and the authors' code): the representation builds no row for them, and its
``rows`` gives the events and labels of the kept jets only, in the same order.

Per-step features: (pT fraction, eta, phi) with pT fraction = pT_i / sum_j pT_j over the kept
constituents, eta and phi in the final frame. Sequences have up to 20 steps and a 0/1 mask.

Deviation from the paper: kahn2021's feature is the constituent "pT fraction" pT_i / pT_jet, with
the jet's own pT (SPECS.md); here the denominator is the scalar sum sum_j pT_j of the kept
constituents, so a jet's fractions sum to 1. In the final frame the jet lies along x, so
pT_jet = |p_J| = sqrt(E_ref^2 - m_ref^2) ~ 0.968 GeV, and sum_j pT_j >= pT_jet (triangle
inequality): our fractions are the paper's times pT_jet / sum_j pT_j <= 1, a ratio that changes
from jet to jet (0.97-0.99 on a synthetic spray of 30 constituents). The p-bar table below is fitted
on the same fractions, so training and scoring agree; only feature 0's scale differs from the paper.

p-bar table (Eq. 2.8): pbar_N(t) = (1/D_N) sum over the D_N training jets with N constituents of
the pT fraction of their t-th constituent in sequence order. It weights the KL term of step t,
L(t) = MSE + 0.1 pbar_N(t) KL. It is fitted on training jets only and saved with the model.
"""

import weakref

import numpy as np

from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.representations.constituents import (
    check_constituents,
    from_vector,
    to_vector,
)
from preprocessing.representations.record import Representation

DEFAULT_PARAMS = {
    "max_constituents": 20,
    "target_mass": 0.25,
    "target_energy": 1.0,
    "max_delta_r": 1.0,
    "min_constituents": 3,
    "selection": "paper",
}
SELECTIONS = ("paper", "authors")
N_FEATURES = 3  # pT fraction, eta, phi


def _one_pass(p4, mask, target_mass, target_energy):
    """Steps 1-5 on a batch of padded jets.

    Returns:
        (p4, mask, degenerate): the transformed (jets, particles, 4) array, its mask, and a (jets,)
        flag for massless jets, which are replaced by their hardest constituent along +x with
        energy target_energy (see `algorithm1`).
    """
    jet = p4.sum(axis=1)  # (jets, 4)
    m_jet = physics.mass(jet)
    degenerate = ~(m_jet > 1e-9 * jet[:, 0])
    m_safe = np.where(degenerate, 1.0, m_jet)
    v = to_vector(p4)  # (jets, particles)
    v = v.boostZ(beta=-(jet[:, 3] / jet[:, 0])[:, None])
    v = v.rotateZ(-physics.phi(jet)[:, None])
    p4 = from_vector(v) * (target_mass / m_safe)[:, None, None]
    # jet now along +x with mass target_mass; move its rapidity along x to the target's
    jet = p4.sum(axis=1)
    y_jet = np.arctanh(np.clip(jet[:, 1] / jet[:, 0], -1 + 1e-15, 1 - 1e-15))
    y_ref = np.arctanh(np.sqrt(target_energy**2 - target_mass**2) / target_energy)
    v = to_vector(p4).boostX(beta=np.where(degenerate, 0.0, np.tanh(y_ref - y_jet))[:, None])
    mag = np.where(mask, np.asarray(v.mag), -1.0)
    hard = np.argmax(mag, axis=1)  # (jets,)
    py_h = np.take_along_axis(np.asarray(v.py), hard[:, None], 1)[:, 0]
    pz_h = np.take_along_axis(np.asarray(v.pz), hard[:, None], 1)[:, 0]
    v = v.rotateX(-np.arctan2(pz_h, py_h)[:, None])
    p4 = np.where(mask[..., None], from_vector(v), 0.0)
    if degenerate.any():
        rows = np.nonzero(degenerate)[0]
        mask = mask.copy()
        mask[rows] = False
        mask[rows, hard[rows]] = True
        p4[rows] = 0.0
        p4[rows, hard[rows]] = [target_energy, target_energy, 0.0, 0.0]
    return p4, mask, degenerate


def _sort_by_pt(p4, mask):
    """Sort constituents of each jet by pT (current frame), padding last."""
    pt = np.where(mask, physics.pt(p4), -1.0)
    order = np.argsort(-pt, axis=1, kind="stable")
    return np.take_along_axis(p4, order[..., None], 1), np.take_along_axis(mask, order, 1)


def _truncation_order(p4, mask, selection):
    """Per jet, constituent indices in the order the truncation to max_constituents keeps them.

    "paper": highest pT first; "authors": highest pT^2 * Delta R^2 to the x axis first (their k_t
    distance to the jet axis). Padding last in both.
    """
    pt = physics.pt(p4)
    if selection == "authors":
        dr2 = physics.eta(p4) ** 2 + physics.phi(p4) ** 2
        key = np.where(mask, pt**2 * dr2, -1.0)
    else:
        key = np.where(mask, pt, -1.0)
    return np.argsort(-key, axis=1, kind="stable")


def algorithm1(
    constituents,
    n_constituents,
    max_constituents=20,
    target_mass=0.25,
    target_energy=1.0,
    max_delta_r=1.0,
    source="input",
    return_info=False,
    selection="paper",
):
    """kahn2021 Algorithm 1 on a batch of jets.

    Args:
        constituents: (jets, particles, 4) as (E, px, py, pz), zero padded.
        n_constituents: (jets,) number of real constituents.
        max_constituents: keep at most this many (20).
        target_mass, target_energy: reference jet mass and energy in GeV (0.25, 1).
        max_delta_r: constituents beyond this Delta R from the x axis are removed (1).
        source: where the jets came from, for error messages.
        return_info: also return {"passes": (jets,) passes needed, "degenerate": (jets,) bool}.
        selection: "paper" keeps the 20 hardest by pT and reflects on the second-hardest
            constituent; "authors" keeps the first 20 by pT^2 Delta R^2 and does not reflect here
            (`sequences` reflects on the second element of the k_t sequence).

    Returns:
        p4 (jets, max_constituents, 4) float64 in the final frame sorted by pT (hardest first,
        zero padded) and mask (jets, max_constituents) bool; with return_info also the info dict.

    Degenerate jets: removing constituents beyond Delta R = 1 can cascade (the lighter remaining
    jet is spread wider by the boost to E = 1 GeV, so more constituents leave the cone) until one
    massless constituent is left,
    e.g. a jet whose pT is mostly one photon with a soft wide spray (about 0.3 % of generated
    QCD jets). Such a jet has no rest frame to rescale; it is returned as its hardest
    constituent alone, along the jet axis (eta = phi = 0) with E = target_energy and zero mass,
    i.e. a one-step sequence (pT fraction 1, 0, 0), the limit of a one-constituent jet, and it is
    flagged in info["degenerate"]. A single massive constituent is an ordinary jet (mass 0.25 GeV).
    """
    if not 0 < target_mass < target_energy:
        raise DataError(f"target_mass {target_mass} must be positive and below target_energy {target_energy}")
    if selection not in SELECTIONS:
        raise DataError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    p4, _, mask = check_constituents(constituents, n_constituents, source)
    n_jets = len(p4)
    out = np.zeros((n_jets, max_constituents, 4))
    out_mask = np.zeros((n_jets, max_constituents), bool)
    passes = np.zeros(n_jets, np.int64)
    degenerate = np.zeros(n_jets, bool)
    rows = np.arange(n_jets)  # jets still being processed, as rows of the input
    # padding beyond the longest jet costs time in every pass
    width = int(mask.sum(1).max())
    p4, mask = p4[:, :width], mask[:, :width]
    while len(rows):
        passes[rows] += 1
        p4, mask, deg = _one_pass(p4, mask, target_mass, target_energy)
        degenerate[rows[deg]] = True
        eta = np.where(mask, physics.eta(p4), 0.0)
        phi = np.where(mask, physics.phi(p4), 0.0)
        far = mask & (np.hypot(eta, phi) > max_delta_r)  # (jets, particles)
        has_far = far.any(axis=1)
        n_left = (mask & ~far).sum(axis=1)
        too_many = ~has_far & (n_left > max_constituents)
        done = ~has_far & ~too_many
        # finished jets: sort by pT, reflect so the second-hardest has eta >= 0, store
        if done.any():
            fp4, fmask = _sort_by_pt(p4[done], mask[done])
            k = min(fp4.shape[1], max_constituents)
            fp4, fmask = fp4[:, :k], fmask[:, :k]
            if k > 1 and selection == "paper":
                flip = fmask[:, 1] & (physics.eta(fp4[:, 1]) < 0)
                fp4[flip, :, 3] *= -1.0
            out[rows[done], :k] = fp4
            out_mask[rows[done], :k] = fmask
        # the rest: drop far constituents or all but the hardest max_constituents, then repeat
        keep = ~done
        p4, mask, rows = p4[keep], mask[keep] & ~far[keep], rows[keep]
        if len(rows):
            p4 = np.where(mask[..., None], p4, 0.0)
            order = _truncation_order(p4, mask, selection)
            p4, mask = np.take_along_axis(p4, order[..., None], 1), np.take_along_axis(mask, order, 1)
            trunc = too_many[keep]
            mask[trunc, max_constituents:] = False
            p4 = np.where(mask[..., None], p4, 0.0)
            width = int(mask.sum(1).max())
            p4, mask = p4[:, :width], mask[:, :width]
    out = np.where(out_mask[..., None], out, 0.0)
    if return_info:
        return out, out_mask, {"passes": passes, "degenerate": degenerate}
    return out, out_mask


def kt_order(pt, eta, phi, mask):
    """k_t-distance order of each jet's constituents (kahn2021 Eq. 3.1).

    Args:
        pt, eta, phi: (jets, particles) in the final frame; column 0 must be the hardest.
        mask: (jets, particles) bool.

    Returns:
        (jets, particles) int permutation: real constituents in k_t order, then the padding.
    """
    n_jets, n_particles = pt.shape
    order = np.zeros((n_jets, n_particles), np.int64)
    used = np.zeros((n_jets, n_particles), bool)
    used[:, 0] = True
    rows = np.arange(n_jets)
    cur = np.zeros(n_jets, np.int64)
    for t in range(1, n_particles):
        dist = pt * np.hypot(eta - eta[rows, cur][:, None], physics.wrap_phi(phi - phi[rows, cur][:, None]))
        # real constituents have dist >= 0 and beat padding (-1); used ones never win
        score = np.where(used, -np.inf, np.where(mask, dist, -1.0))  # (jets, particles)
        cur = np.argmax(score, axis=1)
        order[:, t] = cur
        used[rows, cur] = True
    return order


def sequences(
    constituents,
    n_constituents,
    max_constituents=20,
    target_mass=0.25,
    target_energy=1.0,
    max_delta_r=1.0,
    min_constituents=3,
    selection="paper",
    source="input",
    batch_size=2000,
    drop=True,
):
    """VRNN inputs: Algorithm 1, k_t ordering and per-step features.

    Args:
        constituents: (jets, particles, 4) as (E, px, py, pz), zero padded.
        n_constituents: (jets,) number of real constituents.
        min_constituents: jets with fewer constituents after Algorithm 1 are short (3).
        selection: "paper" or "authors" (see the module docstring).
        batch_size: jets per vectorised batch (bounds memory; about 2000 is fastest, the arrays stay in cache).
        drop: True returns the kept jets only (short jets removed); False returns every jet, short
            ones included (use `kept` on the result to find them).

    Returns:
        {"vrnn_sequence": (jets, max_constituents, 3) float32 (pT fraction, eta, phi), zero padded,
         "vrnn_mask": (jets, max_constituents) float32}.
    """
    n_jets = len(constituents)
    seq = np.zeros((n_jets, max_constituents, N_FEATURES), np.float32)
    msk = np.zeros((n_jets, max_constituents), np.float32)
    for start in range(0, n_jets, batch_size):
        sl = slice(start, start + batch_size)
        p4, mask = algorithm1(
            constituents[sl],
            n_constituents[sl],
            max_constituents,
            target_mass,
            target_energy,
            max_delta_r,
            source=source,
            selection=selection,
        )
        pt = np.where(mask, physics.pt(p4), 0.0)
        eta = np.where(mask, physics.eta(p4), 0.0)
        phi = np.where(mask, physics.phi(p4), 0.0)
        order = kt_order(pt, eta, phi, mask)  # (jets, n)
        feats = np.stack([pt / pt.sum(1, keepdims=True), eta, phi], axis=-1)  # (jets, n, 3)
        feats = np.take_along_axis(feats, order[..., None], 1)
        if selection == "authors" and feats.shape[1] > 1:
            # the authors reflect on the second element of the k_t sequence (order is unchanged by it)
            flip = np.take_along_axis(mask, order, 1)[:, 1] & (feats[:, 1, 1] < 0)
            feats[flip, :, 1] *= -1.0
        seq[sl] = feats
        msk[sl] = np.take_along_axis(mask, order, 1)
    out = {"vrnn_sequence": seq, "vrnn_mask": msk}
    if drop:
        keep = kept(out, min_constituents)
        out = {k: v[keep] for k, v in out.items()}
    return out


def kept(inputs, min_constituents=3):
    """(jets,) bool: jets with at least `min_constituents` steps in {"vrnn_mask": ...}."""
    return np.asarray(inputs["vrnn_mask"]).sum(1) >= min_constituents


def fit_pt_fraction_table(sequence, mask):
    """Fit pbar_N(t) (Eq. 2.8) on training sequences.

    Args:
        sequence: (jets, T, 3) VRNN features; feature 0 is the pT fraction.
        mask: (jets, T) 0/1.

    Returns:
        {"pt_fraction_table": (T + 1) x T nested list, row N = multiplicity, column t = step
         (0-based); rows with no training jets hold 1/N for t < N (equal sharing), row 0 is zero;
         "jets_per_multiplicity": list of D_N}. JSON-serialisable, for the model card.
    """
    sequence = np.asarray(sequence, np.float64)
    mask = np.asarray(mask) > 0
    n_steps = sequence.shape[1]
    n = mask.sum(1)  # (jets,)
    frac = np.where(mask, sequence[..., 0], 0.0)
    sums = np.zeros((n_steps + 1, n_steps))
    np.add.at(sums, n, frac)
    counts = np.bincount(n, minlength=n_steps + 1)[: n_steps + 1]
    table = np.zeros((n_steps + 1, n_steps))
    steps = np.arange(n_steps)
    for big_n in range(1, n_steps + 1):
        table[big_n] = sums[big_n] / counts[big_n] if counts[big_n] else np.where(steps < big_n, 1.0 / big_n, 0.0)
    return {"pt_fraction_table": table.tolist(), "jets_per_multiplicity": counts.tolist()}


def kl_weights(table, mask):
    """Per-step pbar_N(t) of each jet, N its number of steps: (jets, T) float32, zero at padding."""
    table = np.asarray(table["pt_fraction_table"] if isinstance(table, dict) else table, np.float64)
    mask = np.asarray(mask) > 0
    n = mask.sum(1)
    if table.shape != (mask.shape[1] + 1, mask.shape[1]):
        raise DataError(
            f"pt_fraction_table has shape {table.shape}; sequences of length {mask.shape[1]} "
            f"need {(mask.shape[1] + 1, mask.shape[1])}"
        )
    return np.where(mask, table[n], 0.0).astype(np.float32)


# the kept-jet flags of the latest build of each sample, so that `rows` matches `build` without
# running Algorithm 1 again: id(sample) -> (weak reference to the sample, (jets,) bool)
_KEPT = {}


def _build(sample, source="input", **params):
    full = sequences(sample.constituents, sample.n_constituents, source=source, drop=False, **params)
    keep = kept(full, params.get("min_constituents", DEFAULT_PARAMS["min_constituents"]))
    for key in [k for k, (ref, _) in _KEPT.items() if ref() is None]:
        del _KEPT[key]  # samples that no longer exist
    _KEPT[id(sample)] = (weakref.ref(sample), keep)
    return {k: v[keep] for k, v in full.items()}


def kept_rows(sample, source="input", **params):
    """(jets,) bool: the jets of `sample` that `build` keeps (the latest build's, else recomputed)."""
    entry = _KEPT.get(id(sample))
    if entry is not None and entry[0]() is sample:
        return entry[1]
    full = sequences(sample.constituents, sample.n_constituents, source=source, drop=False, **params)
    return kept(full, params.get("min_constituents", DEFAULT_PARAMS["min_constituents"]))


def _rows(sample, source="input"):
    keep = kept_rows(sample, source)
    return sample.event[keep], sample.labels[keep]


def _fit(inputs):
    return fit_pt_fraction_table(inputs["vrnn_sequence"], inputs["vrnn_mask"])


REPRESENTATION = Representation(
    name="vrnn",
    build=_build,
    default_params=DEFAULT_PARAMS,
    fit=_fit,
    rows=_rows,
    shapes=lambda p: {"vrnn_sequence": (p["max_constituents"], N_FEATURES), "vrnn_mask": (p["max_constituents"],)},
)
