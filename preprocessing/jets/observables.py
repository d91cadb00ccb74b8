"""Jet substructure observables: N-subjettiness tau_1..tau_4 and the energy-correlation ratio D2.

N-subjettiness (Thaler, Van Tilburg, arXiv:1011.2268; used by cheng2020, bortolato2021 and
kahn2021 through tau21 = tau2/tau1 and tau32 = tau3/tau2), with angular exponent beta = 1::

    tau_N = sum_i pT_i * min_k dR(i, a_k)^beta

summed over the jet's constituents i. The N axes a_k minimise tau_N, as FastJet contrib's
Nsubjettiness does with its "OnePass_KT_Axes": they start at the exclusive-kT subjets of the
constituents (E-scheme) and are then improved by alternating two steps, MINIMISATION_STEPS
times: assign every particle to its nearest axis, and move each axis to the pT-weighted
geometric median of its particles (one Weiszfeld step, the minimiser of the sum of distances
for beta = 1). Each step can only lower tau_N, and the smaller of the kT and minimised values
is kept. Without the minimisation (bare kT axes) tau2 > tau1 happened for 2 % of leading and
9 % of sub-leading LHCO-style QCD jets and QCD looked more two-pronged than it is: a
density estimate on the bortolato2021 observables separated the W' signal with SIC 1.7 at
eps_S = 0.5 instead of 2.7 with minimised axes. The measure is unnormalised (GeV), like the LHC
Olympics R&D features; ratios such as tau21 do not depend on the normalisation. dR uses
rapidity and azimuth. scikit-hep ``fastjet`` 3.5 does not wrap the contrib's
``Nsubjettiness``, so the starting axes come from its exclusive kT clustering (one clustering
per batch of jets serves N = 1..4) and the rest is done here in numpy.

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

from preprocessing.jets import physics

OBSERVABLES_VERSION = 2  # 2: tau-minimising axes (1: bare exclusive-kT axes); part of cache keys
N_MAX = 4  # tau_1 .. tau_4
MINIMISATION_STEPS = 10  # at most this many assignment + Weiszfeld steps after the kT axes
CONVERGED = 1e-5  # a jet stops once a step lowers its tau_N by less than this fraction
_GHOST_PT = 1e-9  # GeV; soft enough not to change any tau beyond float32 precision
_KT_RADIUS = 10.0  # larger than any in-jet distance, so no constituent is merged with the beam


def _rapidity_phi(p4):
    """Rapidity and azimuth of (..., 4) (E, px, py, pz); 0 for zero (padding) vectors."""
    e, pz = p4[..., 0], p4[..., 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        y = 0.5 * np.log((e + pz) / (e - pz))
    y = np.where(np.isfinite(y), y, 0.0)
    return y, np.arctan2(p4[..., 2], p4[..., 1])


def _pairwise_delta_r(p4, mask, masked=True):
    """(jets, P, P) matrix of dR between the constituents of each jet, zero where padded.

    Coordinates are taken relative to the hardest constituent, so that within a jet no
    azimuth difference needs wrapping (jets are far narrower than pi), and
    dR^2 = |u_i|^2 + |u_j|^2 - 2 u_i.u_j with u = (y, phi) becomes one batched matrix product
    instead of several (jets, P, P) temporaries (the remaining steps work in place).
    With ``masked=False`` the rows and columns of padding are left holding finite values (for
    callers that weight them by zero anyway).
    """
    y, phi = _rapidity_phi(p4)
    u = np.stack([y - y[:, :1], physics.wrap_phi(phi - phi[:, :1])], -1)  # (jets, P, 2)
    u *= mask[..., None]
    if np.abs(u[..., 1]).max(initial=0.0) >= 0.5 * np.pi:  # too wide for unwrapped differences
        dr = physics.delta_r(y[:, :, None], phi[:, :, None], y[:, None, :], phi[:, None, :])
        return dr * (mask[:, :, None] & mask[:, None, :])
    sq = np.einsum("jpc,jpc->jp", u, u)  # (jets, P)
    twice = u @ np.swapaxes(u, 1, 2)
    twice *= 2.0
    dr = np.add(sq[:, :, None], sq[:, None, :])
    dr -= twice
    np.maximum(dr, 0.0, out=dr)
    np.sqrt(dr, out=dr)
    if masked:
        dr *= mask[:, :, None] & mask[:, None, :]
    return dr


def _mask(constituents, n_constituents):
    return np.arange(constituents.shape[1])[None, :] < np.asarray(n_constituents)[:, None]


def _flatten(constituents, n_constituents):
    """Padded (jets, P, 4) jets as flat (particles, 4) float64, jet by jet, and (jets,) counts."""
    c = np.asarray(constituents, dtype=np.float64)
    n = np.asarray(n_constituents, dtype=np.int64)
    return c[_mask(c, n)], n


def _starts(counts):
    """Index of each jet's first particle in the flat list."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def _with_ghosts(particles, counts, n_max):
    """Flat jets with soft ghosts appended to each jet of fewer than `n_max` particles.

    Ghosts are tiny massless vectors at the jet's first (hardest) particle's rapidity, slightly
    rotated in phi; returns (particles, counts) with the ghosts after each jet's own particles.
    """
    pad = np.maximum(n_max - counts, 0)
    if not pad.any():
        return particles, counts
    start = _starts(counts)
    first = np.zeros((len(counts), 4))
    first[counts > 0] = particles[start[counts > 0]]
    y0, phi0 = _rapidity_phi(first)
    ph = phi0[:, None] + 0.01 * np.arange(1, n_max + 1)[None, :]  # (jets, n_max)
    px, py = _GHOST_PT * np.cos(ph), _GHOST_PT * np.sin(ph)
    pz = _GHOST_PT * np.sinh(y0)[:, None] * np.ones_like(ph)
    ghosts = np.stack([np.sqrt(px**2 + py**2 + pz**2), px, py, pz], -1)  # (jets, n_max, 4)
    ghosts = ghosts[np.arange(n_max)[None, :] < pad[:, None]]  # the pad[j] first ghosts of jet j, jet by jet
    total = counts + pad
    new_start = _starts(total)
    out = np.empty((int(total.sum()), 4))
    jet_of = np.repeat(np.arange(len(counts)), counts)
    out[new_start[jet_of] + np.arange(len(jet_of)) - start[jet_of]] = particles
    ghost_jet = np.repeat(np.arange(len(counts)), pad)
    out[new_start[ghost_jet] + counts[ghost_jet] + np.arange(len(ghost_jet)) - _starts(pad)[ghost_jet]] = ghosts
    return out, total


