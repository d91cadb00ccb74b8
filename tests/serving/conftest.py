"""Fixtures for the serving tests: one small exported DVAE (raw-constituent default) and jets."""

import numpy as np
import pytest


def export_dvae(folder, sample, seed=0, warmup=True):
    """Export a freshly initialised DirichletVAE on jet images under `folder`; returns the version folder."""
    import keras

    from models.dvae import DirichletVAE
    from tests.conftest import minimal_card
    from training.export import export_tagger

    keras.utils.set_random_seed(seed)
    model = DirichletVAE()
    model(np.zeros((1, 40, 40), np.float32))
    card = minimal_card(model, "jet_image", {"jet_image": (40, 40)}, "dvae")
    return export_tagger(
        model, {"jet_image": (40, 40)}, folder, card, warmup=sample.subset(np.arange(8)) if warmup else None
    ), model


def edge_jets(jets):
    """Real jets cut to their 1 and 2 hardest constituents, one split collinearly into 200, then the
    jets themselves: (constituents (rows, particles, 4) float32, counts (rows,) int32)."""
    p4 = jets.constituents
    one = p4[:4].copy()
    one[:, 1:] = 0.0
    two = p4[4:8].copy()
    two[:, 2:] = 0.0
    # 200 constituents: every constituent of a real jet split into equal collinear pieces
    n = int(jets.n_constituents[8])
    order = np.tile(np.arange(n), int(np.ceil(200 / n)))[:200]  # which original constituent each piece is
    k = np.bincount(order, minlength=n)  # pieces per original constituent
    many = (p4[8, order] / k[order][:, None])[None]
    width = max(p4.shape[1], 200)

    def pad(a):
        return np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)))

    constituents = np.concatenate([pad(one), pad(two), pad(many), pad(p4)])
    counts = np.concatenate([[1] * 4, [2] * 4, [200], jets.n_constituents]).astype(np.int32)
    return constituents.astype(np.float32), counts


@pytest.fixture(scope="session")
def jets(small_samples):
    """Real generated jets (QCD then top) with padded constituents, plus edge cases with 1, 2 and 200 constituents."""
    from preprocessing.samples.format import concatenate

    sample = concatenate([small_samples["qcd"].subset(np.arange(40)), small_samples["top"].subset(np.arange(40))])
    return sample


@pytest.fixture(scope="session")
def exported(jets, tmp_path_factory):
    """(export base, in-memory model): dvae versions 1 and 2 (copies) under <base>/dvae."""
    import shutil

    base = tmp_path_factory.mktemp("serving")
    folder, model = export_dvae(base / "dvae", jets, seed=1)
    shutil.copytree(folder, base / "dvae" / "2")  # a second version (same weights) to address by number
    return base, model


@pytest.fixture(scope="module")
def server(exported):
    """A running server (REST and gRPC on free ports) of the exported dvae, every version."""
    from serving import serve
    from serving.config import ModelConfig, VersionPolicy

    base, _ = exported
    running = serve.start(
        port=0, grpc_port=0, configs=[ModelConfig("dvae", base / "dvae", VersionPolicy("all"))], poll_s=0.2
    )
    yield running
    running.shutdown()
