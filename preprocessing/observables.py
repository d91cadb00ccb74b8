"""Jet substructure observables: N-subjettiness tau_1..tau_4 and the energy-correlation ratio D2.

N-subjettiness (Thaler, Van Tilburg, arXiv:1011.2268; used by cheng2020, bortolato2021 and
kahn2021 through tau21 = tau2/tau1 and tau32 = tau3/tau2), with angular exponent beta = 1::

    tau_N = sum_i pT_i * min_k dR(i, a_k)^beta

summed over the jet's constituents i, with the N axes a_k taken from exclusive-kT clustering of
the constituents into exactly N subjets (E-scheme, the "KT_Axes" choice of FastJet contrib's
Nsubjettiness). The measure is unnormalised (GeV), like the LHC Olympics R&D features; ratios
such as tau21 do not depend on the normalisation. dR uses rapidity and azimuth.
scikit-hep ``fastjet`` 3.5 does not wrap the contrib's ``Nsubjettiness``, so the axes come from
its exclusive kT clustering (one clustering per batch of jets serves N = 1..4) and the sum is
done here in numpy. KT axes are not the tau-minimising axes, so tau_{N+1} > tau_N can happen
for a few per cent of jets, as with FastJet contrib's KT_Axes.

Energy-correlation ratio D2 (Larkoski, Moult, Neill, arXiv:1409.6298; the D2 cut that kahn2021
compares with), beta = 1, with z_i = pT_i / sum_j pT_j::

    e2 = sum_{i<j} z_i z_j dR_ij,   e3 = sum_{i<j<k} z_i z_j z_k dR_ij dR_ik dR_jk,   D2 = e3 / e2^3

The triple sum is evaluated as e3 = trace((Z A)^3) / 6 with Z = diag(z) and A_ij = dR_ij
(A_ii = 0 removes the terms with repeated indices), a batched matrix product instead of a
loop over triplets; all its terms are non-negative, so the O(n^3) product runs in single
precision (relative error ~1e-6). Jets are grouped by constituent count so that each group is
padded only to its own longest jet. D2 is 0 for jets with fewer than two constituents.
"""

import warnings

import numpy as np

N_MAX = 4  # tau_1 .. tau_4
_GHOST_PT = 1e-9  # GeV; soft enough not to change any tau beyond float32 precision
_KT_RADIUS = 10.0  # larger than any in-jet distance, so no constituent is merged with the beam


