"""The Open Inference Protocol (KServe's V2, also Triton's and MLServer's) over the data plane.

Pure mapping, no Ray and no I/O, so it is tested without a cluster. Both adapters come
down to the same steps: REST JSON (and Triton's binary-tensor extension) and gRPC messages
(``contents`` or ``raw_input_contents``) are read into :class:`Tensor` values, which
:func:`columns_of` checks against the model's inputs (names, datatypes, shapes, lengths:
every problem at once, before the model runs) and turns into the columns the
:class:`~ferry_platform.serving._dataplane.DataPlane` validates value by value exactly as
for Ferry's own predict. Answers are built back into V2 outputs here too.

Inputs: one tensor per column (shape ``[N]`` or ``[N, 1]``), or, when every input of the
model has the same type, one 2-D tensor ``[N, k]`` in the signature's column order.
Outputs: ``predictions`` ``[N]``; ``probabilities`` ``[N, C]`` (FP64) and ``classes``
``[C]`` when asked for (a classifier only).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ferry_contract import ColumnSpec, FerryError, InvalidInput, InvalidRequest, NotFound

PREDICTIONS, PROBABILITIES, CLASSES = "predictions", "probabilities", "classes"
OUTPUTS = (PREDICTIONS, PROBABILITIES, CLASSES)
BINARY_HEADER = "inference-header-content-length"
"""Triton's binary-tensor extension: the JSON part's length; tensors' bytes follow it."""

DATATYPE = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32",
            "boolean": "BOOL", "string": "BYTES", "binary": "BYTES", "datetime": "BYTES"}
"""The V2 datatype of each signature type (what metadata advertises)."""
_NUMBERS = frozenset({"FP64", "FP32", "INT64", "INT32"})
ACCEPTS = {"double": _NUMBERS, "float": _NUMBERS, "long": frozenset({"INT64", "INT32"}),
           "integer": frozenset({"INT32", "INT64"}), "boolean": frozenset({"BOOL"})}
"""Datatypes a column accepts (values are range-checked by the data plane, as in Ferry's
own predict); any other signature type takes BYTES."""
_RAW = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4", "BOOL": "?"}
_ITEM = {"FP64": 8, "FP32": 4, "INT64": 8, "INT32": 4, "BOOL": 1}
_KNOWN = frozenset({*_RAW, "BYTES"})
_GRPC_CONTENTS = {"FP64": "fp64_contents", "FP32": "fp32_contents", "INT64": "int64_contents",
                  "INT32": "int_contents", "BOOL": "bool_contents", "BYTES": "bytes_contents"}
_MAX_DIMS = 2


def accepts(spec: ColumnSpec) -> frozenset[str]:
    return ACCEPTS.get(spec.type, frozenset({"BYTES"}))


def datatype_of(spec: ColumnSpec) -> str:
    return DATATYPE.get(spec.type, "BYTES")


