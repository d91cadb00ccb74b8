"""Request values to checked numpy arrays and results back, for REST JSON and gRPC ``TensorProto``.

REST (TF Serving's JSON API): ``{"instances": [...]}`` is the row format, a list with one entry
per row (a bare value when the signature has one input, else an object keyed by input name);
``{"inputs": ...}`` is the columnar format, a value (one input) or an object of named values,
each with the batch as its first axis. Rows come back as ``{"predictions": [...]}``, columns as
``{"outputs": ...}``; with one output the values are bare, with several they are keyed by name.

Request bodies are parsed as TF Serving's ``json_tensor.cc`` parses them (rapidjson with
``kParseNanAndInfFlag``): ``NaN``, ``Infinity`` and ``-Infinity`` are numbers. Before parsing, the
nesting depth of arrays and objects is bounded (``MAX_DEPTH``), so a hostile body cannot exhaust
the parser's recursion. Outputs are written the same way: a NaN or infinite output is ``NaN``,
``Infinity`` or ``-Infinity`` (never ``null``).

Every value is checked before a graph sees it: numbers only (``null``, strings, booleans and
ragged lists are rejected), integral for integer inputs, and of the rank and fixed dimensions of
the signature. Non-finite values of float inputs (``NaN``, ``Infinity``, and numbers that overflow
the input's dtype, such as ``1e999`` or ``1e300`` for float32) are refused with a 400 naming the
input, for every model: no input of any tagger here has a meaning for them, and a NaN score is
never an answer (TF Serving passes them to the graph; see the README's serving section).

``TensorProto`` values (gRPC) are checked against their payload before anything is allocated:
``tensor_content`` must hold exactly the declared shape's bytes, and a declared shape larger than
``MAX_TENSOR_BYTES`` is refused, so a tiny message cannot make the server allocate terabytes.
"""

import json
import re

import numpy as np

from serving.errors import invalid

MAX_DEPTH = 64  # nesting of arrays and objects in a REST body; any signature here needs at most 5
MAX_TENSOR_BYTES = 512 * 1024 * 1024  # the most one TensorProto may declare (the gRPC message limit)

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b'[]{}"')
_ESCAPE = re.compile(rb"\\.", re.DOTALL)  # a backslash and the character it escapes
_STEP = np.zeros(256, np.int32)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def nesting_depth(body):
    """The deepest nesting of arrays and objects in JSON `body` (bytes), brackets in strings not counted.

    Linear and without recursion: escapes are dropped, then everything but brackets and quotes,
    and the depth is a cumulative sum outside strings (about 2 ms per MB).
    """
    if b"\\" in body:
        body = _ESCAPE.sub(b"", body)
    arr = np.frombuffer(body.translate(None, _NOT_BRACKETS), np.uint8)
    if not arr.size:
        return 0
    step = _STEP[arr]
    quotes = arr == ord('"')
    if quotes.any():
        step[np.cumsum(quotes) % 2 == 1] = 0  # inside a string
    return int(np.cumsum(step).max())


def parse_json(body, max_depth=MAX_DEPTH):
    """The request object of a REST body; malformed or too deeply nested JSON is INVALID_ARGUMENT."""
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    if body.count(b"[") + body.count(b"{") > max_depth:  # only then can it be too deep
        depth = nesting_depth(body)
        if depth > max_depth:
            raise invalid(
                f"JSON Parse error: arrays and objects nested {depth} deep; this server accepts at most {max_depth}"
            )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("JSON Parse error: the body is not UTF-8") from None
    try:
        value = json.loads(text)  # NaN, Infinity, -Infinity are numbers, as with kParseNanAndInfFlag
    except json.JSONDecodeError as err:
        raise invalid(f"JSON Parse error: {err.msg} at offset: {err.pos}") from None
    except RecursionError:  # not reached after the depth bound; kept so that nothing escapes as a crash
        raise invalid("JSON Parse error: nested too deeply") from None
    if not isinstance(value, dict):
        raise invalid("JSON Value not an object")
    return value


