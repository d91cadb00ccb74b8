"""kahn2021 preprocessing and score against an independent hand computation (issue 31).

Everything below marked "by hand" is plain numpy written from the paper's text (arXiv:2105.09274):
Algorithm 1 (Sec. 3.1), the k_t-distance order (Sec. 3.2, Eq. 3.1), the pT-fraction table
(Eq. 2.8), the per-step loss and score (Eqs. 2.9-2.11) and the transform rho' (Eq. 4.1). It calls
none of the project's kinematics (no `preprocessing.jets.physics`, no `vector`): its own boosts
(explicit gamma/beta along z and x), rotations (explicit cos/sin) and eta/phi. The jets are a
handful of generated LHCO-like events (3 QCD dijet and 3 2-prong Z' -> XY events, Pythia8 +
FastJet, generated here in about 3 s); every one takes 2-10 passes of Algorithm 1.

Measured agreement (project vs hand, both selections): final-frame four-vectors to 6e-13 GeV,
features (float32) to 3e-8; pT-fraction table to float32 precision; KL_jet, rho and rho' to the
float32 network's ~1e-4.

Algorithm 1's "Rebuild jet with remaining constituents, Repeat from start" is ambiguous and the
steps are not Lorentz covariant: the project (like the authors' code) restarts from the remaining
constituents in the frame just computed; restarting from their lab four-vectors moves the features
by up to 0.02 (0.24 for one jet with the authors' selection). See
test_repeat_from_start_is_frame_dependent.

Where the project deliberately differs from the paper, a strict xfail states the difference and
fails if the project ever starts to agree (so the note cannot go stale):

* the pT-fraction feature: paper/authors pT_i / pT_jet, project pT_i / sum_j pT_j;
* the constituents' masses: the paper's LHCO hadrons are (pT, eta, phi) lists and the authors'
  code builds them massless; the project keeps the generator's hadron masses.
"""

import numpy as np
import pytest

from preprocessing.representations import vrnn

M_REF, E_REF, DR_MAX, N_MAX = 0.25, 1.0, 1.0, 20


# -- by hand -------------------------------------------------------------------------------------
def _eta_phi(p):
    pt = np.hypot(p[:, 1], p[:, 2])
    return pt, np.arcsinh(p[:, 3] / pt), np.arctan2(p[:, 2], p[:, 1])


def _mass(j):
    return np.sqrt(max(j[0] ** 2 - j[1] ** 2 - j[2] ** 2 - j[3] ** 2, 0.0))


def _boost(p, beta, axis):
    """Into the frame moving with velocity beta along `axis` (1 = x, 3 = z)."""
    g = 1.0 / np.sqrt(1.0 - beta**2)
    out = p.copy()
    out[:, 0] = g * (p[:, 0] - beta * p[:, axis])
    out[:, axis] = g * (p[:, axis] - beta * p[:, 0])
    return out


def _frame(lab):
    """One pass of Algorithm 1's 'Start' block on lab four-vectors (n, 4) = (E, px, py, pz)."""
    p = lab.copy()
    j = p.sum(0)
    p = _boost(p, j[3] / j[0], 3)  # "Boost jet in z direction until eta_Jet = 0"
    j = p.sum(0)
    c, s = j[1] / np.hypot(j[1], j[2]), j[2] / np.hypot(j[1], j[2])
    p[:, 1], p[:, 2] = c * p[:, 1] + s * p[:, 2], -s * p[:, 1] + c * p[:, 2]  # "Rotate ... until phi_Jet = 0"
    p *= M_REF / _mass(p.sum(0))  # "Rescale jet four-vector such that m_Jet = 0.25 GeV"
    j = p.sum(0)
    # "Boost jet along its axis until E_Jet = 1 GeV": E = m cosh(y), so move y from arccosh(E/m) to arccosh(1/m)
    p = _boost(p, np.tanh(np.arccosh(j[0] / M_REF) - np.arccosh(E_REF / M_REF)), 1)
    # "Rotate jet about x axis until hardest constituent has eta_1 = 0, phi_1 > 0": the rotation
    # about x leaves |p| unchanged and puts the chosen one at pT = |p|, so the hardest is the largest |p|
    h = np.argmax(np.sqrt((p[:, 1:] ** 2).sum(1)))
    r = np.hypot(p[h, 2], p[h, 3])
    c, s = p[h, 2] / r, p[h, 3] / r
    p[:, 2], p[:, 3] = c * p[:, 2] + s * p[:, 3], -s * p[:, 2] + c * p[:, 3]
    return p


