"""Ferry's data plane: validate a batch against the model signature, predict, answer.

One implementation used by both protocol adapters (REST and gRPC) so that both accept
and refuse exactly the same inputs. Every problem in a request is reported at once.

Batches are checked in bulk first (:func:`clean_column`: the set of value types, then
NumPy over the whole column); only a column that bulk check cannot prove clean is walked
value by value, which is what names each problem. Both paths accept exactly the same
columns; the bulk one is what makes a 10,000-row request cheap.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ferry_contract import ColumnSpec, InvalidInput, InvalidRequest, ModelError

ProbaFrame = Callable[[Any], "tuple[list[Any], Any] | None"]
"""``predict_proba_frame(frame)``: (classes, rows x classes probabilities), or None when
the model gives no probabilities (a regressor)."""

MAX_ROWS = 10_000

_FLOAT_TYPES = {"double", "float"}
_INT_TYPES = {"long", "integer"}
SCALAR_TYPES = frozenset({"double", "float", "long", "integer", "boolean", "string",
                          "datetime", "binary"})
"""Column types whose values are single JSON scalars; anything else is passed through."""
INT_RANGE = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
"""The values a ``long`` (int64) and an ``integer`` (int32) column can hold."""
FLOAT32_MAX = 3.4028234663852886e38
_DOUBLE_MAX_INT = int(sys.float_info.max)
_NUMPY_DTYPE = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
}
_TYPE_HINT = {
    "double": "a finite number",
    "float": "a finite number within float32 range (|x| <= 3.4e38)",
    "long": "an integer within int64 range",
    "integer": "an integer within int32 range",
    "boolean": "true or false",
    "string": "a string",
    "datetime": "an ISO-8601 date-time string, e.g. 2026-01-31T12:00:00",
    "binary": "a string",
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def show(value: Any) -> str:
    """A short, safe rendering of a value for a message (never a whole container)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        try:
            text = str(abs(value))
        except ValueError:  # past Python's int-to-str digit limit
            return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
        return f"{'-' if value < 0 else ''}{text[:6]}... ({len(text)} digits)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text_problem(value: str) -> tuple[str, str] | None:
    """A string that is not Unicode text: JSON's escapes can carry half of a surrogate
    pair (``"\\ud800"``), which no UTF-8 writer (the prediction log, a model's own
    encoder) can store."""
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = value[e.start:e.end].encode("utf-8", "backslashreplace").decode()
        return "wrong_type", (f"got a string holding {bad}, half of a UTF-16 surrogate pair "
                              "(not a character); send valid Unicode text")
    return None


def _problem(expected: str, value: Any) -> tuple[str, str] | None:
    """Why ``value`` (not null) cannot go into a column of type ``expected``, or None.

    Returns (problem code, what is wrong) where the code is ``wrong_type``, ``not_finite``
    or ``out_of_range``."""
    if expected in _FLOAT_TYPES:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "wrong_type", f"got {_type_name(value)} {show(value)}"
        if isinstance(value, float):
            if not math.isfinite(value):
                return "not_finite", (f"got {show(value)}, which is not a finite number "
                                      "(or is too large for a double)")
            if expected == "float" and abs(value) > FLOAT32_MAX:
                return "out_of_range", f"got {show(value)}, outside float32 range"
            return None
        if abs(value) > _DOUBLE_MAX_INT:
            return "out_of_range", f"got {show(value)}, too large for a double"
        if expected == "float" and abs(value) > FLOAT32_MAX:
            return "out_of_range", f"got {show(value)}, outside float32 range"
        return None
    if expected in _INT_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            return "wrong_type", f"got {_type_name(value)} {show(value)}"
        lo, hi = INT_RANGE[expected]
        if not lo <= value <= hi:
            bits = 64 if expected == "long" else 32
            return "out_of_range", (f"got {show(value)}, outside the {bits}-bit integer "
                                    f"range [{lo}, {hi}]")
        return None
    if expected == "boolean":
        return None if isinstance(value, bool) else (
            "wrong_type", f"got {_type_name(value)} {show(value)}")
    if expected in ("string", "binary"):
        if not isinstance(value, str):
            return "wrong_type", f"got {_type_name(value)} {show(value)}"
        return _text_problem(value)
    if expected == "datetime":
        if not isinstance(value, str):
            return "wrong_type", f"got {_type_name(value)} {show(value)}"
        problem = _text_problem(value)
        if problem:
            return problem
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return "wrong_type", f"got {show(value)}, not an ISO-8601 date-time"
        return None
    return None


_BULK_FLOAT_LIMIT = {"double": 1e308, "float": 3.4e38}
"""Magnitudes the bulk check accepts without a doubt (an int converted to a double may round
down to the limit it exceeds); anything larger is decided value by value."""
_INT32 = INT_RANGE["integer"]
BULK_MIN_ROWS = 16
"""Shorter columns are walked value by value at once: for a few values that is cheaper than
the bulk check (a single-row request costs what it did before the bulk check existed)."""


