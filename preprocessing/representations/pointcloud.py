"""Point clouds for ParticleNet (cheng2022, Sec. 3 "Preprocessing and Input Format").

Per jet, with the jet axis (eta_J, phi_J) of the four-vector sum of all constituents:

    d_eta_i = eta_i - eta_J,   d_phi_i = wrap(phi_i - phi_J)   (centring),

then (optional, on by default, as in cheng2020 which cheng2022 follows) a rotation in the
(d_eta, d_phi) plane that makes the energy-weighted principal axis

    a = (sum_i d_eta_i E_i / R_i, sum_i d_phi_i E_i / R_i),   R_i = sqrt(d_eta_i^2 + d_phi_i^2),

point along +d_phi. The ``n_points`` (100) constituents of highest pT are kept, hardest first
(ties broken by energy, then by the coordinates), zero padded. Per point:

    features:  log E_i, log pT_i, d_eta_i, d_phi_i          (the paper's four, default)
               optional: log(E_i / E_J), log(pT_i / pT_J), Delta R_i
    points:    (d_eta_i, d_phi_i), the coordinates of the k-nearest-neighbour search
    mask:      1 for real constituents, 0 for padding

Nothing depends on the order in which the constituents are stored.
"""

import numpy as np

from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.representations.constituents import check_constituents
from preprocessing.representations.record import Representation

FEATURES = ("log_e", "log_pt", "deta", "dphi", "log_e_rel", "log_pt_rel", "delta_r")
DEFAULT_PARAMS = {"n_points": 100, "features": ["log_e", "log_pt", "deta", "dphi"], "rotate": True}


def point_clouds(
    constituents,
    n_constituents,
    n_points=100,
    features=("log_e", "log_pt", "deta", "dphi"),
    rotate=True,
    source="input",
):
    """ParticleNet inputs of cheng2022.

    Args:
        constituents: (jets, particles, 4) as (E, px, py, pz) in GeV, zero padded.
        n_constituents: (jets,) number of real constituents.
        n_points: constituents kept per jet (100).
        features: names from FEATURES, in output order.
        rotate: rotate the principal axis to +d_phi.
        source: where the jets came from, for error messages.

    Returns:
        {"points": (jets, n_points, 2), "features": (jets, n_points, len(features)),
         "mask": (jets, n_points)}, all float32 and zero at padding.
    """
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise DataError(f"point-cloud feature(s) {unknown} unknown; choose from {list(FEATURES)}")
    p4, _, mask = check_constituents(constituents, n_constituents, source)
    jet = p4.sum(axis=1)  # (jets, 4), independent of storage order up to rounding
    pt = physics.pt(p4)
    energy = p4[..., 0]
    deta = np.where(mask, physics.eta(p4) - physics.eta(jet)[:, None], 0.0)
    dphi = np.where(mask, physics.wrap_phi(physics.phi(p4) - physics.phi(jet)[:, None]), 0.0)
    r = np.hypot(deta, dphi)
    if rotate:
        w = np.where(mask & (r > 0), energy / np.where(r > 0, r, 1.0), 0.0)
        alpha = np.arctan2((w * dphi).sum(1), (w * deta).sum(1))  # (jets,)
        turn = (0.5 * np.pi - alpha)[:, None]
        deta, dphi = deta * np.cos(turn) - dphi * np.sin(turn), deta * np.sin(turn) + dphi * np.cos(turn)
    # hardest first; later keys break exact pT ties so storage order never matters
    keys = (dphi, deta, -np.where(mask, energy, -1.0), -np.where(mask, pt, -1.0))
    order = np.lexsort(keys, axis=-1)[:, :n_points]  # (jets, <= n_points)

    def take(a):
        return np.take_along_axis(a, order, axis=1)

    kept = take(mask)

    def safe(a):
        return np.where(kept, a, 1.0)  # the log of padding is never used; keep it finite

    columns = {
        "log_e": np.log(safe(take(energy))),
        "log_pt": np.log(safe(take(pt))),
        "deta": take(deta),
        "dphi": take(dphi),
        "log_e_rel": np.log(safe(take(energy) / jet[:, :1])),
        "log_pt_rel": np.log(safe(take(pt) / physics.pt(jet)[:, None])),
        "delta_r": take(r),
    }
    feats = np.stack([columns[f] for f in features], axis=-1)  # (jets, kept, F)
    points = np.stack([columns["deta"], columns["dphi"]], axis=-1)  # (jets, kept, 2)
    out_f = np.zeros((len(p4), n_points, len(features)), np.float32)
    out_p = np.zeros((len(p4), n_points, 2), np.float32)
    out_m = np.zeros((len(p4), n_points), np.float32)
    k = order.shape[1]
    out_f[:, :k] = np.where(kept[..., None], feats, 0.0)
    out_p[:, :k] = np.where(kept[..., None], points, 0.0)
    out_m[:, :k] = kept
    return {"points": out_p, "features": out_f, "mask": out_m}


def _build(sample, source="input", **params):
    return point_clouds(sample.constituents, sample.n_constituents, source=source, **params)


REPRESENTATION = Representation(
    name="pointcloud",
    build=_build,
    default_params=DEFAULT_PARAMS,
    shapes=lambda p: {
        "points": (p["n_points"], 2),
        "features": (p["n_points"], len(p["features"])),
        "mask": (p["n_points"],),
    },
)
