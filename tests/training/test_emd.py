"""training.emd: the per-jet EMD against EnergyFlow, its identities (self = 0, symmetry), padding,
parallel = serial, clear errors; the score command's --emd on exports with and without a
reconstruction."""

import json

import energyflow
import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from benchmarks.emd import smeared_reconstruction, synthetic_constituents
from models.base import Tagger
from preprocessing.errors import DataError
from preprocessing.jets import physics
from tests.conftest import minimal_card
from training import emd, score
from training.export import export_tagger, load_tagger


@pytest.fixture(scope="module")
def jets():
    """(input jets, reconstructions, mask): real-looking preprocessed jets, many of them padded."""
    p4, mask = synthetic_constituents(300, seed=3, n_keep=30)  # 15-50 constituents: ~1/3 padded
    return p4.astype(np.float64), smeared_reconstruction(p4, seed=4).astype(np.float64), mask.astype(bool)


def _energyflow(a, b):
    """energyflow.emd.emd on the (pT, eta, phi) of the rows with pT > 0, jet by jet."""
    a, b = emd.pt_eta_phi(a), emd.pt_eta_phi(b)
    return np.array(
        [energyflow.emd.emd(x[x[:, 0] > 0], y[y[:, 0] > 0], R=1.0, norm=True) for x, y in zip(a, b, strict=True)]
    )


def test_equals_energyflow(jets):
    p4, reco, mask = jets
    assert (~mask).any() and mask.all(axis=1).any()  # padded and full jets both present
    got = emd.four_vector_emd(p4, reco, workers=1)
    want = _energyflow(p4, reco)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert got.min() > 0
    # the (pT, eta, phi) entry point gives the same numbers
    np.testing.assert_array_equal(emd.paired_emd(emd.pt_eta_phi(p4), emd.pt_eta_phi(reco), workers=1), got)


def test_with_itself_zero_and_symmetric(jets):
    p4, reco, _ = jets
    np.testing.assert_allclose(emd.four_vector_emd(p4, p4, workers=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(
        emd.four_vector_emd(p4, reco, workers=1), emd.four_vector_emd(reco, p4, workers=1), rtol=1e-12, atol=1e-12
    )


def test_known_value_and_radius():
    # one particle at the origin against one at (eta, phi) = (0.3, 0.4): all pT moves 0.5 / R
    a = np.array([[[100.0, 0.0, 0.0]]])
    b = np.array([[[7.0, 0.3, 0.4]]])  # normalised weights: the pT scale does not matter
    np.testing.assert_allclose(emd.paired_emd(a, b, workers=1), [0.5], rtol=1e-12)
    np.testing.assert_allclose(emd.paired_emd(a, b, workers=1, radius=0.8), [0.625], rtol=1e-12)
    # half the pT moves 0.5 away
    c = np.array([[[50.0, 0.0, 0.0], [50.0, 0.3, 0.4]]])
    np.testing.assert_allclose(emd.paired_emd(a, c, workers=1), [0.25], rtol=1e-12)


def test_padded_rows_are_ignored(jets):
    p4, reco, mask = jets
    want = emd.four_vector_emd(p4, reco, workers=1)
    # more zero rows, and zero rows moved between the real ones, change nothing
    wider = np.concatenate([np.zeros_like(p4[:, :5]), p4, np.zeros_like(p4[:, :7])], axis=1)
    shuffled = wider[:, np.random.default_rng(0).permutation(wider.shape[1])]
    np.testing.assert_allclose(emd.four_vector_emd(shuffled, reco, workers=1), want, rtol=1e-12, atol=1e-12)
    # a reconstruction's row counts even where the input was padded: it moves pT away
    padded = np.nonzero(~mask[:, -1])[0][0]
    one = p4[padded : padded + 1].copy()
    extra = one.copy()
    extra[0, -1] = physics.from_pt_eta_phi(5.0, 0.5, 0.5)
    assert (one[0, -1] == 0).all() and emd.four_vector_emd(one, extra, workers=1)[0] > 0


def test_parallel_equals_serial(jets):
    p4, reco, _ = jets
    serial = emd.four_vector_emd(p4, reco, workers=1)
    parallel = emd.four_vector_emd(p4, reco, workers=2, chunk_size=40)
    np.testing.assert_array_equal(parallel, serial)
    # the kept pool serves the next call, a chunk size that does not divide the jets included
    np.testing.assert_array_equal(emd.four_vector_emd(p4, reco, workers=2, chunk_size=77), serial)
    emd.shutdown_pools()


def test_a_solver_failure_names_the_jet(monkeypatch):
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(1, 2, (3, 10, 1)), rng.normal(0, 0.3, (3, 10, 2))], axis=-1)
    b = a[:, ::-1] + np.array([0.0, 0.1, 0.0])
    tired = emd.new_solver()
    tired.set_network_simplex_params(2, 1e4, 1.0)  # two iterations: the solver gives up
    monkeypatch.setattr(emd, "_SOLVER", tired)
    with pytest.raises(DataError, match=r"EMD of jet [12] failed: .*MaxIter"):
        emd.paired_emd(a, b, workers=1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a, b: (a[:, :, :2], b), r"jets_a: expected shape \(jets, particles, 3\)"),
        (lambda a, b: (a, b[:-1]), "jets_a has 4 jets but jets_b has 3"),
        (lambda a, b: (np.where(np.arange(4)[:, None, None] == 2, np.nan, a), b), "jets_a: jet 2 has NaN"),
        (lambda a, b: (a, np.where(np.arange(4)[:, None, None] == 1, 0.0, b)), "jets_b: jet 1 has no constituent"),
        (lambda a, b: (a * np.array([-1.0, 1.0, 1.0]), b), "jets_a: jet 0 has a constituent with negative pT"),
    ],
)
def test_bad_input_is_a_clear_error(change, message):
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(1, 10, (4, 5, 1)), rng.normal(0, 0.3, (4, 5, 2))], axis=-1)
    b = a + np.array([0.0, 0.1, 0.0])
    with pytest.raises(DataError, match=message):
        emd.paired_emd(*change(a, b), workers=1)


