"""The conversion command line: a top-tagging table converted through it, read back unchanged."""

import numpy as np
import pandas as pd

from preprocessing.convert import main
from preprocessing.jets import physics
from preprocessing.samples.convert import detect_format
from preprocessing.samples.format import read_sample


def test_toptagging_table_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    n, real = 30, rng.integers(3, 40, 30)
    c = np.zeros((n, 200, 4))
    for i in range(n):
        p = physics.from_pt_eta_phi(
            np.sort(rng.uniform(1, 200, real[i]))[::-1], rng.normal(0, 0.3, real[i]), rng.normal(0, 0.3, real[i])
        )
        c[i, : real[i]] = p
    cols = {f"{k}_{i}": c[:, i, j] for i in range(200) for j, k in enumerate(("E", "PX", "PY", "PZ"))}
    label = rng.integers(0, 2, n)
    df = pd.DataFrame({**cols, "truthE": np.ones(n), "is_signal_new": label})
    src = tmp_path / "test.h5"
    df.to_hdf(src, key="table", format="table")
    assert detect_format(src) == "toptagging"

    out = tmp_path / "top.h5"
    assert main([str(src), "--out", str(out), "--chunk", "7"]) == 0
    s = read_sample(out)
    assert s.label_names == ["qcd", "top"]
    np.testing.assert_array_equal(s.labels, label)
    np.testing.assert_array_equal(s.n_constituents, real)
    np.testing.assert_allclose(s.constituents, c, rtol=1e-5, atol=1e-4)
    jet = c.sum(axis=1)
    np.testing.assert_allclose(s.jets["mass"], physics.mass(jet), rtol=1e-4)
    np.testing.assert_array_equal(s.jets["n_const"], real)
