"""Columnar encoding between Python values and ``ferry.v1.Column`` messages.

The SDK encodes rows with :func:`encode_request`; the data plane parses the bytes with
:func:`parse_request` and decodes with :func:`decode_request`. Type is taken from the
values (bool before int, int before float); ``None`` (and float NaN, pandas' missing
value) become entries of ``null_rows``. Decoding is strict: bytes that are not a
``PredictRequest`` and ``null_rows`` that point past a column are :class:`InvalidRequest`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ferry_contract._errors import InvalidRequest
from ferry_contract.proto import predict_pb2

_PLACEHOLDER = {"doubles": 0.0, "int64s": 0, "strings": "", "bools": False}


def _kind_of(values: Sequence[Any]) -> str:
    kinds = set()
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if isinstance(v, bool):
            kinds.add("bools")
        elif isinstance(v, int):
            kinds.add("int64s")
        elif isinstance(v, float):
            kinds.add("doubles")
        elif isinstance(v, str):
            kinds.add("strings")
        else:
            # numpy scalars and the like: use their Python value
            item = getattr(v, "item", None)
            if item is None:
                raise TypeError(f"cannot encode value {v!r} of type {type(v).__name__}")
            kinds.add(_kind_of([item()]))
    if not kinds:
        return "doubles"
    if kinds == {"int64s", "doubles"}:
        return "doubles"
    if len(kinds) > 1:
        # Mixed types travel as strings so the server can name the column in its error.
        return "strings"
    return kinds.pop()


_BULK_KINDS = {int: "int64s", float: "doubles", str: "strings", bool: "bools"}


def encode_column(values: Sequence[Any]) -> predict_pb2.Column:
    """Encode one column of Python values."""
    types = set(map(type, values))
    if len(types) == 1:  # one exact Python type (a model's answers): no per-value work
        kind = _BULK_KINDS.get(types.pop())
        if kind is not None and not (kind == "doubles" and any(v != v for v in values)):
            col = predict_pb2.Column()
            getattr(col, kind).values.extend(values)
            return col
    kind = _kind_of(values)
    nulls: list[int] = []
    clean: list[Any] = []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            nulls.append(i)
            clean.append(_PLACEHOLDER[kind])
            continue
        item = getattr(v, "item", None)
        if item is not None and not isinstance(v, (bool, int, float, str)):
            v = item()
        clean.append(str(v) if kind == "strings" else v)
    col = predict_pb2.Column(null_rows=nulls)
    getattr(col, kind).values.extend(clean)
    return col


def decode_column(col: predict_pb2.Column, name: str = "") -> list[Any]:
    """Decode one column back to Python values (``None`` for null rows)."""
    kind = col.WhichOneof("values")
    values: list[Any] = list(getattr(col, kind).values) if kind is not None else []
    for i in col.null_rows:
        if i >= len(values):
            raise InvalidRequest(
                f"column {name!r}: null_rows lists row {i}, but the column holds "
                f"{len(values)} values; list only rows that exist (0 to {len(values) - 1})")
        values[i] = None
    return values


def encode_request(columns: Mapping[str, Sequence[Any]],
                   probabilities: bool = False) -> predict_pb2.PredictRequest:
    return predict_pb2.PredictRequest(
        columns={name: encode_column(values) for name, values in columns.items()},
        probabilities=probabilities,
    )


def decode_request(request: predict_pb2.PredictRequest) -> dict[str, list[Any]]:
    return {name: decode_column(col, name) for name, col in request.columns.items()}


def parse_request(data: bytes) -> predict_pb2.PredictRequest:
    """A ``PredictRequest`` from the bytes of a gRPC message, or :class:`InvalidRequest`."""
    from google.protobuf.message import DecodeError

    try:
        return predict_pb2.PredictRequest.FromString(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise InvalidRequest(
            f"the message ({len(data):,} bytes) is not a ferry.v1.PredictRequest ({e}); "
            "encode it from predict.proto (ferry_contract/proto/predict.proto)") from e