def test_bad_options_are_clear_errors(jets):
    p4, reco, _ = jets
    with pytest.raises(DataError, match="workers must be an integer >= 1"):
        emd.four_vector_emd(p4, reco, workers=0)
    with pytest.raises(DataError, match="radius R must be a finite number > 0"):
        emd.four_vector_emd(p4, reco, radius=0.0)
    assert emd.paired_emd(np.zeros((0, 3, 3)), np.zeros((0, 4, 3))).shape == (0,)


class _Tiny(Tagger):
    """A stand-in tagger on `constituents`: reconstruction = input + a fixed shift in every row."""

    default_score = "size"

    def __init__(self, shift=0.5):
        super().__init__(name="tiny")
        self.shift = self.add_weight(shape=(20, 4), initializer="zeros", trainable=False, name="shift")
        self.shift.assign(np.tile([0.0, shift, -shift, 0.0], (20, 1)).astype("float32"))
        self.built = True

    def anomaly_scores(self, x):
        return {"size": tf.reduce_sum(tf.abs(x), axis=(1, 2))}

    def reconstruction(self, x):
        x = x["constituents"] if isinstance(x, dict) else x  # one input, or named inputs
        return x + self.shift  # (batch, 20, 4)


class _TinyWithoutReconstruction(_Tiny):
    reconstruction = Tagger.reconstruction  # like dvae: the base class's "no reconstruction"


def test_emd_scores_of_a_model(jets):
    p4, _, _ = jets
    x = p4[:, :20].astype(np.float32)
    model = _Tiny()
    got = emd.emd_scores(model, x, workers=1)
    want = emd.four_vector_emd(x, keras.ops.convert_to_numpy(model.reconstruction(x)), workers=1)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(emd.emd_scores(model, {"constituents": x}, workers=1), want)
    with pytest.raises(DataError, match="model 'tiny' .*has no reconstruction"):
        emd.emd_scores(_TinyWithoutReconstruction(), x)


