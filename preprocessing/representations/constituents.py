"""Constituent four-vectors (cheng2020, Sec. II b: "Input features and Preprocessing").

Per jet, with the jet four-momentum J = sum of all its constituents:

1. rotate every constituent about the beam (z) axis by -phi_J, so phi_J = 0;
2. Lorentz-boost along z with velocity beta_z = -J_z / J_E, so the jet has p_z = 0 (eta_J = 0)
   and points along +x;
3. keep the ``n_constituents`` (20) constituents of highest transverse momentum; steps 1-2 leave
   pT unchanged, so this choice does not depend on the jet's phi or rapidity;
4. with eta_i, phi_i of each kept constituent in this frame and R_i = sqrt(eta_i^2 + phi_i^2),
   the principal axis is

       a = (sum_i eta_i E_i / R_i, sum_i phi_i E_i / R_i),   tan(alpha) = a_phi / a_eta,

   and every constituent is rotated about the jet (x) axis so that a points along +phi
   ("vertical"). Near the x axis eta ~ p_z/|p| and phi ~ p_y/|p|, so a rotation about x by an
   angle theta turns the (eta, phi) plane by -theta; the rotation used is theta = alpha - pi/2.
5. output (E, px, py, pz) of the kept constituents in GeV, hardest first, zero padded, with a
   0/1 mask.

Steps 1-2 compose to a Lorentz transformation that depends only on J, so a jet rotated in phi or
boosted along z before preprocessing gives the same output (to rounding).
"""

import numpy as np
import vector

from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.representations.record import Representation
from preprocessing.representations.scalers import FeatureScaler

DEFAULT_PARAMS = {"n_constituents": 20}


def check_constituents(constituents, n_constituents, source="input"):
    """Common input checks: shape, finiteness and at least one constituent per jet.

    Returns:
        (constituents as float64, n_constituents as int64, mask (jets, particles) bool).
    """
    constituents = np.asarray(constituents, dtype=np.float64)
    n_constituents = np.asarray(n_constituents).astype(np.int64)
    if constituents.ndim != 3 or constituents.shape[-1] != 4:
        raise DataError(f"{source}: constituents must have shape (jets, particles, 4), got {constituents.shape}")
    if len(n_constituents) != len(constituents):
        raise DataError(f"{source}: n_constituents has {len(n_constituents)} entries for {len(constituents)} jets")
    empty = np.nonzero(n_constituents <= 0)[0]
    if len(empty):
        raise DataError(
            f"{source}: jet {int(empty[0])} has no constituents ({len(empty)} such jets); remove them first"
        )
    if not np.all(np.isfinite(constituents)):
        bad = int(np.argwhere(~np.isfinite(constituents))[0][0])
        raise DataError(f"{source}: constituents contain NaN or infinity (first at jet {bad})")
    mask = np.arange(constituents.shape[1])[None, :] < n_constituents[:, None]  # (jets, particles)
    constituents = np.where(mask[..., None], constituents, 0.0)
    return constituents, n_constituents, mask


def hardest_first(constituents, mask, n_keep):
    """The n_keep highest-pT constituents of each jet, hardest first, and their mask.

    Ties in pT are broken by energy and then by p_z, so the result does not depend on the order
    in which constituents are stored.

    Returns:
        (jets, n_keep, 4) constituents and (jets, n_keep) bool mask.
    """
    n_jets, n_particles, _ = constituents.shape
    pt = np.where(mask, physics.pt(constituents), -1.0)  # padding sorts last
    # lexsort: last key is primary; negate for descending order
    order = np.lexsort((-constituents[..., 3], -constituents[..., 0], -pt), axis=-1)  # (jets, particles)
    if n_particles < n_keep:
        pad = np.full((n_jets, n_keep - n_particles), n_particles)
        constituents = np.concatenate([constituents, np.zeros((n_jets, 1, 4))], axis=1)
        mask = np.concatenate([mask, np.zeros((n_jets, 1), bool)], axis=1)
        order = np.concatenate([order, pad], axis=1)
    order = order[:, :n_keep]
    kept = np.take_along_axis(constituents, order[..., None], axis=1)
    kept_mask = np.take_along_axis(mask, order, axis=1)
    return np.where(kept_mask[..., None], kept, 0.0), kept_mask