@dataclass(frozen=True)
class Tensor:
    """One input tensor as sent: values flat, row-major (None: not read yet)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: list[Any]


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _inputs_text(columns: Sequence[ColumnSpec]) -> str:
    return ", ".join(f"{c.name} ({datatype_of(c)})" for c in columns)


def _invalid(problems: list[str], columns: Sequence[ColumnSpec], name: str) -> InvalidInput:
    shown = "; ".join(problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    return InvalidInput(
        f"the inputs do not match model {name!r}: {shown}{more}. Send one tensor per input, "
        f"shape [N] or [N, 1]: {_inputs_text(columns)} (GET /v2/models/{name} lists them).",
        details={"problems": problems[:100],
                 "inputs": [{"name": c.name, "datatype": datatype_of(c)} for c in columns]})


# -- reading tensors ----------------------------------------------------------------------
def _shape(raw: Any, where: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not raw or len(raw) > _MAX_DIMS or not all(
            type(d) is int and 0 <= d for d in raw):
        raise InvalidRequest(f"{where}: 'shape' must be a list of 1 or 2 non-negative "
                             f"integers ([N] or [N, k]), got {_short(raw)}")
    return tuple(raw)


def _flat(data: Any, shape: tuple[int, ...], where: str) -> list[Any]:
    """JSON ``data``: flat, or nested as the shape says (one level for [N, k])."""
    if not isinstance(data, list):
        raise InvalidRequest(f"{where}: 'data' must be a list of values, got "
                             f"{type(data).__name__}")
    if data and isinstance(data[0], list):
        if len(shape) != 2 or not all(isinstance(r, list) and len(r) == shape[1] for r in data):
            raise InvalidRequest(f"{where}: nested 'data' must be {shape[0]} rows of "
                                 f"{shape[-1]} values for shape {list(shape)}; or send it flat")
        return [v for row in data for v in row]
    return data


def tensors_from_json(payload: Any, binary: bytes = b"") -> tuple[list[Tensor], list[str],
                                                                   str | None]:
    """(input tensors, requested output names, request id) of a V2 REST body. ``binary``:
    the bytes after the JSON part (Triton's binary-tensor extension)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list) \
            or not payload["inputs"]:
        raise InvalidRequest('body must be a V2 inference request: {"inputs": [{"name": ..., '
                             '"datatype": ..., "shape": [N], "data": [...]}, ...]}')
    extra = set(payload) - {"inputs", "outputs", "parameters", "id"}
    if extra:
        raise InvalidRequest(f"unexpected top-level keys {sorted(_short(k) for k in extra)[:10]}"
                             "; a V2 request has inputs, outputs, parameters and id")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidRequest(f"'id' must be a string, got {_short(request_id)}")
    tensors: list[Tensor] = []
    offset = 0
    for i, item in enumerate(payload["inputs"]):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or not isinstance(item.get("datatype"), str):
            raise InvalidRequest(f"inputs[{i}] must be an object with name, datatype, shape "
                                 "and data")
        where = f"input {_short(item['name'])!r}"
        shape = _shape(item.get("shape"), where)
        datatype = item["datatype"]
        size = (item.get("parameters") or {}).get("binary_data_size") \
            if isinstance(item.get("parameters"), dict) else None
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise InvalidRequest(f"{where}: binary_data_size {_short(size)} points past "
                                     f"the {len(binary):,} bytes after the JSON header")
            values = raw_values(binary[offset:offset + size], datatype, shape, where)
            offset += size
        else:
            if "data" not in item:
                raise InvalidRequest(f"{where} has no 'data'")
            values = _flat(item["data"], shape, where)
        tensors.append(Tensor(item["name"], datatype, shape, values))
    if offset != len(binary):
        raise InvalidRequest(f"{len(binary) - offset:,} bytes after the JSON header belong "
                             "to no input (binary_data_size)")
    outputs = []
    asked = payload.get("outputs") or []
    if not isinstance(asked, list):
        raise InvalidRequest(f"'outputs' is {type(asked).__name__}; give a list of "
                             '{"name": ...} objects, or leave it out for every output')
    for i, out in enumerate(asked):
        if not isinstance(out, dict) or not isinstance(out.get("name"), str):
            raise InvalidRequest(f"outputs[{i}] must be an object with a name")
        outputs.append(out["name"])
    return tensors, outputs, request_id


def raw_values(raw: bytes, datatype: str, shape: tuple[int, ...], where: str) -> list[Any]:
    """Values of a tensor sent as bytes (gRPC ``raw_input_contents``, REST binary data):
    little-endian; BYTES elements each prefixed by its 4-byte length."""
    count = math.prod(shape)
    if datatype not in _KNOWN:
        raise InvalidRequest(f"{where}: unknown datatype {_short(datatype)!r}; use one of "
                             f"{sorted(_KNOWN)}")
    if datatype == "BYTES":
        values: list[Any] = []
        at = 0
        while at < len(raw):
            if at + 4 > len(raw) or len(values) >= count:
                break
            (n,) = struct.unpack_from("<I", raw, at)
            if at + 4 + n > len(raw):
                break
            values.append(raw[at + 4:at + 4 + n])
            at += 4 + n
        if at != len(raw) or len(values) != count:
            raise InvalidRequest(f"{where}: its {len(raw):,} bytes are not {count} BYTES "
                                 f"elements for shape {list(shape)} (each a 4-byte "
                                 "little-endian length, then the bytes)")
        return values
    import numpy as np

    if len(raw) != count * _ITEM[datatype]:
        raise InvalidRequest(f"{where}: {len(raw):,} bytes of {datatype} hold "
                             f"{len(raw) / _ITEM[datatype]:g} values, but shape {list(shape)} "
                             f"needs {count} ({count * _ITEM[datatype]:,} bytes)")
    return np.frombuffer(raw, dtype=_RAW[datatype]).tolist()  # type: ignore[no-any-return]


def tensors_from_grpc(request: Any) -> tuple[list[Tensor], list[str], str]:
    """(input tensors, requested output names, request id) of a ``ModelInferRequest``."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidRequest(f"raw_input_contents holds {len(raw)} entries for "
                             f"{len(request.inputs)} inputs; send one per input, in order")
    if not request.inputs:
        raise InvalidRequest("the request has no inputs; send one tensor per model input")
    tensors = []
    for i, item in enumerate(request.inputs):
        where = f"input {_short(item.name)!r}"
        shape = _shape(list(item.shape), where)
        if raw:
            if item.HasField("contents"):
                raise InvalidRequest(f"{where}: send its values in contents or in "
                                     "raw_input_contents, not both")
            values = raw_values(raw[i], item.datatype, shape, where)
        else:
            field = _GRPC_CONTENTS.get(item.datatype)
            if field is None:
                raise InvalidRequest(f"{where}: unknown datatype {_short(item.datatype)!r}; "
                                     f"use one of {sorted(_KNOWN)}")
            values = list(getattr(item.contents, field))
        tensors.append(Tensor(item.name, item.datatype, shape, values))
    return tensors, [o.name for o in request.outputs], request.id


# -- tensors to columns ---------------------------------------------------------------------
def _element_problem(datatype: str, values: list[Any]) -> tuple[int, Any] | None:
    """The first element whose JSON type does not fit ``datatype`` (None: all fit)."""
    types = set(map(type, values))
    if datatype in ("FP64", "FP32"):
        ok: set[type] = {float, int}
    elif datatype in ("INT64", "INT32"):
        ok = {int}
    elif datatype == "BOOL":
        ok = {bool}
    else:
        ok = {str, bytes}
    if types <= ok:
        return None
    for i, v in enumerate(values):
        if type(v) not in ok:
            return i, v
    return None


def _decoded(values: list[Any]) -> list[Any]:
    if any(type(v) is bytes for v in values):
        return [v.decode("utf-8") if type(v) is bytes else v for v in values]
    return values


def columns_of(tensors: Sequence[Tensor], columns: Sequence[ColumnSpec],
               model: str) -> dict[str, list[Any]]:
    """The data plane's columns for ``tensors``, or every naming, datatype and shape problem
    at once (400, naming the tensor, its value and the fix)."""
    specs = {c.name: c for c in columns}
    if len(tensors) == 1 and tensors[0].name not in specs and len(tensors[0].shape) == 2 \
            and len(columns) > 1:
        return _matrix(tensors[0], columns, model)
    problems: list[str] = []
    seen: set[str] = set()
    out: dict[str, list[Any]] = {}
    rows: dict[str, int] = {}
    for t in tensors:
        name = _short(t.name)
        spec = specs.get(t.name)
        if spec is None:
            problems.append(f"unknown input {name!r}")
            continue
        if t.name in seen:
            problems.append(f"input {name!r} is sent twice")
            continue
        seen.add(t.name)
        if t.datatype not in accepts(spec):
            problems.append(
                f"input {name!r} is {_short(t.datatype)}, but the model's {spec.type} input "
                f"takes {' or '.join(sorted(accepts(spec)))}: send it as {datatype_of(spec)}")
            continue
        if len(t.shape) == 2 and t.shape[1] != 1:
            problems.append(f"input {name!r} has shape {list(t.shape)}: one input is one "
                            "column, shape [N] or [N, 1]")
            continue
        if len(t.values) != math.prod(t.shape):
            problems.append(f"input {name!r} holds {len(t.values)} values, but its shape "
                            f"{list(t.shape)} says {math.prod(t.shape)}")
            continue
        bad = _element_problem(t.datatype, t.values)
        if bad is not None:
            problems.append(f"input {name!r} is {t.datatype}, but element {bad[0]} is "
                            f"{_short(repr(bad[1]))}")
            continue
        try:
            out[t.name] = _decoded(t.values)
        except UnicodeDecodeError:
            problems.append(f"input {name!r}: BYTES values must be UTF-8 text")
            continue
        rows[t.name] = t.shape[0]
    for c in columns:
        if c.name not in seen:
            problems.append(f"missing input {c.name!r} ({datatype_of(c)}, shape [N])")
    if not problems and len(set(rows.values())) > 1:
        problems.append("inputs have different numbers of rows: " + ", ".join(
            f"{n}={r}" for n, r in rows.items()) + "; every input needs one value per row")
    if problems:
        raise _invalid(problems, columns, model)
    return out


def _matrix(t: Tensor, columns: Sequence[ColumnSpec], model: str) -> dict[str, list[Any]]:
    """One 2-D tensor [N, k]: column j is every k-th value from j (signature order)."""
    k = len(columns)
    name = _short(t.name)
    types = {c.type for c in columns}
    if len(types) != 1:
        raise _invalid([f"one 2-D input {name!r} is taken only when every model input has "
                        f"the same type, and this model's differ ({', '.join(sorted(types))})"],
                       columns, model)
    spec = columns[0]
    problems = []
    if t.shape[1] != k:
        problems.append(f"input {name!r} has shape {list(t.shape)}, but the model has {k} "
                        f"inputs: send [N, {k}] (columns {', '.join(c.name for c in columns)})"
                        " or one tensor per input")
    elif t.datatype not in accepts(spec):
        problems.append(f"input {name!r} is {_short(t.datatype)}, but the model's inputs are "
                        f"{spec.type}: send it as {datatype_of(spec)}")
    elif len(t.values) != math.prod(t.shape):
        problems.append(f"input {name!r} holds {len(t.values)} values, but its shape "
                        f"{list(t.shape)} says {math.prod(t.shape)}")
    else:
        bad = _element_problem(t.datatype, t.values)
        if bad is not None:
            problems.append(f"input {name!r} is {t.datatype}, but element {bad[0]} is "
                            f"{_short(repr(bad[1]))}")
    if problems:
        raise _invalid(problems, columns, model)
    try:
        values = _decoded(t.values)
    except UnicodeDecodeError:
        raise _invalid([f"input {name!r}: BYTES values must be UTF-8 text"], columns,
                       model) from None
    return {c.name: values[j::k] for j, c in enumerate(columns)}


def wanted_outputs(names: Sequence[str]) -> tuple[list[str], bool]:
    """(outputs to answer, whether probabilities are needed); refuse an unknown name."""
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise InvalidRequest(f"unknown output {_short(unknown[0])!r}; this model's outputs are "
                             f"{', '.join(OUTPUTS)} (probabilities and classes: classifiers "
                             "only); or list no outputs for predictions")
    chosen = list(dict.fromkeys(names)) or [PREDICTIONS]
    return chosen, PROBABILITIES in chosen or CLASSES in chosen


# -- answers --------------------------------------------------------------------------------
def datatype_of_values(values: Sequence[Any]) -> str:
    types = set(map(type, values))
    if types <= {bool} and types:
        return "BOOL"
    if types <= {int} and types:
        return "INT64"
    if types <= {int, float} and types:
        return "FP64"
    return "BYTES"


@dataclass(frozen=True)
class Output:
    name: str
    datatype: str
    shape: list[int]
    data: list[Any]  # flat, row-major


def outputs_of(chosen: Sequence[str], predictions: list[Any], classes: list[Any] | None,
               proba: Any) -> list[Output]:
    out = []
    for name in chosen:
        if name == PREDICTIONS:
            dt = datatype_of_values(predictions)
            data = predictions if dt != "BYTES" else [str(v) for v in predictions]
            out.append(Output(name, dt, [len(predictions)], data))
        elif name == CLASSES and classes is not None:
            dt = datatype_of_values(classes)
            out.append(Output(name, dt, [len(classes)],
                              classes if dt != "BYTES" else [str(c) for c in classes]))
        elif name == PROBABILITIES and classes is not None:
            import numpy as np

            matrix = np.asarray(proba, dtype="float64")
            out.append(Output(name, "FP64", list(matrix.shape), matrix.ravel().tolist()))
    return out


def rest_answer(model: str, version: str, request_id: str | None, outputs: list[Output],
                parameters: Mapping[str, str]) -> bytes:
    answer: dict[str, Any] = {"model_name": model, "model_version": version}
    if request_id is not None:
        answer["id"] = request_id
    answer["parameters"] = dict(parameters)
    answer["outputs"] = [{"name": o.name, "datatype": o.datatype, "shape": o.shape,
                          "data": o.data} for o in outputs]
    return json.dumps(answer, separators=(",", ":"), default=str).encode()


def raw_bytes(o: Output) -> bytes:
    """An output's ``raw_output_contents`` entry (what Triton's clients read)."""
    if o.datatype == "BYTES":
        parts = [str(v).encode() for v in o.data]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    import numpy as np

    return bytes(np.asarray(o.data, dtype=_RAW[o.datatype]).tobytes())


def grpc_answer(messages: Any, model: str, version: str, request_id: str,
                outputs: list[Output], parameters: Mapping[str, str]) -> Any:
    """A ``ModelInferResponse`` (``messages``: the generated module)."""
    response = messages.ModelInferResponse(model_name=model, model_version=version,
                                           id=request_id)
    for k, v in parameters.items():
        response.parameters[k].string_param = v
    for o in outputs:
        response.outputs.add(name=o.name, datatype=o.datatype, shape=o.shape)
        response.raw_output_contents.append(raw_bytes(o))
    return response


def metadata(model: str, version: str, framework: str, columns: Sequence[ColumnSpec],
             prediction_datatype: str, classes: int | None) -> dict[str, Any]:
    """The model's V2 metadata: inputs from its signature, its outputs."""
    outputs = [{"name": PREDICTIONS, "datatype": prediction_datatype, "shape": [-1]}]
    if classes is not None:
        outputs += [{"name": PROBABILITIES, "datatype": "FP64", "shape": [-1, classes]},
                    {"name": CLASSES, "datatype": "BYTES", "shape": [classes]}]
    return {"name": model, "versions": [version], "platform": f"ferry_{framework}",
            "inputs": [{"name": c.name, "datatype": datatype_of(c), "shape": [-1]}
                       for c in columns],
            "outputs": outputs}