def algorithm1_by_hand(lab, selection="paper", restart="current"):
    """Algorithm 1 on one jet; returns its final-frame four-vectors sorted by pT (hardest first).

    restart: what "Rebuild jet with remaining constituents, Repeat from start" starts from:
        "current" the remaining constituents as they are in the frame just computed (the authors'
        code, which re-reads its transformed (pT, eta, phi) lists), or "lab" the same constituents'
        original lab four-vectors. The two differ: the steps are not covariant (z boost, z rotation,
        x boost compose to different transformations from different starting frames; they agree up
        to a rotation in the jet's rest frame that moves the constituents).
    """
    lab = lab.copy()
    while True:
        p = _frame(lab)
        pt, eta, phi = _eta_phi(p)
        start = p if restart == "current" else lab
        far = np.hypot(eta, phi) > DR_MAX
        if far.any():  # "Remove all constituents with Delta R > 1 ... Repeat from start"
            lab = start[~far]
            continue
        if len(p) > N_MAX:  # "Keep up-to the first 20 constituents, ordered in pT ... Repeat from start"
            key = pt if selection == "paper" else pt**2 * (eta**2 + phi**2)
            lab = start[np.argsort(-key, kind="stable")[:N_MAX]]
            continue
        p = p[np.argsort(-pt, kind="stable")]
        if selection == "paper" and _eta_phi(p)[1][1] < 0:
            p[:, 3] *= -1.0  # "Reflect ... such that the second hardest constituent has eta_2 > 0"
        return p


def kt_sequence_by_hand(p, selection="paper", denominator="sum"):
    """Eq. 3.1 order of final-frame constituents `p` (hardest first) and the features (f, eta, phi).

    denominator: "sum" (the project's, sum_j pT_j) or "jet" (the paper's pT_jet, the final jet's pT).
    """
    pt, eta, phi = _eta_phi(p)
    order, left = [0], list(range(1, len(p)))
    while left:
        prev = order[-1]
        # c_n = argmax over the unused of pT_n * Delta R(n, n-1)
        best = max(left, key=lambda i: pt[i] * np.hypot(eta[i] - eta[prev], phi[i] - phi[prev]))
        order.append(best)
        left.remove(best)
    jet = p.sum(0)
    norm = pt.sum() if denominator == "sum" else np.hypot(jet[1], jet[2])
    feats = np.stack([pt / norm, eta, phi], 1)[order]
    if selection == "authors" and feats[1, 1] < 0:
        feats[:, 1] *= -1.0  # the authors' code reflects on the second element of the k_t sequence
    return feats


def pt_fraction_table_by_hand(seqs, n_steps=N_MAX):
    """Eq. 2.8: pbar_N(t) = (1/D_N) sum over the D_N jets with N constituents of their t-th pT fraction."""
    table = {}
    for big_n in {len(s) for s in seqs}:
        same = [s for s in seqs if len(s) == big_n]
        table[big_n] = [sum(s[t][0] for s in same) / len(same) for t in range(big_n)]
    return table


def gauss_kl_by_hand(mu_q, sd_q, mu_p, sd_p):
    """KL(N(mu_q, sd_q^2) || N(mu_p, sd_p^2)) of diagonal Gaussians, summed over the latent dims."""
    return np.sum(np.log(sd_p / sd_q) + (sd_q**2 + (mu_q - mu_p) ** 2) / (2 * sd_p**2) - 0.5, axis=-1)


