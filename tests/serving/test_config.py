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