def check_array(value, spec, name):
    """A numpy array of `value` (nested lists or an array) for input `name` of TensorSpec `spec`.

    Raises:
        ServingError INVALID_ARGUMENT naming the input and what is wrong.
    """
    dtype = np.dtype(spec.dtype.as_numpy_dtype)
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except ValueError:
            raise invalid(f"input '{name}': ragged list (rows of different lengths)") from None
    if arr.dtype == object:
        if _contains(value, lambda v: v is None):
            raise invalid(f"input '{name}': null is not a number")
        raise invalid(f"input '{name}': ragged list or mixed value types")
    if arr.dtype.kind in "USa":
        raise invalid(f"input '{name}': strings are not accepted for a {spec.dtype.name} input")
    if arr.dtype.kind == "b" and dtype.kind != "b":
        raise invalid(f"input '{name}': booleans are not accepted for a {spec.dtype.name} input")
    if arr.dtype.kind not in "biuf":
        raise invalid(f"input '{name}': values of type {arr.dtype} are not numbers")
    if dtype.kind in "iu":
        if arr.dtype != dtype:  # values of another type must fit (a TensorProto's already do)
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
                raise invalid(f"input '{name}': {spec.dtype.name} input needs integers")
            info = np.iinfo(dtype)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise invalid(f"input '{name}': value out of range for {spec.dtype.name}")
            arr = arr.astype(dtype)
    elif dtype.kind == "f":
        if arr.dtype != dtype:
            with np.errstate(over="ignore", invalid="ignore"):
                arr = arr.astype(dtype)
        # min and max propagate NaN and show ±inf: two passes, no temporary array
        if arr.size and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
            raise invalid(f"input '{name}': NaN or infinite values (or a number too large for {spec.dtype.name})")
    else:
        arr = arr.astype(dtype, copy=False)
    check_shape(arr.shape, spec, name)
    return arr


def check_shape(shape, spec, name):
    want = spec.shape
    if want.rank is None:
        return
    if len(shape) != want.rank:
        raise invalid(
            f"input '{name}': expected rank {want.rank} (shape {_shape_text(want)}) but got shape {list(shape)}"
        )
    for got, dim in zip(shape, want.as_list()):
        if dim is not None and got != dim:
            raise invalid(f"input '{name}': expected shape {_shape_text(want)} but got {list(shape)}")


def _shape_text(shape):
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape.as_list()) + "]"


def _contains(value, pred):
    if isinstance(value, list):
        return any(_contains(v, pred) for v in value)
    return pred(value)


def rest_inputs(body, input_specs):
    """({input name: array}, row_format) from a REST predict body and the signature's input specs."""
    names = list(input_specs)
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows == has_cols:
        raise invalid(
            "Missing 'inputs' or 'instances' key"
            if not has_rows
            else "Not both 'inputs' and 'instances' may be set; use one of them"
        )
    if has_rows:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise invalid("Expecting 'instances' to be an list/array (one entry per row)")
        if not rows:  # json_tensor.cc: the row format needs a row (the columnar one may be empty)
            raise invalid("No values in 'instances' array")
        if all(isinstance(r, dict) for r in rows):
            for i, r in enumerate(rows):
                if set(r) != set(names):
                    raise invalid(f"instance {i} has inputs {sorted(r)} but the signature takes {sorted(names)}")
            values = {n: [r[n] for r in rows] for n in names}
        elif any(isinstance(r, dict) for r in rows):
            raise invalid("'instances' mixes objects and bare values")
        elif len(names) == 1:
            values = {names[0]: rows}
        else:
            raise invalid(f"the signature takes several inputs {sorted(names)}: each instance must be an object")
        arrays = {n: check_array(values[n], input_specs[n], n) for n in names}
        return arrays, True
    cols = body["inputs"]
    if isinstance(cols, dict):
        unknown = sorted(set(cols) - set(names))
        missing = sorted(set(names) - set(cols))
        if unknown or missing:
            raise invalid(f"'inputs' has {sorted(cols)} but the signature takes {sorted(names)}")
        values = cols
    elif len(names) == 1:
        values = {names[0]: cols}
    else:
        raise invalid(f"the signature takes several inputs {sorted(names)}: 'inputs' must be an object")
    arrays = {n: check_array(values[n], input_specs[n], n) for n in names}
    return arrays, False


def check_batch(arrays):
    """All inputs must agree on the batch size (their first dimension); returns it."""
    sizes = {n: (a.shape[0] if a.ndim else None) for n, a in arrays.items()}
    distinct = set(sizes.values())
    if None in distinct:
        return None
    if len(distinct) > 1:
        raise invalid(f"inputs have different batch sizes (first dimension): {sizes}")
    return distinct.pop()