def _sample(tmp_path):
    """A small sample file of synthetic jets (raw constituents in the project's format)."""
    from preprocessing.samples.format import JetSample, write_sample

    rng = np.random.default_rng(5)
    n, m = 60, 30
    counts = rng.integers(10, m + 1, n)
    mask = np.arange(m) < counts[:, None]
    pt = np.where(mask, rng.gamma(0.7, 30.0, (n, m)), 0.0)
    eta = rng.uniform(-1, 1, (n, 1)) + rng.normal(0, 0.2, (n, m))
    phi = rng.uniform(-3, 3, (n, 1)) + rng.normal(0, 0.2, (n, m))
    c = np.where(mask[..., None], physics.from_pt_eta_phi(pt, eta, phi), 0.0)
    jet = c.sum(axis=1)
    fields = {
        "pt": physics.pt(jet),
        "eta": physics.eta(jet),
        "phi": physics.phi(jet),
        "mass": physics.mass(jet),
        "energy": jet[:, 0],
    }
    labels = (np.arange(n) % 2).astype(np.int32)
    sample = JetSample(c, counts, labels, np.arange(n), fields, ["qcd", "signal"], {"synthetic": True})
    return write_sample(tmp_path / "jets.h5", sample)


def test_export_and_score_command_emd(tmp_path, capsys):
    from preprocessing import representations
    from preprocessing.samples.format import read_sample

    data = _sample(tmp_path)
    shapes = {"constituents": (20, 4)}
    model = _Tiny()
    folder = export_tagger(model, shapes, tmp_path / "tiny", minimal_card(model, "constituents", shapes, "tiny"))
    _, card, _, loaded = load_tagger(folder)
    assert card.scorer_scores == ["emd"] and "reconstruction" in loaded.signatures
    x = representations.build("constituents", read_sample(data))["constituents"]
    np.testing.assert_allclose(
        loaded.signatures["reconstruction"](constituents=tf.constant(x))["reconstruction"].numpy(),
        keras.ops.convert_to_numpy(model.reconstruction(x)),
        atol=1e-6,
    )

    out = tmp_path / "scores.h5"
    argv = ["--model", str(tmp_path / "tiny"), "--data", str(data), "--out", str(out), "--emd", "--workers", "1"]
    assert score.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["auc"]) == {"anomaly_score", "size", "emd"}
    with h5py.File(out) as f:
        got = f["scores/emd"][...]
    np.testing.assert_allclose(got, emd.emd_scores(model, x, workers=1), rtol=1e-5)
    assert got.min() > 0


def test_score_emd_on_a_model_without_reconstruction_is_a_clear_error(tmp_path, capsys):
    data = _sample(tmp_path)
    shapes = {"constituents": (20, 4)}
    model = _TinyWithoutReconstruction()
    folder = export_tagger(model, shapes, tmp_path / "plain", minimal_card(model, "constituents", shapes, "plain"))
    _, card, _, loaded = load_tagger(folder)
    assert card.scorer_scores == [] and "reconstruction" not in loaded.signatures
    out = tmp_path / "scores.h5"
    assert score.main(["--model", str(tmp_path / "plain"), "--data", str(data), "--out", str(out), "--emd"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --emd: model 'plain' (_TinyWithoutReconstruction) has no reconstruction")
    assert not out.exists()
    # the same when the card is older or edited: the SavedModel's signatures decide
    with pytest.raises(DataError, match="model 'plain' .*has no reconstruction.*signatures"):
        emd.export_emd_scores(loaded, card, None)
    # --workers belongs to --emd
    assert score.main(["--model", str(folder), "--data", str(data), "--out", str(out), "--workers", "2"]) == 2
    assert "--workers sets the processes of --emd" in capsys.readouterr().err


@pytest.mark.slow
def test_many_jets_in_parallel_equal_energyflow():
    p4, _ = synthetic_constituents(20000, seed=7)
    reco = smeared_reconstruction(p4, seed=8)
    got = emd.four_vector_emd(p4, reco, workers=2)
    emd.shutdown_pools()
    np.testing.assert_allclose(got, _energyflow(p4, reco), rtol=0, atol=1e-9)
