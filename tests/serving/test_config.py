"""models.config files: read with every version policy, written for an export base, refused when wrong."""

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from preprocessing.errors import DataError
from serving import config


def test_read_every_policy(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(
        """model_config_list {
          config { name: "dvae" base_path: "/m/dvae" model_platform: "tensorflow"
                   model_version_policy { latest { num_versions: 2 } } }
          config { name: "ae1d" base_path: "/m/ae1d" model_version_policy { all {} } }
          config { name: "gmvae" base_path: "/m/gmvae" model_version_policy { specific { versions: 3 versions: 1 } } }
          config { name: "vae1d" base_path: "/m/vae1d" }
        }"""
    )
    got = {c.name: c for c in config.read_config_file(path)}
    assert got["dvae"].policy.choose([1, 2, 3]) == [2, 3]
    assert got["ae1d"].policy.choose([1, 2, 3]) == [1, 2, 3]
    assert got["gmvae"].policy.choose([1, 2, 4]) == [1]
    assert got["vae1d"].policy.choose([1, 2, 3]) == [3]  # TF Serving's default: latest 1
    assert str(got["dvae"].base_path) == "/m/dvae"


@pytest.mark.parametrize(
    "text, words",
    [
        (
            "model_config_list { config { name: 'a' base_path: '/x' } config { name: 'a' base_path: '/y' } }",
            "two models",
        ),
        ("model_config_list { config { name: 'a' } }", "base_path"),
        ("not a config", "ModelServerConfig"),
        ("model_config_list { config { name: 'a' base_path: '/x' model_platform: 'pytorch' } }", "pytorch"),
    ],
)
def test_bad_config_files_are_refused(tmp_path, text, words):
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(DataError, match=words):
        config.read_config_file(path)


def test_command_writes_a_config_for_every_model(tmp_path):
    for d in ("dvae/1", "dvae/2", "ae1d/4", ".runs/x/1", "empty"):
        (tmp_path / "exported" / d).mkdir(parents=True)
    out = tmp_path / "models.config"
    argv = [
        "--export-dir",
        str(tmp_path / "exported"),
        "--out",
        str(out),
        "--latest",
        "2",
        "--container-base",
        "/models",
    ]
    assert config.main(argv) == 0
    proto = text_format.Parse(out.read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {c.name: c for c in proto.model_config_list.config}
    assert sorted(entries) == ["ae1d", "dvae"]
    assert entries["dvae"].base_path == "/models/dvae" and entries["dvae"].model_platform == "tensorflow"
    assert entries["dvae"].model_version_policy.latest.num_versions == 2
    assert [c.name for c in config.read_config_file(out)] == ["ae1d", "dvae"]
    assert config.main(["--export-dir", str(tmp_path / "exported" / "empty"), "--out", str(out)]) == 2


def test_version_labels_are_read_and_written(tmp_path):
    """model_server_config.proto: ModelConfig.version_labels maps a label to a version (read and written back)."""
    path = tmp_path / "models.config"
    path.write_text(
        'model_config_list { config { name: "dvae" base_path: "/m/dvae" model_version_policy { all {} } '
        'version_labels { key: "stable" value: 2 } version_labels { key: "canary" value: 3 } } }'
    )
    (got,) = config.read_config_file(path)
    assert got.labels == (("canary", 3), ("stable", 2))
    again = tmp_path / "again.config"
    again.write_text(config.to_text([got]))
    assert config.read_config_file(again) == [got]


def test_batching_parameters_file_is_read_as_tf_serving_reads_it(tmp_path):
    """servables/tensorflow/session_bundle_config.proto, BatchingParameters: wrapper fields
    (max_batch_size { value: N }), allowed_batch_sizes, pad_variable_length_inputs; deploy/batching.config
    is the file both servers read."""
    import pathlib

    deploy = pathlib.Path(__file__).parents[2] / "deploy" / "batching.config"
    assert config.read_batching_parameters(deploy) == {
        "max_batch_size": 256,
        "batch_timeout_micros": 1000,
        "num_batch_threads": 2,
        "max_enqueued_batches": 1000,
        "pad_variable_length_inputs": True,
    }
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 32 } allowed_batch_sizes: 8 allowed_batch_sizes: 32\n"
        'thread_pool_name { value: "pool" } enable_large_batch_splitting { value: true }'
    )
    got = config.read_batching_parameters(path)
    assert got["max_batch_size"] == 32 and got["allowed_batch_sizes"] == [8, 32] and got["thread_pool_name"] == "pool"
    for text, words in [
        ("max_batch_size: 32", "not a text-format BatchingParameters"),  # a wrapper needs { value: }
        ("batch_size { value: 3 }", "not a text-format BatchingParameters"),
        ("num_batch_threads { value: 0 }", "num_batch_threads must be at least 1"),
    ]:
        path.write_text(text)
        with pytest.raises(DataError, match=words):
            config.read_batching_parameters(path)
