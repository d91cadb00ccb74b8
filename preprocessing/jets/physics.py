"""Four-vector kinematics on numpy arrays.

All functions take the last axis as (E, px, py, pz) and broadcast over any leading axes.

    pT = sqrt(px^2 + py^2),  eta = asinh(pz / pT),  phi = atan2(py, px),
    m  = sqrt(max(E^2 - |p|^2, 0)).
"""

import numpy as np


def pt(p4):
    """Transverse momentum of (..., 4) four-vectors."""
    return np.hypot(p4[..., 1], p4[..., 2])


def eta(p4):
    """Pseudorapidity; 0 for a vector with no transverse momentum (padding), NaN stays NaN."""
    pt_ = pt(p4)
    return np.arcsinh(p4[..., 3] / np.where(pt_ > 0, pt_, np.inf))


def phi(p4):
    """Azimuth in (-pi, pi]."""
    return np.arctan2(p4[..., 2], p4[..., 1])


def mass(p4):
    """Invariant mass, clipped at zero against rounding."""
    m2 = p4[..., 0] ** 2 - p4[..., 1] ** 2 - p4[..., 2] ** 2 - p4[..., 3] ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def wrap_phi(dphi):
    """Map an azimuthal difference into [-pi, pi)."""
    return (dphi + np.pi) % (2.0 * np.pi) - np.pi


def delta_r(eta1, phi1, eta2, phi2):
    """Angular distance sqrt(d_eta^2 + d_phi^2) with wrapped d_phi."""
    return np.hypot(eta1 - eta2, wrap_phi(phi1 - phi2))


def from_pt_eta_phi(pt_, eta_, phi_, m=0.0):
    """Build (..., 4) four-vectors (E, px, py, pz) from (pT, eta, phi, mass)."""
    px = pt_ * np.cos(phi_)
    py = pt_ * np.sin(phi_)
    pz = pt_ * np.sinh(eta_)
    e = np.sqrt(px**2 + py**2 + pz**2 + np.asarray(m) ** 2)
    return np.stack([e, px, py, pz], axis=-1)
