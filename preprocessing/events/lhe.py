"""Parton-level W' -> X Y events with three-parton X and Y decays, written as a Les Houches
event file (LHEF) for Pythia to shower and hadronise.

Why: kahn2021's three-prong LHC Olympics signal has X, Y -> three quarks/partons, and Pythia's
resonance machinery has no colour-singlet three-parton decay channel for a W/Z-like resonance
(a user channel X -> q qbar g gets zero partial width and is never used). So the hard process
is generated here and handed to Pythia through ``Beams:frameType = 4``:

* u dbar -> W'+ at mass M (narrow), with rapidity y ~ N(0, 0.6) cut to the kinematic limit
  |y| < ln(sqrt(s)/M); the incoming partons carry x_1,2 = (M/sqrt(s)) e^(+-y). Pythia adds the
  initial-state shower (and with it the W' transverse recoil) from these partons.
* W'+ -> X+ Y0, isotropic in the W' rest frame, X and Y at fixed masses m_X, m_Y. X is written
  with Pythia's W+ code (24) and Y with the Z code (23), so charges add up; only their momenta
  matter to Pythia, which keeps the decay products given here.
* X -> u dbar g and Y -> d dbar g with flat three-body phase space (uniform in the Dalitz plane
  (s_12, s_23)), random orientation. Colour flow q -> g -> qbar, so each decay is a colour
  singlet: three hard prongs, showered from the resonance mass scale.

The event kinematics come from ``numpy.random.default_rng(seed)``, so a shard's events depend
only on its seed.
"""

import numpy as np

SQRT_S = 13000.0
# PDG codes of the record (colour tags 501 incoming pair, 502-503 X decay, 504-505 Y decay)
_ID = {"u": 2, "dbar": -1, "d": 1, "g": 21, "wprime": 34, "x": 24, "y": 23}


def _boost(p4, beta):
    """Boost (..., 4) vectors (E, px, py, pz) by velocity `beta` (..., 3)."""
    b2 = np.sum(beta**2, axis=-1, keepdims=True)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p4[..., 1:], axis=-1, keepdims=True)
    safe = np.where(b2 > 0, b2, 1.0)
    coef = np.where(b2 > 0, (gamma - 1.0) * bp / safe, 0.0)
    e = gamma * (p4[..., :1] + bp)
    p = p4[..., 1:] + coef * beta + gamma * beta * p4[..., :1]
    return np.concatenate([e, p], axis=-1)


def _random_directions(rng, n):
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], -1)


def _two_body(rng, m, m1, m2, n):
    """Momenta of m -> m1 m2 in the rest frame of m, isotropic: (n, 4), (n, 4)."""
    p = np.sqrt((m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2)) / (2.0 * m)
    d = _random_directions(rng, n) * p
    e1, e2 = np.sqrt(m1**2 + p**2), np.sqrt(m2**2 + p**2)
    return (np.concatenate([np.full((n, 1), e1), d], -1), np.concatenate([np.full((n, 1), e2), -d], -1))


def _rotate_random(rng, vecs):
    """Apply one random rotation per event to (n, k, 3) vectors."""
    n = len(vecs)
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    rot = np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        1,
    )  # (n, 3, 3), uniform random rotations from unit quaternions
    return np.einsum("nij,nkj->nki", rot, vecs)


def three_body_massless(rng, m, n):
    """Flat phase space m -> 1 2 3 (massless) in the rest frame of m: (n, 3, 4).

    Uniform in the Dalitz plane: s12 + s23 + s13 = m^2, each s >= 0; energies E_i = (m^2 - s_jk)/(2m).
    """
    u, v = rng.uniform(size=(2, n))
    flip = u + v > 1.0  # fold the unit square onto the triangle u + v <= 1
    u, v = np.where(flip, 1.0 - u, u), np.where(flip, 1.0 - v, v)
    s12, s23 = u * m**2, v * m**2
    s13 = m**2 - s12 - s23
    e1, e2, e3 = (m**2 - s23) / (2 * m), (m**2 - s13) / (2 * m), (m**2 - s12) / (2 * m)
    # particle 1 along z, particle 2 in the xz plane, particle 3 balances
    cos12 = np.clip(1.0 - s12 / np.maximum(2 * e1 * e2, 1e-300), -1.0, 1.0)
    sin12 = np.sqrt(1.0 - cos12**2)
    p1 = np.stack([np.zeros(n), np.zeros(n), e1], -1)
    p2 = np.stack([e2 * sin12, np.zeros(n), e2 * cos12], -1)
    p3 = -(p1 + p2)
    vecs = _rotate_random(rng, np.stack([p1, p2, p3], 1))  # (n, 3, 3)
    energies = np.stack([e1, e2, e3], -1)[..., None]
    return np.concatenate([energies, vecs], -1)


