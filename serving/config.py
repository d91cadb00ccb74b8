"""Which models to serve: ``ModelServerConfig`` text files (TF Serving's ``--model_config_file``).

    python -m serving.config --export-dir exported --out models.config [--latest 2 | --all]
        [--container-base /models]

writes one ``config { name base_path model_platform model_version_policy }`` per model folder of
an export base (a folder holding integer version folders), so that
``tensorflow_model_server --model_config_file=models.config`` (or ``python -m serving``)
serves every model. ``--container-base`` rewrites the base paths for a container that mounts
the export base there (the official Docker image reads ``/models``).

Version policies: ``latest { num_versions: N }`` (TF Serving's default, N = 1), ``all {}``,
``specific { versions: 1 versions: 3 }``; ``version_labels { key: "stable" value: 2 }`` names versions.

``read_batching_parameters`` reads TF Serving's ``--batching_parameters_file`` (text-format
``BatchingParameters``).
"""

import dataclasses
import pathlib
import sys

from preprocessing.cli import CommandParser, check_output_file, integer
from preprocessing.errors import DataError, run_command


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """kind: 'latest' (num_versions newest), 'all', or 'specific' (versions)."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple = ()

    def choose(self, available):
        """The versions to serve among the sorted complete `available` versions."""
        if self.kind == "all":
            return list(available)
        if self.kind == "specific":
            return [v for v in available if v in set(self.versions)]
        return list(available)[-self.num_versions :]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One ``config { }`` entry: `labels` are ``version_labels`` as sorted (label, version) pairs."""

    name: str
    base_path: pathlib.Path
    policy: VersionPolicy = VersionPolicy()
    labels: tuple = ()


def _policy_from_proto(proto, where):
    which = proto.WhichOneof("policy_choice")
    if which is None or which == "latest":
        n = proto.latest.num_versions if which else 1
        if which and n < 1:
            raise DataError(f"{where}: latest {{ num_versions }} must be at least 1")
        return VersionPolicy("latest", num_versions=n or 1)
    if which == "all":
        return VersionPolicy("all")
    versions = tuple(sorted(set(proto.specific.versions)))
    if not versions:
        raise DataError(f"{where}: specific {{ }} names no versions")
    return VersionPolicy("specific", versions=versions)


def check_unique(configs):
    """Refuse two models with one name: one would hide the other."""
    seen = {}
    for c in configs:
        if c.name in seen:
            raise DataError(
                f"two models are named {c.name!r} ({seen[c.name]} and {c.base_path}); model names must be unique"
            )
        if not c.name or "/" in c.name or ":" in c.name:
            raise DataError(f"model name {c.name!r}: must be non-empty without '/' or ':'")
        seen[c.name] = c.base_path
    return configs


def read_config_file(path):
    """[ModelConfig] of a text-format ModelServerConfig file; a DataError names the file and the problem."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError(f"--model_config_file {path}: no such file")
    proto = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(path.read_text(), proto)
    except text_format.ParseError as err:
        raise DataError(f"--model_config_file {path}: not a text-format ModelServerConfig ({err})") from None
    return configs_from_proto(proto, f"--model_config_file {path}")


def configs_from_proto(proto, where_text):
    """[ModelConfig] of a ModelServerConfig message; a DataError starts with `where_text`."""
    if proto.WhichOneof("config") != "model_config_list" or not proto.model_config_list.config:
        raise DataError(f"{where_text}: no model_config_list {{ config {{ ... }} }}")
    configs = []
    for c in proto.model_config_list.config:
        where = f"{where_text}: model {c.name!r}"
        if c.model_platform and c.model_platform != "tensorflow":
            raise DataError(f"{where}: model_platform {c.model_platform!r} is not supported (only 'tensorflow')")
        if not c.base_path:
            raise DataError(f"{where}: no base_path")
        for label, version in c.version_labels.items():
            if not label or version < 0:
                raise DataError(f"{where}: version_labels {{ key: {label!r} value: {version} }} is not a label")
        configs.append(
            ModelConfig(
                c.name,
                pathlib.Path(c.base_path),
                _policy_from_proto(c.model_version_policy, where),
                tuple(sorted(c.version_labels.items())),
            )
        )
    return check_unique(configs)


def to_text(configs, base_path_of=None):
    """Text-format ModelServerConfig for [ModelConfig] (`base_path_of` rewrites each base path)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    proto = model_server_config_pb2.ModelServerConfig()
    for c in configs:
        entry = proto.model_config_list.config.add()
        entry.name = c.name
        entry.base_path = str(base_path_of(c) if base_path_of else c.base_path)
        entry.model_platform = "tensorflow"
        if c.policy.kind == "all":
            entry.model_version_policy.all.SetInParent()
        elif c.policy.kind == "specific":
            entry.model_version_policy.specific.versions.extend(c.policy.versions)
        else:
            entry.model_version_policy.latest.num_versions = c.policy.num_versions
        for label, version in c.labels:
            entry.version_labels[label] = version
    return text_format.MessageToString(proto)