def clean_column(kind: str, values: Sequence[Any]) -> Any:
    """The typed column (what the frame holds) if every value is a valid, non-null ``kind``,
    proven in bulk; ``None`` when that is not certain, and the per-value check decides.

    Exact Python types only (``bool`` is not an ``int`` here, nor a NumPy scalar a float),
    so a column this accepts is one the per-value check accepts, and it gets the same
    array ``DataPlane._typed`` builds."""
    import numpy as np

    if len(values) == 0:
        return None
    types = set(map(type, values))
    try:
        if kind in _FLOAT_TYPES:
            if not types <= {float, int}:
                return None
            array = np.asarray(values, dtype="float64")
            if not np.isfinite(array).all() or np.abs(array).max() >= _BULK_FLOAT_LIMIT[kind]:
                return None
            return array if kind == "double" else np.asarray(values, dtype="float32")
        if kind in _INT_TYPES:
            if types != {int}:
                return None
            array = np.asarray(values, dtype="int64")  # OverflowError past int64
            if kind == "integer":
                if array.min() < _INT32[0] or array.max() > _INT32[1]:
                    return None
                return array.astype("int32")
            return array
    except (OverflowError, ValueError, TypeError):
        return None
    if kind == "boolean" and types == {bool}:
        return np.asarray(values, dtype="bool")
    if kind in ("string", "binary") and types == {str}:
        try:
            "".join(values).encode("utf-8")  # no lone surrogate (the per-value check names it)
        except UnicodeEncodeError:
            return None
        return list(values)
    return None