def _flat_kt_axes(particles, counts, n_max=N_MAX):
    """``kt_axes`` of flat jets: particles (total, 4) jet by jet, counts (jets,)."""
    import awkward as ak
    import fastjet

    p, n = _with_ghosts(particles, counts, n_max)
    offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    jets = ak.Array(
        ak.contents.ListOffsetArray(
            ak.index.Index64(offsets),
            ak.contents.RecordArray(
                [ak.contents.NumpyArray(np.ascontiguousarray(p[:, k])) for k in (1, 2, 3, 0)], ["px", "py", "pz", "E"]
            ),
        )
    )
    # N2Plain: FastJet's plain O(n^2) nearest-neighbour strategy, the fastest for jets of tens to
    # a few hundred particles at this large R (every strategy gives the same clustering)
    jet_def = fastjet.JetDefinition(fastjet.kt_algorithm, _KT_RADIUS, fastjet.E_scheme, fastjet.N2Plain, 1)
    cluster = fastjet.ClusterSequence(jets, jet_def)
    axes = []
    with warnings.catch_warnings():
        # the wrapper warns about exclusive jets of non-kT finders even for kT itself
        warnings.filterwarnings("ignore", message="dcut and exclusive jets")
        for n_axes in range(1, n_max + 1):
            sub = ak.to_layout(cluster.exclusive_jets(n_jets=n_axes)).to_ListOffsetArray64(True)
            s4 = np.stack([ak.to_numpy(sub.content.content(k)) for k in ("E", "px", "py", "pz")], -1)
            axes.append(_rapidity_phi(s4.reshape(len(n), n_axes, 4)))
    return axes