# BatchingParameters of tensorflow_serving/servables/tensorflow/session_bundle_config.proto (field numbers
# and types as published there); tensorflow-serving-api ships no Python module for it, so the message is
# declared here and the file read with protobuf's own text-format parser.
_BATCHING_FIELDS = (
    ("max_batch_size", 1, "Int64Value"),
    ("batch_timeout_micros", 2, "Int64Value"),
    ("max_enqueued_batches", 3, "Int64Value"),
    ("num_batch_threads", 4, "Int64Value"),
    ("thread_pool_name", 5, "StringValue"),
    ("allowed_batch_sizes", 6, "repeated int64"),
    ("pad_variable_length_inputs", 7, "bool"),
    ("enable_large_batch_splitting", 8, "BoolValue"),
    ("max_execution_batch_size", 9, "Int64Value"),
)
_BATCHING_CLASS = []


def _batching_message():
    """A fresh BatchingParameters message (the class is built once)."""
    if not _BATCHING_CLASS:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

        pool = descriptor_pool.DescriptorPool()
        wrappers = descriptor_pb2.FileDescriptorProto()
        wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
        pool.Add(wrappers)
        f = descriptor_pb2.FileDescriptorProto(
            name="serving_batching_parameters.proto",
            package="tensorflow.serving",
            syntax="proto3",
            dependency=[wrappers.name],
        )
        msg = f.message_type.add(name="BatchingParameters")
        field_type = descriptor_pb2.FieldDescriptorProto
        for name, number, kind in _BATCHING_FIELDS:
            field = msg.field.add(name=name, number=number)
            if kind == "repeated int64":
                field.label, field.type = field_type.LABEL_REPEATED, field_type.TYPE_INT64
            elif kind == "bool":
                field.label, field.type = field_type.LABEL_OPTIONAL, field_type.TYPE_BOOL
            else:
                field.label, field.type = field_type.LABEL_OPTIONAL, field_type.TYPE_MESSAGE
                field.type_name = f".google.protobuf.{kind}"
        pool.Add(f)
        _BATCHING_CLASS.append(
            message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))
        )
    return _BATCHING_CLASS[0]()


def read_batching_parameters(path):
    """{field: value} of a text-format BatchingParameters file (``--batching_parameters_file``).

    Only the fields the file sets are returned (wrapper fields unwrapped); a DataError names the
    file and the problem. ``deploy/batching.config`` is read by both servers unchanged.
    """
    from google.protobuf import text_format

    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError(f"--batching_parameters_file {path}: no such file")
    proto = _batching_message()
    try:
        text_format.Parse(path.read_text(), proto)
    except text_format.ParseError as err:
        raise DataError(f"--batching_parameters_file {path}: not a text-format BatchingParameters ({err})") from None
    out = {}
    for field, value in proto.ListFields():
        if field.name == "allowed_batch_sizes":
            out[field.name] = list(value)
        elif field.message_type is not None:
            out[field.name] = value.value
        else:
            out[field.name] = value
    for name in ("max_batch_size", "num_batch_threads", "max_enqueued_batches"):
        if name in out and out[name] < 1:
            raise DataError(f"--batching_parameters_file {path}: {name} must be at least 1, got {out[name]}")
    if out.get("batch_timeout_micros", 0) < 0:
        raise DataError(f"--batching_parameters_file {path}: batch_timeout_micros must not be negative")
    return out


def models_in(export_dir, policy=VersionPolicy()):
    """[ModelConfig] for every model folder (one with integer versions) of an export base, by name."""
    from training.export import versions

    export_dir = pathlib.Path(export_dir)
    found = [
        ModelConfig(p.name, p.resolve(), policy)
        for p in sorted(export_dir.iterdir())
        if p.is_dir() and not p.name.startswith(".") and versions(p)
    ]
    if not found:
        raise DataError(f"--export-dir {export_dir}: no model folders with integer versions")
    return found


def main(argv=None):
    parser = CommandParser(prog="python -m serving.config", description=__doc__)
    parser.add_argument("--export-dir", required=True, help="export base: <export-dir>/<model>/<version>/")
    parser.add_argument("--out", required=True, help="models.config to write")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--latest", type=integer(1), default=1, help="serve the N newest versions (default 1)")
    group.add_argument("--all", action="store_true", help="serve every version")
    parser.add_argument(
        "--container-base", help="base path of the export folder inside the server's container (e.g. /models)"
    )
    args = parser.parse_args(argv)
    return run_command(run, args)


def run(args):
    import os

    from preprocessing.samples.format import atomic_path

    export_dir = pathlib.Path(args.export_dir)
    if not export_dir.is_dir():
        raise DataError(f"--export-dir {export_dir}: no such folder")
    check_output_file(args.out, "--out", [])
    policy = VersionPolicy("all") if args.all else VersionPolicy("latest", num_versions=args.latest)
    configs = models_in(export_dir, policy)
    rewrite = (lambda c: f"{args.container_base.rstrip('/')}/{c.name}") if args.container_base else None
    tmp = atomic_path(args.out)
    try:
        tmp.write_text(to_text(configs, rewrite))
        os.replace(tmp, args.out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    print(f"wrote {args.out}: {', '.join(c.name for c in configs)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