# -- data ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jets():
    """Lab four-vectors (float64) of a handful of generated jets: 3 QCD-dijet and 3 2-prong-signal events."""
    from preprocessing.events.generator import generate

    out = []
    for process, seed, opts in (("dijet", 31, {}), ("lhco-signal", 32, {"prongs": 2})):
        s = generate(process, 6, seed=seed, progress=False, **opts)
        for c, n in zip(s.constituents, s.n_constituents, strict=True):
            out.append(np.asarray(c[:n], np.float64))
    return out


def _padded(jets):
    width = max(len(j) for j in jets)
    c = np.zeros((len(jets), width, 4))
    for i, j in enumerate(jets):
        c[i, : len(j)] = j
    return c, np.array([len(j) for j in jets])


def _massless(jets):
    out = []
    for j in jets:
        j = j.copy()
        j[:, 0] = np.sqrt((j[:, 1:] ** 2).sum(1))
        out.append(j)
    return out


# -- Algorithm 1, k_t order, features ------------------------------------------------------------
def test_jets_exercise_every_branch(jets):
    """The handful covers removals (Delta R > 1), the 20-constituent truncation and long jets."""
    assert len(jets) == 12
    passes = [0, 0]
    for lab in jets:
        p = _frame(lab)
        _, eta, phi = _eta_phi(p)
        passes[0] += bool((np.hypot(eta, phi) > DR_MAX).any())
        passes[1] += len(lab) > N_MAX
    assert passes[0] >= 3 and passes[1] >= 10


@pytest.mark.parametrize("selection", ["paper", "authors"])
def test_algorithm1_frame_and_sequences_equal_hand(jets, selection):
    c, n = _padded(jets)
    p4, mask = vrnn.algorithm1(c, n, selection=selection)
    ours = vrnn.sequences(c, n, selection=selection, drop=False)
    worst = 0.0
    for i, lab in enumerate(jets):
        hand = algorithm1_by_hand(lab, selection)
        jet = hand.sum(0)
        # the paper's frame: m_Jet = 0.25 GeV, E_Jet = 1 GeV, jet along +x, hardest at eta = 0, phi > 0
        np.testing.assert_allclose([_mass(jet), jet[0], jet[2], jet[3]], [M_REF, E_REF, 0, 0], atol=1e-9)
        pt, eta, phi = _eta_phi(hand)
        assert abs(eta[0]) < 1e-9 and phi[0] > 0 and np.all(np.hypot(eta, phi) <= DR_MAX)
        if selection == "paper":
            assert eta[1] >= 0
        # the project's final-frame constituents (same pT order), to float64 precision
        k = int(mask[i].sum())
        assert k == len(hand), (i, k, len(hand))
        np.testing.assert_allclose(p4[i, :k], hand, atol=1e-10)
        # the k_t sequence and features (float32)
        feats = kt_sequence_by_hand(hand, selection)
        got = ours["vrnn_sequence"][i, :k].astype(np.float64)
        assert np.all(ours["vrnn_mask"][i, :k] == 1) and np.all(ours["vrnn_mask"][i, k:] == 0)
        np.testing.assert_allclose(got, feats, atol=2e-6)
        worst = max(worst, float(np.abs(got - feats).max()))
    assert worst < 2e-6


def test_hardest_by_p_is_hardest_by_pt_in_final_frame(jets):
    """Step 5's 'hardest constituent' is the largest |p| (see _frame); after the rotation it is the largest pT."""
    for lab in jets:
        pt, _, _ = _eta_phi(algorithm1_by_hand(lab))
        assert np.argmax(pt) == 0


def test_repeat_from_start_is_frame_dependent(jets):
    """Algorithm 1's "Repeat from start" is ambiguous: restarting a removal/truncation pass from the
    remaining constituents' lab four-vectors gives another final frame than restarting from the
    frame just computed (which the project and the authors' code do). Measured here: the features
    move by up to a few 1e-2 (pT fraction, eta, phi), the set of kept constituents can change."""
    moved, changed = [], 0
    for lab in jets:
        a = algorithm1_by_hand(lab, restart="current")
        b = algorithm1_by_hand(lab, restart="lab")
        if len(a) != len(b):
            changed += 1
            continue
        moved.append(np.abs(kt_sequence_by_hand(a) - kt_sequence_by_hand(b)).max())
    # single-pass jets would agree exactly; every jet here takes >= 2 passes
    assert max(moved) > 1e-3
    assert changed + len(moved) == len(jets)


