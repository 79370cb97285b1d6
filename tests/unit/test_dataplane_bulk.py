"""Batches are checked in bulk, and the bulk check accepts exactly what the per-value check
accepts: same frames, same refusals, the same problems named.

The reference is the per-value walk alone (``clean_column`` switched off); the columns are
random mixes of valid values and the values that sit on each rule's edge.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ferry_contract import ColumnSpec, InvalidInput
from ferry_contract.proto import _codec as codec
from ferry_contract.proto import decode_column, encode_column
from ferry_platform.serving import _dataplane
from ferry_platform.serving._dataplane import FLOAT32_MAX, DataPlane, clean_column

KINDS = ["double", "float", "long", "integer", "boolean", "string", "binary", "datetime"]
EDGES: list[Any] = [
    None, True, False, 0, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, 2**63,
    -(2**63), -(2**63) - 1, 10**400, int(FLOAT32_MAX), int(FLOAT32_MAX) + 1, FLOAT32_MAX,
    3.4e38, 3.5e38, 1e308, int(1.7976931348623157e308), int(1.7976931348623157e308) + 1,
    1.7976931348623157e308, float("nan"), float("inf"), -float("inf"), -0.0, 5e-324,
    "1.5", "", "2026-01-31T12:00:00", np.float64(1.5), np.int64(3), [1], {"a": 1},
]
VALID = {"double": lambda r: r.choice([r.gauss(0, 1e3), r.randint(-10**6, 10**6)]),
         "float": lambda r: r.uniform(-1e30, 1e30), "long": lambda r: r.randint(-2**62, 2**62),
         "integer": lambda r: r.randint(-2**31, 2**31 - 1),
         "boolean": lambda r: r.random() < 0.5, "string": lambda r: r.choice(["a", "pro", ""]),
         "binary": lambda r: "eA==", "datetime": lambda r: "2026-01-31T12:00:00"}


def _column(r: random.Random, kind: str) -> list[Any]:
    values = [VALID[kind](r) for _ in range(r.randint(1, 60))]
    if r.random() < 0.7:  # most columns carry one or two edge values
        for _ in range(r.randint(1, 2)):
            values[r.randrange(len(values))] = r.choice(EDGES)
    return values


def _outcome(plane: DataPlane, cols: dict[str, list[Any]]) -> Any:
    try:
        return plane.frame(cols)
    except InvalidInput as e:
        return e.details["problems"]


@pytest.mark.parametrize("seed", range(150))
def test_bulk_and_per_value_checks_agree(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    r = random.Random(seed)
    n = r.randint(1, 60)  # below and above BULK_MIN_ROWS
    sig = [ColumnSpec(name=f"c{i}", type=r.choice(KINDS), required=r.random() < 0.8)
           for i in range(r.randint(1, 5))]
    cols = {}
    for spec in sig:
        values = _column(r, spec.type)
        cols[spec.name] = (values * n)[:n]
    plane = DataPlane(sig, lambda f: f.index.to_numpy())
    fast = _outcome(plane, cols)
    monkeypatch.setattr(_dataplane, "clean_column", lambda kind, values: None)
    slow = _outcome(plane, cols)
    if isinstance(slow, pd.DataFrame):
        assert isinstance(fast, pd.DataFrame), fast
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    else:
        assert fast == slow


@pytest.mark.parametrize("kind,values", [
    ("long", [1, True]), ("long", [1, None]), ("long", [2**63]), ("long", [1.0]),
    ("long", [np.int64(1)]), ("integer", [2**31]), ("integer", [-(2**31) - 1]),
    ("double", [1.0, float("nan")]), ("double", [float("inf")]), ("double", [10**400]),
    ("double", [int(1.7976931348623157e308) + 1]), ("double", ["1.5"]), ("double", [False]),
    ("float", [int(FLOAT32_MAX) + 1]), ("float", [3.5e38]), ("boolean", [1]),
    ("string", [1]), ("datetime", ["2026-01-31"]), ("double", []),
])
def test_what_the_bulk_check_leaves_to_the_per_value_check(kind: str, values: list[Any]) -> None:
    padding = {"double": 1.0, "float": 1.0, "long": 1, "integer": 1, "boolean": True,
               "string": "a", "datetime": "2026-01-31T12:00:00"}[kind]
    assert clean_column(kind, values) is None
    if values:  # and the same among as many good values as a batch has
        assert clean_column(kind, [padding] * 50 + values + [padding] * 50) is None


def test_a_clean_batch_is_never_walked_value_by_value(monkeypatch: pytest.MonkeyPatch) -> None:
    def walked(*_: Any) -> None:
        raise AssertionError("a clean column was checked value by value")

    monkeypatch.setattr(_dataplane, "_problem", walked)
    rng = np.random.default_rng(5)
    sig = [ColumnSpec(name="tenure", type="long"), ColumnSpec(name="monthly", type="double"),
           ColumnSpec(name="ratio", type="float"), ColumnSpec(name="seats", type="integer"),
           ColumnSpec(name="vip", type="boolean"), ColumnSpec(name="plan", type="string")]
    rows = [{"tenure": int(t), "monthly": float(m), "ratio": float(q), "seats": int(s),
             "vip": bool(v), "plan": str(p)}
            for t, m, q, s, v, p in zip(rng.integers(0, 100, 10_000), rng.gamma(4, 20, 10_000),
                                        rng.random(10_000), rng.integers(1, 9, 10_000),
                                        rng.random(10_000) < 0.3,
                                        rng.choice(["basic", "pro"], 10_000), strict=True)]
    plane = DataPlane(sig, lambda f: f.index.to_numpy())
    frame = plane.frame(plane.columns_from_records(rows))
    assert [str(t) for t in frame.dtypes] == ["int64", "float64", "float32", "int32", "bool",
                                              "object"]
    assert frame["monthly"].tolist() == [r["monthly"] for r in rows]
    assert frame["plan"].tolist() == [r["plan"] for r in rows]


def test_rows_with_other_keys_still_name_every_problem() -> None:
    plane = DataPlane([ColumnSpec(name="a", type="long"), ColumnSpec(name="b", type="double")],
                      lambda f: f.index.to_numpy())
    assert plane.columns_from_records([{"a": 1, "b": 2.0}, {"b": 3.0, "a": 4}]) == \
        {"a": [1, 4], "b": [2.0, 3.0]}
    with pytest.raises(InvalidInput) as exc:
        plane.columns_from_records([{"a": 1, "b": 2.0}, {"a": 1}, {"a": 1, "b": 1.0, "c": 0}])
    assert {(p["column"], p["problem"], p["row"]) for p in exc.value.details["problems"]} == \
        {("b", "missing", 1), ("c", "unexpected", 2)}


@pytest.mark.parametrize("values", [
    [1, 2, 3], [2**63 - 1, -(2**63)], [1.5, -0.0, 1e308], [True, False], ["a", ""],
    [1.5, float("nan")], [1, 2.5], [1, None], [np.int64(1), np.int64(2)], [1, True], [],
])
def test_encoding_a_column_in_bulk_equals_encoding_it_value_by_value(
        values: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = encode_column(values)
    monkeypatch.setattr(codec, "_BULK_KINDS", {})
    slow = encode_column(values)
    assert fast == slow
    if len({type(v) for v in values}) != 1:
        return  # mixed columns: the per-value path (tests/unit/test_codec.py)
    back = decode_column(fast)
    assert len(back) == len(values)
    assert all((b is None and (v is None or (isinstance(v, float) and math.isnan(v))))
               or b == v for b, v in zip(back, values, strict=True))