def kt_axes(constituents, n_constituents, n_max=N_MAX):
    """Exclusive-kT subjet axes of each jet for N = 1 .. n_max from one clustering.

    Returns:
        list over N of (rapidity, phi), each of shape (jets, N).

    Jets with fewer than `n_max` constituents get soft ghosts next to their hardest constituent;
    having almost no pT they are merged first, so every real constituent of such a jet stays
    its own axis and tau_N = 0 there, as it should be.
    """
    return _flat_kt_axes(*_flatten(constituents, n_constituents), n_max)


def _flat_nsubjettiness(particles, counts, n_max=N_MAX, beta=1.0, iterations=MINIMISATION_STEPS):
    """``nsubjettiness`` of flat jets: particles (total, 4) jet by jet, counts (jets,).

    Works on the real particles only (no padding). The axes start at the exclusive-kT subjets
    and are then moved to lower tau_N (see the module docstring); for each N the smaller of the
    kT-axis and the minimised value is kept, so minimisation never makes tau_N larger.
    """
    out = np.zeros((len(counts), n_max))
    if len(counts) == 0:
        return out
    n_jets = len(counts)
    jet_of = np.repeat(np.arange(n_jets), counts)
    rows = np.arange(len(jet_of))
    pt = np.hypot(particles[:, 1], particles[:, 2])
    y, phi = _rapidity_phi(particles)
    # coordinates relative to each jet's first (hardest) particle: jets are far narrower than pi,
    # so no azimuth wraps inside a jet and the loop below needs no modulo
    if len(jet_of) == 0:
        return out
    first = np.minimum(_starts(counts), len(jet_of) - 1)  # (a jet without particles keeps tau = 0)
    y_ref, phi_ref = y[first], phi[first]
    uy, uphi = y - y_ref[jet_of], physics.wrap_phi(phi - phi_ref[jet_of])

    for n_axes, (ay, aphi) in enumerate(_flat_kt_axes(particles, counts, n_max), start=1):  # (jets, n_axes)
        ay, aphi = ay - y_ref[:, None], physics.wrap_phi(aphi - phi_ref[:, None])
        best = np.full(n_jets, np.inf)
        act = rows  # particles of the jets whose tau_N still moves
        for step in range(1 + (iterations if beta == 1.0 else 0)):
            j = jet_of[act]
            # nearest axis of every particle, with its offsets (a loop over the few axes on flat
            # arrays is much faster than argmin along a short second axis)
            for k in range(n_axes):
                dy, dphi = uy[act] - ay[j, k], uphi[act] - aphi[j, k]
                d2 = dy * dy + dphi * dphi
                if k == 0:
                    near_d2, nearest, near_dy, near_dphi = d2, np.zeros(len(act), np.int64), dy, dphi
                    continue
                closer = d2 < near_d2
                near_d2 = np.where(closer, d2, near_d2)
                nearest = np.where(closer, k, nearest)
                near_dy = np.where(closer, dy, near_dy)
                near_dphi = np.where(closer, dphi, near_dphi)
            dist = np.sqrt(near_d2)
            value = np.bincount(j, weights=pt[act] * dist**beta, minlength=n_jets)
            moving = np.zeros(n_jets, bool)
            moving[j] = True
            # a jet whose tau_N fell by less than CONVERGED (relative) in a step leaves the loop
            still = moving & (value < best * (1.0 - CONVERGED))
            best[moving] = np.minimum(best[moving], value[moving])
            if step == iterations or not still.any():
                break
            keep = still[j]
            if not keep.all():
                act, j, nearest, dist = act[keep], j[keep], nearest[keep], dist[keep]
                near_dy, near_dphi = near_dy[keep], near_dphi[keep]
            # Weiszfeld step of each axis towards the pT-weighted geometric median of its particles
            w = pt[act] / np.maximum(dist, 1e-9)
            slot = j * n_axes + nearest  # (jet, axis) each particle belongs to
            wsum = np.bincount(slot, weights=w, minlength=n_jets * n_axes).reshape(n_jets, n_axes)
            shift_y = np.bincount(slot, weights=w * near_dy, minlength=n_jets * n_axes)
            shift_phi = np.bincount(slot, weights=w * near_dphi, minlength=n_jets * n_axes)
            with np.errstate(invalid="ignore", divide="ignore"):
                ay += np.where(wsum > 0, shift_y.reshape(n_jets, n_axes) / wsum, 0.0)
                aphi += np.where(wsum > 0, shift_phi.reshape(n_jets, n_axes) / wsum, 0.0)
        out[:, n_axes - 1] = np.where(np.isfinite(best), best, 0.0)
    return out