def to_vector(p4):
    """A vector MomentumNumpy4D of (..., 4) arrays (E, px, py, pz)."""
    return vector.array({"px": p4[..., 1], "py": p4[..., 2], "pz": p4[..., 3], "E": p4[..., 0]})


def from_vector(v):
    """(..., 4) float64 array (E, px, py, pz) of a vector momentum array."""
    return np.stack([np.asarray(v.E), np.asarray(v.px), np.asarray(v.py), np.asarray(v.pz)], axis=-1)


def centre_on_jet(p4, jet):
    """Steps 1-2: rotate about z by -phi_J, then boost along z so the jet has p_z = 0.

    Args:
        p4: (jets, particles, 4) constituents; padding is zero and stays zero.
        jet: (jets, 4) jet four-momenta.

    Returns:
        (jets, particles, 4) constituents in the frame where the jet points along +x.
    """
    v = to_vector(p4)
    v = v.rotateZ(-physics.phi(jet)[:, None])
    v = v.boostZ(beta=-(jet[:, 3] / jet[:, 0])[:, None])
    return from_vector(v)


def eta_phi(p4, mask):
    """eta and phi of (jets, particles, 4) vectors, zero where the mask is False."""
    return np.where(mask, physics.eta(p4), 0.0), np.where(mask, physics.phi(p4), 0.0)


def principal_axis_angle(p4, mask):
    """alpha = atan2(a_phi, a_eta) of the energy-weighted principal axis of step 4, per jet."""
    eta, phi = eta_phi(p4, mask)
    r = np.hypot(eta, phi)
    # a constituent exactly on the jet axis has no direction; it does not contribute
    w = np.where(mask & (r > 0), p4[..., 0] / np.where(r > 0, r, 1.0), 0.0)  # (jets, particles)
    return np.arctan2((w * phi).sum(1), (w * eta).sum(1))


def constituent_four_vectors(constituents, n_constituents, n_keep=20, source="input"):
    """Preprocessed constituent four-vectors of cheng2020.

    Args:
        constituents: (jets, particles, 4) as (E, px, py, pz) in GeV, zero padded.
        n_constituents: (jets,) number of real constituents.
        n_keep: how many of the hardest constituents to keep (20 in the paper).
        source: where the jets came from, for error messages.

    Returns:
        four_vectors (jets, n, 4) float32 (E, px, py, pz) and mask (jets, n) float32.
    """
    p4, _, mask = check_constituents(constituents, n_constituents, source)
    jet = p4.sum(axis=1)  # (jets, 4): the full jet, not only the kept constituents
    kept, kept_mask = hardest_first(p4, mask, n_keep)  # (jets, n, 4), (jets, n)
    centred = centre_on_jet(kept, jet)
    alpha = principal_axis_angle(centred, kept_mask)
    rotated = from_vector(to_vector(centred).rotateX((alpha - 0.5 * np.pi)[:, None]))
    rotated = np.where(kept_mask[..., None], rotated, 0.0)
    return rotated.astype(np.float32), kept_mask.astype(np.float32)


def _build(sample, source="input", n_constituents=20):
    four, mask = constituent_four_vectors(sample.constituents, sample.n_constituents, n_constituents, source=source)
    return {"constituents": four, "constituent_mask": mask}


def _fit(inputs):
    # cheng2020: features standardised on the (QCD) training jets
    scaler = FeatureScaler("standard").fit(inputs["constituents"], inputs["constituent_mask"])
    return {"scaler": scaler.to_dict()}


REPRESENTATION = Representation(
    name="constituents",
    build=_build,
    default_params=DEFAULT_PARAMS,
    fit=_fit,
    shapes=lambda p: {"constituents": (p["n_constituents"], 4), "constituent_mask": (p["n_constituents"],)},
)
