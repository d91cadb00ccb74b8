"""Ensembles: every named score is the members' mean, the default score's spread is added, exports agree."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.bumphunt_vae import BumpHuntVAE
from models.ensemble import Ensemble
from tests.conftest import minimal_card
from tests.models.test_bumphunt_vae import _events
from training.export import export_tagger, load_tagger


def test_ensemble_scores_are_the_mean_of_members_also_when_exported(tmp_path):
    x, _ = _events(300, seed=1)
    members = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        m = BumpHuntVAE(seed=seed)
        m.fit_scaler(x)
        m.calibrate(x)  # each member's own latent density and tail tables (the default score)
        members.append(m)
    ens = Ensemble(members)
    kls = np.stack([np.asarray(m.anomaly_scores(x)["kl"]) for m in members])
    nll = np.stack([np.asarray(m.anomaly_scores(x)["latent_nll"]) for m in members])
    rarity = np.stack([np.asarray(m.anomaly_scores(x)["rarity"]) for m in members])
    scores = {k: np.asarray(v) for k, v in ens.anomaly_scores(x).items()}
    np.testing.assert_allclose(scores["kl"], kls.mean(0), rtol=1e-5)
    np.testing.assert_allclose(scores["latent_nll"], nll.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores["rarity"], rarity.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores["rarity_std"], rarity.std(0), rtol=1e-4, atol=1e-4)
    export_tagger(
        ens, {"features": (6,)}, tmp_path / "bumphunt_vae", minimal_card(ens, "highlevel", {"features": (6,)})
    )
    fn, _, _, _ = load_tagger(tmp_path / "bumphunt_vae")
    out = fn(features=tf.constant(x))
    np.testing.assert_allclose(out["anomaly_score"].numpy(), rarity.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["kl"].numpy(), kls.mean(0), rtol=1e-5, atol=1e-6)
    assert set(scores) == {"rarity", "rarity_std", "latent_nll", "kl", "reconstruction"}
    assert ens.default_score == "rarity"
    recos = np.stack([np.asarray(m.anomaly_scores(x)["reconstruction"]) for m in members])
    np.testing.assert_allclose(scores["reconstruction"], recos.mean(0), rtol=1e-5)


def test_an_ensemble_needs_members():
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])
