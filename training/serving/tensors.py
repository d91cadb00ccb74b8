"""Request values to checked numpy arrays and results back, for REST JSON and gRPC ``TensorProto``.

REST (TF Serving's JSON API): ``{"instances": [...]}`` is the row format, a list with one entry
per row (a bare value when the signature has one input, else an object keyed by input name);
``{"inputs": ...}`` is the columnar format, a value (one input) or an object of named values,
each with the batch as its first axis. Rows come back as ``{"predictions": [...]}``, columns as
``{"outputs": ...}``; with one output the values are bare, with several they are keyed by name.

Every value is checked before a graph sees it: numbers only (``null``, strings, booleans and
ragged lists are rejected), finite (``NaN``/``Infinity`` are not JSON, and a number that
overflows the input's dtype is rejected too), integral for integer inputs, and of the rank and
fixed dimensions of the signature.
"""

import json

import numpy as np

from training.serving.errors import invalid


def _reject_constant(name):
    raise invalid(f"JSON Parse error: {name} is not a valid JSON value (non-finite numbers are not accepted)")


def parse_json(body):
    """The request object of a REST body; malformed JSON and NaN/Infinity are INVALID_ARGUMENT."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("JSON Parse error: the body is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise invalid(f"JSON Parse error: {err.msg} at offset: {err.pos}") from None
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
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise invalid(f"input '{name}': {spec.dtype.name} input needs integers")
        info = np.iinfo(dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise invalid(f"input '{name}': value out of range for {spec.dtype.name}")
        arr = arr.astype(dtype)
    elif dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            arr = arr.astype(dtype)
        if not np.all(np.isfinite(arr)):
            raise invalid(f"input '{name}': NaN or infinite values (or a number too large for {spec.dtype.name})")
    else:
        arr = arr.astype(dtype)
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
        if not isinstance(rows, list) or not rows:
            raise invalid("'instances' must be a non-empty list (one entry per row)")
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
    arr = np.asarray(arr)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        arr = np.where(np.isfinite(arr), arr, None)  # JSON has no NaN; a non-finite output is null
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


def proto_inputs(proto_map, input_specs):
    """{input name: array} from a PredictRequest's inputs map; dtypes must match the signature."""
    import tensorflow as tf

    unknown = sorted(set(proto_map) - set(input_specs))
    missing = sorted(set(input_specs) - set(proto_map))
    if unknown or missing:
        raise invalid(f"request has inputs {sorted(proto_map)} but the signature takes {sorted(input_specs)}")
    arrays = {}
    for name, spec in input_specs.items():
        proto = proto_map[name]
        if proto.dtype != spec.dtype.as_datatype_enum:
            got = tf.dtypes.as_dtype(proto.dtype).name if proto.dtype else "an invalid dtype"
            raise invalid(f"input '{name}': expects {spec.dtype.name} but {got} is provided")
        try:
            arr = tf.make_ndarray(proto)
        except (ValueError, TypeError) as err:
            raise invalid(f"input '{name}': malformed TensorProto ({err})") from None
        arrays[name] = check_array(arr, spec, name)
    return arrays


def proto_outputs(outputs, response_map):
    """Fill a PredictResponse's outputs map from {output name: array}."""
    import tensorflow as tf

    for name, value in outputs.items():
        response_map[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