def wprime_xy_events(n, seed, m_wprime, m_x, m_y):
    """Parton-level events as a dict of arrays: incoming (n, 2, 4), wprime, x, y (n, 4),
    x_decay, y_decay (n, 3, 4) in the lab frame."""
    rng = np.random.default_rng(seed)
    y_max = np.log(SQRT_S / m_wprime)
    rap = np.clip(rng.normal(0.0, 0.6, n), -0.95 * y_max, 0.95 * y_max)
    x1, x2 = m_wprime / SQRT_S * np.exp(rap), m_wprime / SQRT_S * np.exp(-rap)
    e_beam = 0.5 * SQRT_S
    inc = np.zeros((n, 2, 4))
    inc[:, 0] = np.stack([x1 * e_beam, 0 * x1, 0 * x1, x1 * e_beam], -1)
    inc[:, 1] = np.stack([x2 * e_beam, 0 * x2, 0 * x2, -x2 * e_beam], -1)
    wp = inc.sum(axis=1)
    beta_wp = wp[:, 1:] / wp[:, :1]
    px, py = _two_body(rng, m_wprime, m_x, m_y, n)
    dx = three_body_massless(rng, m_x, n)
    dy = three_body_massless(rng, m_y, n)
    beta_x, beta_y = px[:, 1:] / px[:, :1], py[:, 1:] / py[:, :1]
    dx = _boost(dx, beta_x[:, None, :])
    dy = _boost(dy, beta_y[:, None, :])
    px, py = _boost(px, beta_wp), _boost(py, beta_wp)
    dx, dy = _boost(dx, beta_wp[:, None, :]), _boost(dy, beta_wp[:, None, :])
    return {"incoming": inc, "wprime": wp, "x": px, "y": py, "x_decay": dx, "y_decay": dy}


def write_lhef(path, n, seed, m_wprime, m_x, m_y):
    """Write `n` W'+ -> X(-> u dbar g) Y(-> d dbar g) events to the LHEF file `path`."""
    ev = wprime_xy_events(n, seed, m_wprime, m_x, m_y)
    e_beam = 0.5 * SQRT_S
    lines = [
        '<LesHouchesEvents version="1.0">',
        "<init>",
        f" 2212 2212 {e_beam:.6e} {e_beam:.6e} 0 0 0 0 3 1",
        " 1.000000e+00 0.000000e+00 1.000000e+00 1",
        "</init>",
    ]

    def row(pid, status, m1, m2, col, acol, p4, mass):
        return (
            f" {pid} {status} {m1} {m2} {col} {acol} {p4[1]:.10e} {p4[2]:.10e} {p4[3]:.10e} "
            f"{p4[0]:.10e} {mass:.10e} 0. 9."
        )

    scale = 0.5 * m_wprime
    for i in range(n):
        lines.append("<event>")
        lines.append(f" 11 1 1.0 {scale:.6e} 7.297e-03 1.18e-01")
        lines.append(row(_ID["u"], -1, 0, 0, 501, 0, ev["incoming"][i, 0], 0.0))
        lines.append(row(_ID["dbar"], -1, 0, 0, 0, 501, ev["incoming"][i, 1], 0.0))
        lines.append(row(_ID["wprime"], 2, 1, 2, 0, 0, ev["wprime"][i], m_wprime))
        lines.append(row(_ID["x"], 2, 3, 3, 0, 0, ev["x"][i], m_x))
        lines.append(row(_ID["y"], 2, 3, 3, 0, 0, ev["y"][i], m_y))
        d = ev["x_decay"][i]
        lines.append(row(_ID["u"], 1, 4, 4, 502, 0, d[0], 0.0))
        lines.append(row(_ID["g"], 1, 4, 4, 503, 502, d[1], 0.0))
        lines.append(row(_ID["dbar"], 1, 4, 4, 0, 503, d[2], 0.0))
        d = ev["y_decay"][i]
        lines.append(row(_ID["d"], 1, 5, 5, 504, 0, d[0], 0.0))
        lines.append(row(_ID["g"], 1, 5, 5, 505, 504, d[1], 0.0))
        lines.append(row(-_ID["d"], 1, 5, 5, 0, 505, d[2], 0.0))
        lines.append("</event>")
    lines.append("</LesHouchesEvents>")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