def _rapidity_phi(p4):
    """Rapidity and azimuth of (..., 4) (E, px, py, pz); 0 for zero (padding) vectors."""
    e, pz = p4[..., 0], p4[..., 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        y = 0.5 * np.log((e + pz) / (e - pz))
    y = np.where(np.isfinite(y), y, 0.0)
    return y, np.arctan2(p4[..., 2], p4[..., 1])


def _delta_r(y1, phi1, y2, phi2):
    dphi = (phi1 - phi2 + np.pi) % (2.0 * np.pi) - np.pi
    return np.hypot(y1 - y2, dphi)


def _pairwise_delta_r(p4, mask):
    """(jets, P, P) matrix of dR between the constituents of each jet, zero where padded.

    Coordinates are taken relative to the hardest constituent, so that within a jet no
    azimuth difference needs wrapping (jets are far narrower than pi), and
    dR^2 = |u_i|^2 + |u_j|^2 - 2 u_i.u_j with u = (y, phi) becomes one batched matrix product
    instead of several (jets, P, P) temporaries.
    """
    y, phi = _rapidity_phi(p4)
    u = np.stack([y - y[:, :1], (phi - phi[:, :1] + np.pi) % (2.0 * np.pi) - np.pi], -1)  # (jets, P, 2)
    u *= mask[..., None]
    if np.abs(u[..., 1]).max(initial=0.0) >= 0.5 * np.pi:  # too wide for unwrapped differences
        dr = _delta_r(y[:, :, None], phi[:, :, None], y[:, None, :], phi[:, None, :])
        return dr * (mask[:, :, None] & mask[:, None, :])
    sq = np.einsum("jpc,jpc->jp", u, u)  # (jets, P)
    d2 = sq[:, :, None] + sq[:, None, :] - 2.0 * (u @ np.swapaxes(u, 1, 2))
    dr = np.sqrt(np.maximum(d2, 0.0))
    return dr * (mask[:, :, None] & mask[:, None, :])


def _mask(constituents, n_constituents):
    return np.arange(constituents.shape[1])[None, :] < np.asarray(n_constituents)[:, None]


def kt_axes(constituents, n_constituents, n_max=N_MAX):
    """Exclusive-kT subjet axes of each jet for N = 1 .. n_max from one clustering.

    Returns:
        list over N of (rapidity, phi), each of shape (jets, N).

    Jets with fewer than `n_max` constituents get soft ghosts next to their hardest constituent;
    having almost no pT they are merged first, so every real constituent of such a jet stays
    its own axis and tau_N = 0 there, as it should be.
    """
    import awkward as ak
    import fastjet

    c = np.asarray(constituents, dtype=np.float64)
    n = np.asarray(n_constituents)
    mask = _mask(c, n)
    pad = np.maximum(n_max - n, 0)
    if pad.any():
        # ghosts: tiny massless vectors at the hardest constituent's rapidity, slightly rotated in phi
        y0, phi0 = _rapidity_phi(c[:, 0])
        ph = phi0[:, None] + 0.01 * np.arange(1, n_max + 1)[None, :]  # (jets, n_max)
        px, py = _GHOST_PT * np.cos(ph), _GHOST_PT * np.sin(ph)
        pz = _GHOST_PT * np.sinh(y0)[:, None] * np.ones_like(ph)
        extra = np.stack([np.sqrt(px**2 + py**2 + pz**2), px, py, pz], -1)  # (jets, n_max, 4)
        c = np.concatenate([c, extra], axis=1)
        mask = np.concatenate([mask, np.arange(n_max)[None, :] < pad[:, None]], axis=1)
    counts = mask.sum(axis=1)
    flat = c[mask]  # (total particles, 4), jet by jet
    particles = ak.unflatten(ak.zip({"px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3], "E": flat[:, 0]}),
                             counts)
    cluster = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.kt_algorithm, _KT_RADIUS))
    axes = []
    with warnings.catch_warnings():
        # the wrapper warns about exclusive jets of non-kT finders even for kT itself
        warnings.filterwarnings("ignore", message="dcut and exclusive jets")
        for n_axes in range(1, n_max + 1):
            sub = cluster.exclusive_jets(n_jets=n_axes)
            s4 = np.stack([ak.to_numpy(ak.flatten(getattr(sub, k))) for k in ("E", "px", "py", "pz")], -1)
            axes.append(_rapidity_phi(s4.reshape(len(c), n_axes, 4)))
    return axes


def nsubjettiness(constituents, n_constituents, n_max=N_MAX, beta=1.0):
    """tau_1 .. tau_{n_max} (GeV, unnormalised, KT axes) of padded jets.

    Args:
        constituents: (jets, particles, 4) as (E, px, py, pz), padding after the real ones.
        n_constituents: (jets,) number of real constituents.
        n_max: highest N.
        beta: angular exponent (1 in all the project's papers).

    Returns:
        (jets, n_max) float64 array; column N-1 holds tau_N.
    """
    c = np.asarray(constituents, dtype=np.float64)
    out = np.zeros((len(c), n_max))
    if len(c) == 0:
        return out
    width = max(int(np.max(n_constituents)), 1)
    c = c[:, :width]  # padding beyond the longest jet carries nothing
    mask = _mask(c, n_constituents)
    pt = np.where(mask, np.hypot(c[..., 1], c[..., 2]), 0.0)  # (jets, particles)
    y, phi = _rapidity_phi(c)
    for n_axes, (ay, aphi) in enumerate(kt_axes(c, n_constituents, n_max), start=1):  # (jets, n_axes)
        dr = _delta_r(y[:, :, None], phi[:, :, None], ay[:, None, :], aphi[:, None, :])  # (jets, particles, axes)
        out[:, n_axes - 1] = np.sum(pt * dr.min(axis=-1) ** beta, axis=1)
    return out


def d2(constituents, n_constituents, beta=1.0, chunk=16):
    """Energy-correlation ratio D2 = e3 / e2^3 (beta = 1 by default) of padded jets, shape (jets,).

    The cost is O(n^3) per jet (a matrix product of size n = constituent count), so jets are
    processed in groups of similar n, each padded only to its own longest jet.
    """
    c = np.asarray(constituents, dtype=np.float64)
    n = np.asarray(n_constituents)
    out = np.zeros(len(c))
    by_size = np.argsort(n, kind="stable")
    for start in range(0, len(c), chunk):
        rows = by_size[start:start + chunk]
        width = int(n[rows].max())
        if width < 2:
            continue
        part, npart = c[rows, :width], n[rows]
        mask = _mask(part, npart)
        pt = np.where(mask, np.hypot(part[..., 1], part[..., 2]), 0.0)
        z = pt / np.maximum(pt.sum(axis=1, keepdims=True), 1e-300)  # (jets, particles)
        a = _pairwise_delta_r(part, mask) ** beta  # (jets, P, P), zero on padding
        idx = np.arange(width)
        a[:, idx, idx] = 0.0
        za = z[:, :, None] * a  # (jets, P, P) = Z A
        e2 = 0.5 * np.einsum("jik,jk->j", za, z)
        # every term of the triple sum is >= 0, so single precision loses nothing but rounding
        # (~1e-6 relative) and halves the cost of the O(P^3) product
        za32 = za.astype(np.float32)
        e3 = np.einsum("jik,jki->j", za32 @ za32, za32, dtype=np.float64) / 6.0  # trace((ZA)^3) / 6
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows] = np.where(e2 > 0, e3 / e2**3, 0.0)
    return out


def jet_observables(constituents, n_constituents):
    """All per-jet observables stored under /jets: tau1..tau4, tau21, tau32, d2, n_const.

    Args:
        constituents: (jets, particles, 4) (E, px, py, pz), ALL constituents of each jet (the
            observables should not depend on the storage truncation).
        n_constituents: (jets,) real constituents per jet.

    Returns:
        dict name -> (jets,) float64 array.
    """
    tau = nsubjettiness(constituents, n_constituents)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau21 = np.where(tau[:, 0] > 0, tau[:, 1] / tau[:, 0], 0.0)
        tau32 = np.where(tau[:, 1] > 0, tau[:, 2] / tau[:, 1], 0.0)
    out = {f"tau{k + 1}": tau[:, k] for k in range(N_MAX)}
    out.update(tau21=tau21, tau32=tau32, d2=d2(constituents, n_constituents),
               n_const=np.asarray(n_constituents, dtype=np.float64))
    return out
