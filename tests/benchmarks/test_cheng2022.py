"""benchmarks.cheng2022 and its stock reference: the stock ParticleNet is the same network as ours
(weights, edges), and every ParticleNet row stands beside the stock rate with its ratio."""

import numpy as np

from benchmarks import cheng2022
from benchmarks.stock_particlenet import stock_particlenet, trainable_weights


def test_stock_lite_has_as_many_trainable_weights_as_ours():
    from models.particlenet import ParticleNet

    x, _ = cheng2022.synthetic_inputs("particlenet", 8)
    ours = ParticleNet(seed=0)
    ours.fit_scaler(x)
    stock = stock_particlenet()
    assert trainable_weights(stock) == trainable_weights(ours) == 26251
    p = np.asarray(stock.predict_on_batch(x))
    assert p.shape == (8, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_stock_edges_are_ours_on_jets_without_padding():
    """[x_i, x_j - x_i] over the k nearest neighbours, as models.edge_conv builds them."""
    from benchmarks.stock_particlenet import _edge_features_class
    from models.edge_conv import edge_features, knn_indices

    rng = np.random.default_rng(0)
    coordinates = rng.normal(size=(3, 20, 2)).astype(np.float32)
    x = rng.normal(size=(3, 20, 5)).astype(np.float32)
    k = 7
    stock = np.asarray(_edge_features_class()(k)([coordinates, x]))
    ours = np.asarray(edge_features(x, knn_indices(coordinates, np.ones((3, 20), np.float32), k)))
    assert stock.shape == (3, 20, k, 10)
    np.testing.assert_allclose(stock, ours, rtol=1e-6, atol=1e-6)


def test_particlenet_rows_stand_beside_the_stock_rates_with_their_ratios():
    from benchmarks.table import rows

    result = {
        "results": [
            {
                "model": "particlenet",
                "preset": "lite",
                "train_jets_per_s": 900.0,
                "score_jets_per_s": 4000.0,
                "train_ratio": 0.9,
                "score_ratio": 1.1,
                "stock": {"train_jets_per_s": 1000.0, "score_jets_per_s": 3636.0},
            },
            {"model": "fcn", "preset": "paper", "train_jets_per_s": 8000.0, "score_jets_per_s": 1e5},
        ]
    }
    table = {r["quantity"]: r for r in rows("cheng2022", cheng2022.figures(result), result)}
    assert table["particlenet:lite training, jets/s"]["reference"] == 1000.0
    assert table["particlenet:lite scoring, jets/s"]["reference"] == 3636.0
    assert table["particlenet:lite training, ours / stock"]["value"] == 0.9
    assert table["particlenet:lite scoring, ours / stock"]["target"] == cheng2022.RATIO_TARGET
    assert "stock" in table["particlenet:lite training, jets/s"]["source"]
    assert table["fcn:paper training, jets/s"]["reference"] == "7,200–8,800"