def _json_safe(arr):
    """Nested lists of an output; NaN and ±inf stay floats, which json.dumps writes NaN / Infinity /
    -Infinity, the tokens json_tensor.cc writes (the VRNN event score is -inf for an event without jets)."""
    arr = np.asarray(arr)
    if arr.dtype.kind in "SO":
        arr = np.vectorize(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v, otypes=[object])(arr)
    return arr.tolist()


def rest_outputs(outputs, row_format):
    """The REST response object for {output name: array}."""
    names = list(outputs)
    if row_format:
        if len(names) == 1:
            return {"predictions": _json_safe(outputs[names[0]])}
        lists = {n: _json_safe(v) for n, v in outputs.items()}
        n_rows = len(next(iter(lists.values())))
        return {"predictions": [{n: lists[n][i] for n in names} for i in range(n_rows)]}
    if len(names) == 1:
        return {"outputs": _json_safe(outputs[names[0]])}
    return {"outputs": {n: _json_safe(v) for n, v in outputs.items()}}


# TensorProto's typed value field for each DataType enum (tensorflow/core/framework/tensor.proto),
# as Tensor::FromProto reads it and Tensor::AsProtoField writes it; other dtypes (strings, half,
# complex, quantized) go through TensorFlow's own converters.
_DT = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "int64": 9, "bool": 10}
_DT.update({"uint16": 17, "uint32": 22, "uint64": 23})
_FIELDS = {
    1: ("float_val", np.float32),
    2: ("double_val", np.float64),
    3: ("int_val", np.int32),
    4: ("int_val", np.uint8),
    5: ("int_val", np.int16),
    6: ("int_val", np.int8),
    9: ("int64_val", np.int64),
    10: ("bool_val", np.bool_),
    17: ("int_val", np.uint16),
    22: ("uint32_val", np.uint32),
    23: ("uint64_val", np.uint64),
}


# typed fields of the other numeric dtypes, and the numpy view that gives their values
_BITS = {
    "float16": ("half_val", np.uint16),
    "bfloat16": ("half_val", np.uint16),
    "complex64": ("scomplex_val", np.float32),
    "complex128": ("dcomplex_val", np.float64),
}


def check_declared_size(proto, shape, name, limit=MAX_TENSOR_BYTES):
    """Refuse a TensorProto whose declared shape does not fit its payload, before any allocation.

    ``tensor_content`` must hold exactly the declared bytes; typed fields may hold fewer values
    (TensorFlow repeats the last), but the declared size may not pass `limit` bytes: a message
    cannot make the server allocate more than a message may carry. Sizes are Python integers,
    so a product of huge dimensions cannot wrap around.
    """
    count = 1
    for d in shape:
        count *= int(d)
    itemsize = np.dtype(_FIELDS[proto.dtype][1]).itemsize if proto.dtype in _FIELDS else 8
    declared = count * itemsize
    if proto.tensor_content:
        if len(proto.tensor_content) != declared and proto.dtype in _FIELDS:
            raise invalid(
                f"input '{name}': malformed TensorProto (tensor_content has {len(proto.tensor_content)} bytes, "
                f"shape {shape} needs {declared})"
            )
    if declared > limit:
        raise invalid(
            f"input '{name}': TensorProto declares shape {shape} ({count} values, {declared} bytes), over the "
            f"server's limit of {limit} bytes per tensor (the message carries {proto.ByteSize()} bytes)"
        )
    return count