def grpc_metadata(messages: Any, meta: Mapping[str, Any]) -> Any:
    response = messages.ModelMetadataResponse(name=meta["name"], versions=meta["versions"],
                                              platform=meta["platform"])
    for kind in ("inputs", "outputs"):
        for t in meta[kind]:
            getattr(response, kind).add(name=t["name"], datatype=t["datatype"],
                                        shape=t["shape"])
    return response


# -- routes and errors -----------------------------------------------------------------------
def parse_message(messages: Any, rpc: str, data: bytes) -> Any:
    """The request message of ``rpc`` from its bytes, or INVALID_ARGUMENT naming the type."""
    from google.protobuf.message import DecodeError

    kind = getattr(messages, f"{rpc}Request")
    try:
        return kind.FromString(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise InvalidRequest(
            f"the message ({len(data):,} bytes) is not an inference.{rpc}Request ({e}); "
            "encode it from KServe's grpc_predict_v2.proto (or use tritonclient)") from e


def is_v2(path: str) -> bool:
    """Whether a path the router forwards (``/<deployment>/...``) is a V2 one."""
    parts = path.split("/", 3)
    return len(parts) > 2 and parts[2] == "v2"


@dataclass(frozen=True)
class Route:
    """A V2 REST path under a deployment's prefix: ``kind`` is live, ready (server),
    metadata, model_ready or infer; ``model`` the name in the path."""

    kind: str
    model: str | None = None


def route_of(path: str, prefix: str) -> Route | None:
    """The V2 route of ``path`` (None: not a V2 path); an unknown V2 path is a 404."""
    rest = path[len(prefix):] if path.startswith(prefix) else path
    parts = [p for p in rest.split("/") if p]
    if not parts or parts[0] != "v2":
        return None
    tail = parts[1:]
    if tail in (["health", "live"], ["health", "ready"]):
        return Route(tail[1])
    if not tail:
        return Route("server")
    if len(tail) >= 2 and tail[0] == "models":
        model, more = tail[1], tail[2:]
        if len(more) >= 2 and more[0] == "versions":
            more = more[2:]  # one version per deployment at a time: any is the served one
        if not more:
            return Route("metadata", model)
        if more in (["ready"], ["infer"]):
            return Route("model_ready" if more == ["ready"] else "infer", model)
    raise NotFound(f"no V2 route {_short(rest)!r}; use GET {prefix}/v2/health/live|ready, GET "
                   f"{prefix}/v2/models/<name>[/ready] or POST {prefix}/v2/models/<name>/infer")


def check_model(given: str | None, name: str) -> None:
    """The model in a V2 path or message must be the deployment the request reached."""
    if given != name:
        raise NotFound(f"model {_short(given)!r} is not served here; this endpoint serves "
                       f"{name!r}: use /v2/models/{name} (gRPC: model_name {name!r})",
                       details={"model": name})


def error_json(e: FerryError, release_id: str | None = None) -> bytes:
    """A V2 error body, ``{"error": "<message>"}``, with Ferry's code (and release) beside."""
    return e.to_v2_json(**({"release_id": release_id} if release_id else {}))
