"""Training-only arrays of the fit pipeline (cheng2020): the jet mass and paired outliers travel
in the training batches but never into the serving inputs; bad files are clear errors."""

import h5py
import numpy as np
import pytest

from preprocessing.errors import DataError
from preprocessing.samples import resample
from preprocessing.samples.format import write_sample
from tests.cheng2020_synthetic import jet_sample
from training import pipeline
from training.data import training_arrays
from training.data.rows import load_inputs


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cheng2020")
    out = {
        "qcd": write_sample(folder / "qcd.h5", jet_sample(200, 1, width=0.1)),
        "outliers": write_sample(folder / "w.h5", jet_sample(150, 2, width=0.13, label="w")),
        "outliers_r08": write_sample(folder / "w08.h5", jet_sample(100, 3, width=0.13, label="w", jet_radius=0.8)),
    }
    no_mass = folder / "qcd_no_mass.h5"
    write_sample(no_mass, jet_sample(50, 4))
    with h5py.File(no_mass, "a") as f:
        del f["jets/mass"]
    out["no_mass"] = no_mass
    return out


def test_jet_mass_travels_with_training_batches_only(files):
    settings = pipeline.resolve("disco_vae")
    inputs = load_inputs(settings, [files["qcd"]])
    rows = np.arange(10, 60)
    assert inputs.names == ("constituents",) and inputs.shapes() == {"constituents": (20, 4)}
    assert isinstance(inputs.model_inputs(rows), np.ndarray)  # serving and evaluation: constituents only
    batch = inputs.training_inputs(rows)
    assert set(batch) == {"constituents", "jet_mass"}
    np.testing.assert_array_equal(batch["jet_mass"], jet_sample(200, 1, width=0.1).jets["mass"][rows])
    with pytest.raises(DataError, match="trains with \\['jet_mass'\\] beside its inputs"):
        pipeline.train_member(settings, inputs.model_inputs(rows), inputs.model_inputs(rows), 0, "unused")


def test_a_sample_without_jet_masses_is_a_clear_error(files):
    settings = pipeline.resolve("disco_vae")
    with pytest.raises(DataError, match=r"qcd_no_mass.h5.*/jets/mass"):
        load_inputs(settings, [files["no_mass"]])
    sample = jet_sample(20, 5)
    del sample.jets["mass"]
    with pytest.raises(DataError, match=r"in.h5: the sample has no jet masses \(/jets/mass\); model 'disco_vae'"):
        training_arrays.training_arrays(settings, sample, ("constituents",), {"constituents": (20, 4)}, "in.h5")


def test_outliers_are_paired_one_to_one_and_mass_matched(files):
    settings = pipeline.resolve("oe_vae", sets={"outliers": str(files["outliers"])})
    inputs = load_inputs(settings, [files["qcd"]])
    assert inputs.shapes() == {"constituents": (20, 4)}
    assert inputs.provenance["outliers"]["files"] == [str(files["outliers"])]
    rows = np.arange(160)
    batch = inputs.training_inputs(rows, seed=1)
    assert set(batch) == {"constituents", "outliers"}
    assert batch["outliers"].shape == batch["constituents"].shape
    pool = inputs.outliers
    index = resample.resample(pool.mass, inputs.jet_mass[rows], n=len(rows), seed=1)
    np.testing.assert_array_equal(batch["outliers"], pool.inputs[index])
    again = inputs.training_inputs(rows, seed=1)["outliers"]
    np.testing.assert_array_equal(again, batch["outliers"])  # seeded


def test_outlier_files_that_do_not_fit_are_clear_errors(files, tmp_path):
    settings = pipeline.resolve("oe_vae", sets={"outliers": str(files["outliers_r08"])})
    with pytest.raises(DataError, match=r"w08.h5: outlier jets have jet radius R = \[0.8\].*selection.jet_radius"):
        load_inputs(settings, [files["qcd"]])
    missing = pipeline.resolve("oe_vae", sets={"outliers": str(tmp_path / "nope.h5")})
    with pytest.raises(DataError, match="nope.h5: outlier file not found"):
        load_inputs(missing, [files["qcd"]])
