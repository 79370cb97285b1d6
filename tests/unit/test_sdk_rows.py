from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ferry._deployment import to_columns, to_records
from ferry._registration import check_name
from ferry_contract import InvalidRequest


def test_every_row_shape_becomes_the_same_columns() -> None:
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]})
    want = {"a": [1, 2], "b": [0.5, None]}
    assert to_columns(df) == want
    assert to_columns([{"a": 1, "b": 0.5}, {"a": 2, "b": None}]) == want
    assert to_columns({"a": [1, 2], "b": [0.5, None]}) == want
    assert to_columns({"a": 1, "b": 0.5}) == {"a": [1], "b": [0.5]}
    assert to_records(want) == [{"a": 1, "b": 0.5}, {"a": 2, "b": None}]
    assert not any(isinstance(v, float) and math.isnan(v) for v in to_columns(df)["b"])


def test_bad_shapes_and_names_are_refused_clearly() -> None:
    with pytest.raises(InvalidRequest):
        to_columns("not rows")
    with pytest.raises(InvalidRequest):
        to_columns([1, 2])
    for bad in ["Churn", "1churn", "churn_model", "x" * 64, ""]:
        with pytest.raises(InvalidRequest, match="lower-case"):
            check_name(bad)
    check_name("churn-v2")
