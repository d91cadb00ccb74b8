"""The deployment files parse and agree with the exports' layout and TF Serving's flags."""

import pathlib
import shlex

import yaml

DEPLOY = pathlib.Path(__file__).parents[1] / "deploy"


def test_kserve_manifest_is_an_inference_service_with_replicas():
    (doc,) = list(yaml.safe_load_all((DEPLOY / "kserve.yaml").read_text()))
    assert doc["apiVersion"] == "serving.kserve.io/v1beta1" and doc["kind"] == "InferenceService"
    predictor = doc["spec"]["predictor"]
    assert 1 < predictor["minReplicas"] <= predictor["maxReplicas"]
    model = predictor["model"]
    assert model["modelFormat"]["name"] == "tensorflow" and model["storageUri"].endswith("/exported/dvae")
    assert "--enable_model_warmup=true" in model["args"]


def test_docker_command_uses_the_official_image_and_the_written_config():
    text = (DEPLOY / "docker-run.sh").read_text()
    command = " ".join(line.rstrip("\\") for line in text.splitlines() if not line.startswith("#"))
    words = shlex.split(command.split("exec ", 1)[1])
    assert words[:2] == ["docker", "run"]
    image = next(w for w in words if w.startswith("tensorflow/serving:"))
    flags = words[words.index(image) + 1 :]
    assert "--model_config_file=/models/models.config" in flags and "8500:8500" in words and "8501:8501" in words
    batching = (DEPLOY / "batching.config").read_text()
    assert "max_batch_size { value: 256 }" in batching
