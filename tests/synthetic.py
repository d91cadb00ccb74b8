"""Synthetic samples for tests that need known answers rather than generated physics."""

import numpy as np

from preprocessing.jets import physics
from preprocessing.samples.format import JetSample


def event_sample(n_events, signal_fraction, seed):
    """Dijet events with the bortolato2021 observables: a falling QCD-like background and a
    W'(3.5 TeV) -> X(500) Y(100) signal; two jets per event, heavier first."""
    rng = np.random.default_rng(seed)
    n_sig = int(round(signal_fraction * n_events))
    sig = np.r_[np.zeros(n_events - n_sig, bool), np.ones(n_sig, bool)]
    m1 = np.where(sig, rng.normal(500, 25, n_events), 30 + rng.exponential(90, n_events))
    m2 = np.where(sig, rng.normal(100, 8, n_events), 20 + rng.exponential(40, n_events))
    m1, m2 = np.maximum(m1, m2), np.minimum(m1, m2)
    tau21 = np.where(sig[:, None], rng.uniform(0.15, 0.4, (n_events, 2)), rng.uniform(0.4, 0.9, (n_events, 2)))
    tau32 = rng.uniform(0.5, 0.9, (n_events, 2))
    mjj = np.where(sig, rng.normal(3500, 90, n_events), 2000 + rng.exponential(900, n_events))
    tau1 = rng.uniform(0.2, 0.5, (n_events, 2))
    jets = {
        "mass": np.c_[m1, m2].ravel(),
        "tau1": tau1.ravel(),
        "tau2": (tau1 * tau21).ravel(),
        "tau3": (tau1 * tau21 * tau32).ravel(),
        "mjj": np.repeat(mjj, 2),
        "pt": np.full(2 * n_events, 1300.0),
        "eta": np.zeros(2 * n_events),
        "phi": np.tile([0.0, np.pi], n_events),
    }
    p4 = physics.from_pt_eta_phi(jets["pt"], jets["eta"], jets["phi"], jets["mass"])
    jets["energy"] = p4[:, 0]
    c = np.zeros((2 * n_events, 2, 4), np.float32)
    c[:, 0] = p4
    return JetSample(
        constituents=c,
        n_constituents=np.ones(2 * n_events, np.int32),
        labels=np.repeat(sig.astype(np.int32), 2),
        event=np.repeat(np.arange(n_events), 2),
        jets={k: v.astype(np.float32) for k, v in jets.items()},
        label_names=["background", "signal"],
        provenance={"synthetic": True, "seed": seed},
    )