class DataPlane:
    """Validates inputs against ``columns`` and calls ``predict_frame`` on a DataFrame."""

    def __init__(self, columns: Sequence[ColumnSpec], predict_frame: Callable[[Any], Any],
                 predict_proba_frame: ProbaFrame | None = None):
        import pandas as pd

        self._pd = pd
        self.columns = list(columns)
        self._names = [c.name for c in self.columns]
        self._name_set = frozenset(self._names)
        self._specs = {c.name: c for c in self.columns}
        self._predict_frame = predict_frame
        self._predict_proba_frame = predict_proba_frame

    # -- input shapes -------------------------------------------------------------------
    def columns_from_records(self, records: Any) -> dict[str, list[Any]]:
        """Turn ``[{col: value}, ...]`` into columns, naming every missing or extra key."""
        if isinstance(records, Mapping):
            records = [records]
        if not isinstance(records, list) or not records:
            raise InvalidRequest(
                "'inputs' must be a non-empty list of rows, e.g. "
                '{"inputs": [{"' + '": ..., "'.join(self._names[:3]) + '": ...}]}'
            )
        if len(records) > MAX_ROWS:
            raise InvalidRequest(
                f"{len(records)} rows in one request; the limit is {MAX_ROWS}. Split the batch."
            )
        names, name_set = self._names, self._name_set
        if all(type(row) is dict and row.keys() == name_set for row in records):
            return {n: [row[n] for row in records] for n in names}  # the usual case, in bulk
        problems: list[dict[str, Any]] = []
        out: dict[str, list[Any]] = {n: [] for n in self._names}
        for i, row in enumerate(records):
            if not isinstance(row, Mapping):
                problems.append(
                    {"row": i, "problem": "not_an_object", "got": _type_name(row),
                     "message": f"row {i} is {_type_name(row)}, expected an object of columns"}
                )
                continue
            if row.keys() != self._name_set:
                keys = set(row.keys())
                for name in self._names:
                    if name not in keys:
                        spec = self._specs[name]
                        problems.append(self._missing(name, spec, i))
                for name in keys - self._name_set:
                    problems.append(self._extra(str(name), i))
            for name in self._names:
                out[name].append(row.get(name))
        if problems:
            raise self._invalid(problems)
        return out

    def _missing(self, name: str, spec: ColumnSpec, row: int | None) -> dict[str, Any]:
        where = f" in row {row}" if row is not None else ""
        return {
            "column": name, "problem": "missing", "expected": spec.type, "row": row,
            "message": f"column {name!r} ({spec.type}) is missing{where}",
        }

    def _extra(self, name: str, row: int | None) -> dict[str, Any]:
        where = f" in row {row}" if row is not None else ""
        name = name if len(name) <= 60 else name[:57] + "..."  # a client's key: keep it short
        return {
            "column": name, "problem": "unexpected", "row": row,
            "message": f"column {name!r}{where} is not in the model's signature",
        }

    def _invalid(self, problems: list[dict[str, Any]]) -> InvalidInput:
        shown = "; ".join(p["message"] for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        expected = ", ".join(f"{c.name}: {c.type}" for c in self.columns)
        return InvalidInput(
            f"input does not match the model's signature: {shown}{more}. "
            f"Expected columns: {expected}.",
            details={"problems": problems[:100], "signature": [c.model_dump() for c in self.columns]},
        )

    # -- validation and prediction ------------------------------------------------------
    def validate(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """Check columns (names, lengths, types, nulls) without building a frame."""
        self.frame(columns, build=False)

    def frame(self, columns: Mapping[str, Sequence[Any]], *, build: bool = True) -> Any:
        """Validate columns (names, lengths, types, nulls) and build the model's DataFrame."""
        problems: list[dict[str, Any]] = []
        keys = set(columns.keys())
        if keys != self._name_set:
            for name in self._names:
                if name not in keys:
                    problems.append(self._missing(name, self._specs[name], None))
            for name in sorted(keys - self._name_set):
                problems.append(self._extra(name, None))
            raise self._invalid(problems)
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1 or 0 in lengths:
            raise InvalidRequest(
                "every column must hold the same, non-zero number of rows; got lengths "
                + ", ".join(f"{n}={len(columns[n])}" for n in self._names)
            )
        (n_rows,) = lengths
        if n_rows > MAX_ROWS:
            raise InvalidRequest(f"{n_rows} rows in one request; the limit is {MAX_ROWS}.")
        data: dict[str, Any] = {}
        for spec in self.columns:
            values = columns[spec.name]
            bulk = clean_column(spec.type, values) if len(values) >= BULK_MIN_ROWS else None
            if bulk is not None:  # no problem in this column: skip the walk below
                if build and not problems:
                    data[spec.name] = bulk
                continue
            has_null = False
            for i, v in enumerate(values):
                if v is None:
                    has_null = True
                    if spec.required:
                        problems.append({
                            "column": spec.name, "problem": "null", "expected": spec.type, "row": i,
                            "message": f"column {spec.name!r} is null in row {i}; "
                            f"the signature requires {_TYPE_HINT.get(spec.type, spec.type)}",
                        })
                    continue
                wrong = _problem(spec.type, v)
                if wrong is not None:
                    code, what = wrong
                    fix = ""
                    if code == "not_finite":
                        fix = ("; send a finite number, or null if the value is missing"
                               if not spec.required else
                               "; send a finite number (the column is required)")
                    problems.append({
                        "column": spec.name, "problem": code, "expected": spec.type,
                        "got": _type_name(v), "value": show(v), "row": i,
                        "message": f"column {spec.name!r} expects {spec.type} "
                        f"({_TYPE_HINT.get(spec.type, spec.type)}), {what} in row {i}{fix}",
                    })
            if build and not problems:
                data[spec.name] = self._typed(spec, values, has_null)
        if problems:
            raise self._invalid(problems)
        if not build:
            return None
        # ``data`` is already in signature order; passing columns= as well costs ~3x.
        return self._pd.DataFrame(data)

    def _typed(self, spec: ColumnSpec, values: Sequence[Any], has_null: bool) -> Any:
        import numpy as np

        dtype = _NUMPY_DTYPE.get(spec.type)
        if dtype is None:
            return list(values)
        if has_null:
            if spec.type == "boolean":
                return list(values)
            return np.array([np.nan if v is None else v for v in values], dtype="float64")
        try:
            return np.asarray(values, dtype=dtype)
        except (OverflowError, ValueError):
            return list(values)

    def predict(self, columns: Mapping[str, Sequence[Any]]) -> list[Any]:
        """Validate, predict and return plain Python values.

        Whatever the model raises on input that passed validation is a :class:`ModelError`
        (500): the release's fault, not the caller's, and not worth retrying."""
        return self.answer(columns)[0]

    def answer(self, columns: Mapping[str, Sequence[Any]], probabilities: bool = False,
               ) -> tuple[list[Any], list[Any] | None, Any]:
        """Validate and predict: (predictions, classes, probabilities rows x classes). With
        ``probabilities`` a model that gives none is refused (400) before it runs."""
        if probabilities and self._predict_proba_frame is None:
            raise InvalidRequest("this model gives no class probabilities (it is not a "
                                 "classifier with predict_proba); ask without them")
        frame = self.frame(columns)
        try:
            result = self._predict_frame(frame)
            tolist = getattr(result, "tolist", None)
            predictions = list(tolist() if tolist is not None else result)
            classes, proba = None, None
            if probabilities and self._predict_proba_frame is not None:
                got = self._predict_proba_frame(frame)
                if got is None:
                    raise InvalidRequest("this model gives no class probabilities (it is not "
                                         "a classifier with predict_proba); ask without them")
                classes, proba = [_plain(c) for c in got[0]], got[1]
            return predictions, classes, proba
        except InvalidRequest:
            raise
        except Exception as e:  # any model failure is reported the same way
            reason = (str(e).strip().splitlines() or [""])[0][:300]
            raise ModelError(
                f"the model raised {type(e).__name__} on input that matched its signature"
                f"{': ' + reason if reason else ''}. The request is valid, so retrying will "
                "not help: tell the model's owner, or roll the deployment back.",
                details={"exception": type(e).__name__, "reason": reason}) from e

    def sample_row(self) -> dict[str, Any]:
        """A row of placeholder values that satisfies the signature."""
        placeholder = {"boolean": False, "string": "", "binary": "", "long": 0, "integer": 0,
                       "datetime": "1970-01-01T00:00:00"}
        return {c.name: placeholder.get(c.type, 0.0) for c in self.columns}


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value (class labels go into JSON and Arrow)."""
    item = getattr(value, "item", None)
    return item() if item is not None and not isinstance(value, (str, bytes)) else value
