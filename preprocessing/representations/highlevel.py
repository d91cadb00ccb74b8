"""High-level dijet features (bortolato2021, Sec. 3: the VAE's six inputs per event).

An event is the two jets that share ``sample.event``; they are ordered by mass, j1 the heavier:

    x = (m_j1, m_j2, tau21_j1, tau32_j1, tau21_j2, tau32_j2),
    tau21 = tau2 / tau1,  tau32 = tau3 / tau2   (N-subjettiness ratios).

The dijet invariant mass

    m_jj = sqrt((E_1 + E_2)^2 - |p_1 + p_2|^2)

is kept aside for the bump hunt and the decoder-characterisation step and is never an input.
If the sample stores ``jets/mjj`` (one value per jet, equal within an event; written by the
event-level generator) that value is used;
otherwise it is computed from each jet's (pt, eta, phi, mass).

Rows follow events in order of first appearance in the sample.
"""

import numpy as np

from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.representations.record import Representation
from preprocessing.representations.scalers import FeatureScaler

FEATURES = ("m_j1", "m_j2", "tau21_j1", "tau32_j1", "tau21_j2", "tau32_j2")
DEFAULT_PARAMS = {}
REQUIRED = ("mass", "tau1", "tau2", "tau3")


def event_pairs(sample, source="input"):
    """Jet indices of each event, heavier jet first.

    Returns:
        (events, 2) int array of rows into the sample: [:, 0] the heavier, [:, 1] the lighter jet.
    """
    if "mass" not in sample.jets:
        raise DataError(f"{source}: high-level features need '/jets/mass'; the sample has {sorted(sample.jets)}")
    event = np.asarray(sample.event)
    if len(event) == 0:
        raise DataError(f"{source}: no jets")
    ids, first, inverse, counts = np.unique(event, return_index=True, return_inverse=True, return_counts=True)
    wrong = np.nonzero(counts != 2)[0]
    if len(wrong):
        i = wrong[0]
        raise DataError(
            f"{source}: event {int(ids[i])} has {int(counts[i])} jet(s); dijet features need "
            f"exactly 2 per event ({len(wrong)} such events)"
        )
    rows = np.argsort(inverse, kind="stable").reshape(-1, 2)  # (events, 2) in event-id order
    mass = np.asarray(sample.jets["mass"], np.float64)
    swap = mass[rows[:, 1]] > mass[rows[:, 0]]
    rows[swap] = rows[swap][:, ::-1]
    # events in order of first appearance, so a sample written event by event keeps its order
    return rows[np.argsort(first, kind="stable")]


def _ratio(num, den, name, rows, source):
    """num / den; 0 where both are 0 (a jet of at most N constituents has tau_N = tau_{N+1} = 0,
    the convention of preprocessing.jets.observables), an error for any other non-positive denominator."""
    empty = (den == 0) & (num == 0)
    bad = np.nonzero(~(den > 0) & ~empty)[0]
    if len(bad):
        raise DataError(
            f"{source}: {name} undefined for jet {int(rows[bad[0]])} (denominator "
            f"{float(den[bad[0]])}; {len(bad)} such jets)"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(empty, 0.0, num / den)


def dijet_features(sample, source="input"):
    """bortolato2021 inputs and the dijet mass kept aside.

    Args:
        sample: JetSample with jets 'mass', 'tau1', 'tau2', 'tau3' and two jets per event.
        source: where the sample came from, for error messages.

    Returns:
        features (events, 6) float32 in the order of FEATURES, m_jj (events,) float64 in GeV,
        and rows (events, 2) of the heavier and lighter jet in the sample.
    """
    missing = [k for k in REQUIRED if k not in sample.jets]
    if missing:
        raise DataError(
            f"{source}: high-level features need /jets/{', /jets/'.join(missing)}; the sample has {sorted(sample.jets)}"
        )
    rows = event_pairs(sample, source)
    get = {k: np.asarray(sample.jets[k], np.float64) for k in REQUIRED}
    cols = [get["mass"][rows[:, 0]], get["mass"][rows[:, 1]]]
    for j in (0, 1):
        r = rows[:, j]
        cols.append(_ratio(get["tau2"][r], get["tau1"][r], "tau21 = tau2/tau1", r, source))
        cols.append(_ratio(get["tau3"][r], get["tau2"][r], "tau32 = tau3/tau2", r, source))
    features = np.stack(cols, axis=1)  # (events, 6) in the order of FEATURES
    return features.astype(np.float32), dijet_mass(sample, rows, source), rows


def dijet_mass(sample, rows=None, source="input"):
    """m_jj per event (GeV): the stored '/jets/mjj' if present, else from the two jets' kinematics."""
    rows = event_pairs(sample, source) if rows is None else rows
    if "mjj" in sample.jets:
        return np.asarray(sample.jets["mjj"], np.float64)[rows[:, 0]]
    missing = [k for k in ("pt", "eta", "phi", "mass") if k not in sample.jets]
    if missing:
        raise DataError(f"{source}: m_jj needs /jets/mjj or /jets/{', /jets/'.join(missing)}")
    j = {k: np.asarray(sample.jets[k], np.float64) for k in ("pt", "eta", "phi", "mass")}
    p4 = physics.from_pt_eta_phi(j["pt"], j["eta"], j["phi"], j["mass"])  # (jets, 4)
    return physics.mass(p4[rows[:, 0]] + p4[rows[:, 1]])


def event_labels(sample, rows):
    """Label of each event: its jets' label, which must agree (a DataError names the event otherwise)."""
    labels = np.asarray(sample.labels)
    a, b = labels[rows[:, 0]], labels[rows[:, 1]]
    bad = np.nonzero(a != b)[0]
    if len(bad):
        e = int(np.asarray(sample.event)[rows[bad[0], 0]])
        raise DataError(f"event {e}: its two jets carry different labels ({int(a[bad[0]])}, {int(b[bad[0]])})")
    return a


def complete_events(sample):
    """The jets of events that hold exactly two jets (e.g. for plots of a jet-level sample)."""
    _, inverse, counts = np.unique(np.asarray(sample.event), return_inverse=True, return_counts=True)
    return sample.subset(np.nonzero(counts[inverse] == 2)[0])


def _build(sample, source="input"):
    features, _, _ = dijet_features(sample, source)
    return {"highlevel": features}


def _fit(inputs):
    # bortolato2021: MaxAbsScaler
    return {"scaler": FeatureScaler("maxabs").fit(inputs["highlevel"]).to_dict()}


def _rows(sample, source="input"):
    pairs = event_pairs(sample, source)  # (events, 2), the order of the built rows
    return sample.event[pairs[:, 0]], event_labels(sample, pairs)


# one row per event (two jets); m_jj is kept aside by dijet_features and never an input
REPRESENTATION = Representation(
    name="highlevel",
    build=_build,
    default_params=DEFAULT_PARAMS,
    fit=_fit,
    row_level="event",
    rows=_rows,
    shapes=lambda p: {"highlevel": (len(FEATURES),)},
)