def test_kt_order_starts_two_prong_jets_by_alternating(jets):
    """Sec. 3.2: for a two-prong jet the sequence alternates between the cores early on: the second
    element is the far core, so its distance to the first is large (here > 0.3 in eta-phi)."""
    far = []
    for lab in jets[6:]:  # the 2-prong signal jets
        f = kt_sequence_by_hand(algorithm1_by_hand(lab))
        far.append(np.hypot(*(f[1, 1:] - f[0, 1:])))
    assert np.median(far) > 0.3


@pytest.mark.xfail(
    strict=True,
    reason="difference from the paper: the project's pT fraction is pT_i / sum_j pT_j (sums to 1); "
    "the paper's/authors' is pT_i / pT_jet with pT_jet = |p_jet| = sqrt(1 - 0.25^2) = 0.968 GeV in "
    "the final frame, i.e. larger by sum_j pT_j / pT_jet (1.006-1.033 on these jets)",
)
def test_pt_fraction_is_paper_pt_over_jet_pt(jets):
    c, n = _padded(jets)
    ours = vrnn.sequences(c, n, drop=False)
    for i, lab in enumerate(jets):
        paper = kt_sequence_by_hand(algorithm1_by_hand(lab), denominator="jet")
        np.testing.assert_allclose(ours["vrnn_sequence"][i, : len(paper), 0], paper[:, 0], rtol=1e-3)


def test_pt_fraction_denominators_differ_by_the_jet_ratio(jets):
    """The two definitions differ by one factor per jet, sum_j pT_j / pT_jet >= 1 (triangle inequality)."""
    ratios = []
    for lab in jets:
        hand = algorithm1_by_hand(lab)
        a = kt_sequence_by_hand(hand, denominator="sum")[:, 0]
        b = kt_sequence_by_hand(hand, denominator="jet")[:, 0]
        ratios.append(b[0] / a[0])
        np.testing.assert_allclose(b / a, ratios[-1], rtol=1e-12)
        np.testing.assert_allclose(np.hypot(*hand.sum(0)[1:3]), np.sqrt(E_REF**2 - M_REF**2), rtol=1e-9)
    assert min(ratios) >= 1.0 and max(ratios) > 1.01


@pytest.mark.xfail(
    strict=True,
    reason="difference from the paper's data: LHCO hadrons are (pT, eta, phi) lists, which the authors' "
    "code builds massless (setptetaphim(pt, eta, phi, 0)); the project keeps the generator's hadron "
    "masses (pions, kaons, nucleons), which changes the boosted frame and so the sequences (features by "
    "up to 0.59; the number of kept constituents in 5 of these 12 jets, e.g. 17 -> 12)",
)
def test_sequences_of_massless_constituents_equal_ours(jets):
    c, n = _padded(jets)
    ours = vrnn.sequences(c, n, drop=False)
    for i, lab in enumerate(_massless(jets)):
        hand = kt_sequence_by_hand(algorithm1_by_hand(lab))
        np.testing.assert_allclose(ours["vrnn_sequence"][i, : len(hand)], hand, atol=1e-4)