def nsubjettiness(constituents, n_constituents, n_max=N_MAX, beta=1.0):
    """tau_1 .. tau_{n_max} (GeV, unnormalised, minimised axes) of padded jets.

    Args:
        constituents: (jets, particles, 4) as (E, px, py, pz), padding after the real ones.
        n_constituents: (jets,) number of real constituents.
        n_max: highest N.
        beta: angular exponent (1 in all the project's papers).

    Returns:
        (jets, n_max) float64 array; column N-1 holds tau_N.
    """
    return _flat_nsubjettiness(*_flatten(constituents, n_constituents), n_max, beta)


def _flat_d2(particles, counts, beta=1.0, chunk=16):
    """``d2`` of flat jets: particles (total, 4) jet by jet, counts (jets,)."""
    out = np.zeros(len(counts))
    start = _starts(counts)
    by_size = np.argsort(counts, kind="stable")
    for first in range(0, len(counts), chunk):
        rows = by_size[first : first + chunk]
        npart = counts[rows]
        width = int(npart.max())
        if width < 2:
            continue
        mask = np.arange(width)[None, :] < npart[:, None]
        part = np.zeros((len(rows), width, 4))  # this group's jets, padded to its longest one
        part[mask] = particles[(start[rows][:, None] + np.arange(width)[None, :])[mask]]
        pt = np.where(mask, np.hypot(part[..., 1], part[..., 2]), 0.0)
        z = pt / np.maximum(pt.sum(axis=1, keepdims=True), 1e-300)  # (jets, particles)
        # (jets, P, P); padding rows and columns need no zeroing: every term of e2 and e3 below
        # carries the z (zero there) of each of its particles
        za = _pairwise_delta_r(part, mask, masked=False)
        if beta != 1.0:
            za **= beta
        idx = np.arange(width)
        za[:, idx, idx] = 0.0
        za *= z[:, :, None]  # Z A
        e2 = 0.5 * np.einsum("jik,jk->j", za, z)
        # every term of the triple sum is >= 0, so single precision loses nothing but rounding
        # (~1e-6 relative) and halves the cost of the O(P^3) product
        za32 = za.astype(np.float32)
        e3 = np.einsum("jik,jki->j", za32 @ za32, za32, dtype=np.float64) / 6.0  # trace((ZA)^3) / 6
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows] = np.where(e2 > 0, e3 / e2**3, 0.0)
    return out


def d2(constituents, n_constituents, beta=1.0, chunk=16):
    """Energy-correlation ratio D2 = e3 / e2^3 (beta = 1 by default) of padded jets, shape (jets,).

    The cost is O(n^3) per jet (a matrix product of size n = constituent count), so jets are
    processed in groups of similar n, each padded only to its own longest jet.
    """
    return _flat_d2(*_flatten(constituents, n_constituents), beta, chunk)


def flat_jet_observables(particles, counts):
    """``jet_observables`` of jets given flat: particles (total, 4) (E, px, py, pz), the
    constituents of jet 0, then of jet 1, ... (each jet's hardest first), and counts (jets,).

    This is the form ``preprocessing.jets.clustering`` gathers the constituents in; no padded
    (jets, P, 4) copy is made.
    """
    particles = np.asarray(particles, dtype=np.float64).reshape(-1, 4)
    counts = np.asarray(counts, dtype=np.int64)
    tau = _flat_nsubjettiness(particles, counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau21 = np.where(tau[:, 0] > 0, tau[:, 1] / tau[:, 0], 0.0)
        tau32 = np.where(tau[:, 1] > 0, tau[:, 2] / tau[:, 1], 0.0)
    out = {f"tau{k + 1}": tau[:, k] for k in range(N_MAX)}
    out.update(tau21=tau21, tau32=tau32, d2=_flat_d2(particles, counts), n_const=counts.astype(np.float64))
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
    return flat_jet_observables(*_flatten(constituents, n_constituents))
