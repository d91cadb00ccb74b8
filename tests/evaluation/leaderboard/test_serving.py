"""``python -m serving --model_config_file DIR/models.config`` serves every export of a bench run: one jet per
model over REST and gRPC equals the SavedModel's own score."""

import numpy as np

from tests.evaluation.leaderboard.conftest import SMOKE_MODELS, suite_sample
from tests.evaluation.leaderboard.served import score_every_model


def test_models_config_serves_every_export_over_rest_and_grpc(smoke_run):
    out, results, cache = smoke_run
    qcd = suite_sample(results, cache, "QCD")
    got = score_every_model(out, lambda card: qcd)
    assert sorted(got) == sorted(e["name"] for e in results["entries"]) == sorted(SMOKE_MODELS)
    for name, (rest, grpc, saved) in got.items():
        assert rest.shape == grpc.shape == saved.shape == (1,), name
        np.testing.assert_allclose(rest, saved, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(grpc, saved, rtol=1e-5, atol=1e-6, err_msg=name)