# -- pT-fraction table and the KL weighting --------------------------------------------------------
def test_pt_fraction_table_and_kl_weights_equal_eq_2_8(jets):
    seqs = [kt_sequence_by_hand(algorithm1_by_hand(lab)) for lab in jets]
    # add short truncations of the same jets so that several multiplicities have several jets
    short = []
    for s in seqs:
        for k in (3, 4):
            t = s[:k].copy()
            t[:, 0] /= t[:, 0].sum()
            short.append(t)
    seqs += short
    hand = pt_fraction_table_by_hand(seqs)
    x = np.zeros((len(seqs), N_MAX, 3), np.float32)
    m = np.zeros((len(seqs), N_MAX), np.float32)
    for i, s in enumerate(seqs):
        x[i, : len(s)], m[i, : len(s)] = s, 1
    fitted = vrnn.fit_pt_fraction_table(x, m)
    table = np.asarray(fitted["pt_fraction_table"])
    for big_n, row in hand.items():
        np.testing.assert_allclose(table[big_n, :big_n], row, atol=1e-6)
        np.testing.assert_array_equal(table[big_n, big_n:], 0.0)
        assert fitted["jets_per_multiplicity"][big_n] == sum(len(s) == big_n for s in seqs)
    # the KL weight of step t of a jet with N steps is pbar_N(t), zero at padding
    w = vrnn.kl_weights(fitted, m)
    for i, s in enumerate(seqs):
        np.testing.assert_allclose(w[i, : len(s)], hand[len(s)], atol=1e-6)
        assert np.all(w[i, len(s) :] == 0)


@pytest.mark.slow  # builds and traces the TF model: ~45 s on 2 busy cores
def test_loss_score_and_rho_prime_equal_eqs_2_9_to_4_1(jets):
    """Per jet, by hand from the network's per-step Gaussians: L = (1/N) sum_t [MSE_t + 0.1 pbar_N(t) KL_t]
    (Eqs. 2.9-2.10), rho = 1 - exp(-(1/N) sum_t pbar_N(t) KL_t) (Eq. 2.11 with the authors' pT
    weighting, as in their model.py), rho' = 1 - rho / (2 rho_bar) (Eq. 4.1), rho_bar the training mean
    of rho, so that the training mean of rho' is 0.5 (the transform's first condition)."""
    import keras

    from models.vrnn import VRNN

    c, n = _padded(jets)
    inputs = vrnn.sequences(c, n)
    keras.utils.set_random_seed(3)
    model = VRNN(seed=3)
    fitted = model.fit_scaler(inputs)
    x, m = inputs["vrnn_sequence"].astype(np.float64), inputs["vrnn_mask"] > 0
    out = model.forward(inputs["vrnn_sequence"], np.zeros((*x.shape[:2], 2), np.float32))
    out = {k: np.asarray(v, np.float64) for k, v in out.items()}
    kl_t = gauss_kl_by_hand(out["mu"], out["sigma"], out["prior_mu"], out["prior_sigma"])
    mse_t = ((x - out["prediction"]) ** 2).mean(-1)
    table = np.asarray(fitted["pt_fraction_table"])
    kl_jet, loss = [], []
    for i in range(len(x)):
        big_n = int(m[i].sum())
        w = table[big_n, :big_n]
        kl_jet.append(np.mean(w * kl_t[i, :big_n]))
        loss.append(np.mean(mse_t[i, :big_n] + 0.1 * w * kl_t[i, :big_n]))
    kl_jet, loss = np.array(kl_jet), np.array(loss)
    rho = 1.0 - np.exp(-kl_jet)
    rho_bar = model.calibrate(inputs)
    np.testing.assert_allclose(rho_bar, rho.mean(), rtol=1e-5)
    scores = {k: np.asarray(v, np.float64) for k, v in model.anomaly_scores(inputs).items()}
    # float32 network, float64 by hand: agreement to ~1e-4 relative
    np.testing.assert_allclose(scores["kl"], kl_jet, rtol=3e-4)
    np.testing.assert_allclose(scores["rho_prime"], 1.0 - rho / (2.0 * rho.mean()), atol=3e-4)
    np.testing.assert_allclose(scores["rho_prime"].mean(), 0.5, atol=1e-4)
    terms = model._jet_terms(inputs, sample=False)
    np.testing.assert_allclose(np.asarray(terms["reconstruction"]) + 0.1 * np.asarray(terms["kl"]), loss, rtol=1e-4)
    # the fixed cut: rho' > 0.65 <=> rho < 0.7 rho_bar, a statement about the relative width of rho only
    clear = np.abs(rho - 0.7 * rho.mean()) > 1e-6
    np.testing.assert_array_equal((scores["rho_prime"] > 0.65)[clear], (rho < 0.7 * rho.mean())[clear])