def proto_array(proto, name="tensor"):
    """The numpy array of a TensorProto, decoded as ``Tensor::FromProto`` does.

    ``tensor_content`` must hold exactly the shape's bytes (the array is a read-only view of them,
    no copy); typed fields (``float_val``, ``int_val``, ...) may hold fewer values than the shape,
    the last one then repeats (none at all: zeros), as in TensorFlow. ``np.array`` reads a
    repeated field through its buffer (150k floats: 35 µs, where ``tf.make_ndarray``'s
    ``np.fromiter`` takes 4 ms).

    Raises:
        ServingError INVALID_ARGUMENT for a negative dimension or a size that does not match.
    """
    shape = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in shape):
        raise invalid(f"input '{name}': malformed TensorProto (negative dimension in shape {shape})")
    check_declared_size(proto, shape, name)
    field = _FIELDS.get(proto.dtype)
    if field is None:
        import tensorflow as tf

        try:
            return tf.make_ndarray(proto)
        except (ValueError, TypeError) as err:
            raise invalid(f"input '{name}': malformed TensorProto ({err})") from None
    attr, dtype = field
    count = int(np.prod(shape, dtype=np.int64))  # fits: check_declared_size bounded it
    content = proto.tensor_content
    if content:
        want = count * np.dtype(dtype).itemsize
        if len(content) != want:
            raise invalid(
                f"input '{name}': malformed TensorProto (tensor_content has {len(content)} bytes, "
                f"shape {shape} of {np.dtype(dtype).name} needs {want})"
            )
        return np.frombuffer(content, dtype).reshape(shape)
    values = np.array(getattr(proto, attr), dtype)
    if values.size == count:
        return values.reshape(shape)
    if values.size == 0:
        return np.zeros(shape, dtype)
    if values.size < count:
        return np.concatenate([values, np.full(count - values.size, values[-1], dtype)]).reshape(shape)
    raise invalid(f"input '{name}': malformed TensorProto ({values.size} values for shape {shape})")


def proto_inputs(proto_map, input_specs):
    """{input name: array} from a PredictRequest's inputs map; dtypes must match the signature.

    ``tensor_content`` and typed fields (``float_val``, ``int_val``, ...) are both accepted, as
    by ``tensorflow_model_server``.
    """
    unknown = sorted(set(proto_map) - set(input_specs))
    missing = sorted(set(input_specs) - set(proto_map))
    if unknown or missing:
        raise invalid(f"request has inputs {sorted(proto_map)} but the signature takes {sorted(input_specs)}")
    arrays = {}
    for name, spec in input_specs.items():
        proto = proto_map[name]
        if proto.dtype != spec.dtype.as_datatype_enum:
            import tensorflow as tf

            got = tf.dtypes.as_dtype(proto.dtype).name if proto.dtype else "an invalid dtype"
            raise invalid(f"input '{name}': expects {spec.dtype.name} but {got} is provided")
        arrays[name] = check_array(proto_array(proto, name), spec, name)
    return arrays


def _datatype(dtype):
    enum = _DT.get(dtype.name)
    if enum is None:
        import tensorflow as tf

        enum = tf.dtypes.as_dtype(dtype).as_datatype_enum
    return enum


def tensor_proto(value, proto=None, content=False):
    """Fill `proto` (a new TensorProto if None) with `value`; returns it.

    ``content=False`` writes the typed field (``float_val``, ``int_val``, ...) the way
    ``Tensor::AsProtoField`` does, which is how ``tensorflow_model_server`` fills Predict outputs
    (``ServerCore::Options::predict_response_tensor_serialization_option`` defaults to
    ``kAsProtoField``). ``content=True`` writes the raw bytes to ``tensor_content``, as
    ``tf.make_tensor_proto`` does for a numpy array (what clients send).
    """
    from tensorflow.core.framework import tensor_pb2

    arr = np.asarray(value)
    if proto is None:
        proto = tensor_pb2.TensorProto()
    field = _FIELDS.get(_DT.get(arr.dtype.name))
    bits = _BITS.get(arr.dtype.name)
    if field is None and (content or bits is None):  # strings (string_val either way), or raw bytes
        import tensorflow as tf

        proto.CopyFrom(tf.make_tensor_proto(arr))
        return proto
    proto.dtype = _datatype(arr.dtype)
    dims = proto.tensor_shape.dim
    for d in arr.shape:
        dims.add().size = d
    if content:
        proto.tensor_content = np.ascontiguousarray(arr).tobytes()
    elif field is not None:
        getattr(proto, field[0]).extend(arr.ravel().tolist())
    else:  # half and bfloat16 as their 16 bits, complex numbers as (real, imaginary) pairs
        attr, view = bits
        getattr(proto, attr).extend(np.ascontiguousarray(arr).view(view).ravel().tolist())
    return proto


def proto_outputs(outputs, response_map):
    """Fill a PredictResponse's outputs map from {output name: array}, as TF Serving does (typed fields)."""
    for name, value in outputs.items():
        tensor_proto(value, response_map[name])
