"""Synthetic boosted jets for the cheng2020 tests: known constituents and masses, no generator run."""

import numpy as np

from preprocessing.jets import physics
from preprocessing.samples.format import JetSample


def jet_sample(n_jets, seed, width=0.1, label="qcd", n_particles=30, jet_radius=1.0):
    """Jets of `n_particles` massless constituents around a random axis (|eta| < 1), pT ~ 550 GeV;
    `width` (the angular spread) sets the jet mass. Jet fields are computed from the constituents;
    provenance records the jet radius as generated samples do."""
    rng = np.random.default_rng(seed)
    share = rng.dirichlet(np.full(n_particles, 0.7), n_jets)  # (jets, particles) pT fractions
    pt = 550.0 * share
    eta = rng.uniform(-1, 1, (n_jets, 1)) + width * rng.normal(size=(n_jets, n_particles))
    phi = rng.uniform(-np.pi, np.pi, (n_jets, 1)) + width * rng.normal(size=(n_jets, n_particles))
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    order = np.argsort(-pt, axis=1)
    p4 = np.take_along_axis(p4, order[..., None], axis=1)
    jet = p4.sum(axis=1)
    jets = {
        "pt": physics.pt(jet),
        "eta": physics.eta(jet),
        "phi": physics.phi(jet),
        "mass": np.sqrt(np.maximum(jet[:, 0] ** 2 - (jet[:, 1:] ** 2).sum(-1), 0.0)),
        "energy": jet[:, 0],
    }
    return JetSample(
        constituents=p4.astype(np.float32),
        n_constituents=np.full(n_jets, n_particles, np.int32),
        labels=np.zeros(n_jets, np.int32),
        event=np.arange(n_jets),
        jets={k: np.asarray(v, np.float32) for k, v in jets.items()},
        label_names=[label],
        provenance={"synthetic": True, "seed": seed, "selection": {"jet_radius": jet_radius}},
    )


def constituents(n_jets, seed, width=0.1):
    """(jets, 20, 4) cheng2020 constituent inputs and (jets,) masses of synthetic jets."""
    from preprocessing import representations

    sample = jet_sample(n_jets, seed, width)
    return representations.build("constituents", sample)["constituents"], sample.jets["mass"]
