"""The data plane accepts what the signature allows and names every problem otherwise."""

from __future__ import annotations

import pytest
from _synth import churn, numeric_features
from sklearn.linear_model import LogisticRegression

from ferry_contract import ColumnSpec, InvalidInput, InvalidRequest
from ferry_platform.serving import MAX_ROWS, DataPlane

SIG = [ColumnSpec(name="tenure", type="long"), ColumnSpec(name="monthly", type="double"),
       ColumnSpec(name="plan", type="string"), ColumnSpec(name="vip", type="boolean"),
       ColumnSpec(name="score", type="double", required=False)]


def plane(predict=lambda f: f.index.to_numpy()):  # type: ignore[no-untyped-def]
    return DataPlane(SIG, predict)


GOOD = {"tenure": 3, "monthly": 10, "plan": "pro", "vip": False, "score": None}


def test_accepts_a_valid_row_and_widens_int_to_double() -> None:
    frame = plane().frame(plane().columns_from_records([GOOD]))
    assert list(frame.columns) == ["tenure", "monthly", "plan", "vip", "score"]
    assert str(frame["monthly"].dtype) == "float64" and str(frame["tenure"].dtype) == "int64"
    assert frame["score"].isna().all()


def problems(exc: pytest.ExceptionInfo[InvalidInput]) -> set[tuple[str, str]]:
    return {(p["column"], p["problem"]) for p in exc.value.details["problems"]}


def test_reports_every_missing_extra_wrong_and_null_column_at_once() -> None:
    row = {"tenure": 2.5, "plan": 7, "vip": None, "colour": "red", "score": 1.0}
    with pytest.raises(InvalidInput) as exc:
        p = plane()
        p.frame(p.columns_from_records([row]))
    assert problems(exc) == {("monthly", "missing"), ("colour", "unexpected")}
    with pytest.raises(InvalidInput) as exc:
        plane().frame({"tenure": [2.5], "monthly": ["x"], "plan": [7], "vip": [None],
                       "score": [1.0]})
    assert problems(exc) == {("tenure", "wrong_type"), ("monthly", "wrong_type"),
                             ("plan", "wrong_type"), ("vip", "null")}
    msg = exc.value.message
    assert "'tenure' expects long" in msg and "got number" in msg and "'vip' is null" in msg


def test_booleans_are_not_numbers() -> None:
    with pytest.raises(InvalidInput) as exc:
        plane().frame({**{k: [v] for k, v in GOOD.items()}, "tenure": [True]})
    assert problems(exc) == {("tenure", "wrong_type")}


@pytest.mark.parametrize("bad", [[], "rows", [1, 2], {"a": 1}])
def test_malformed_inputs_are_request_errors(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        p = plane()
        p.frame(p.columns_from_records(bad))


def test_row_limit_and_ragged_columns() -> None:
    with pytest.raises(InvalidRequest, match="limit"):
        plane().columns_from_records([GOOD] * (MAX_ROWS + 1))
    with pytest.raises(InvalidRequest, match="same"):
        plane().frame({**{k: [v] for k, v in GOOD.items()}, "tenure": [1, 2]})


def test_predictions_equal_the_models_own_on_synthetic_data() -> None:
    train = churn(2000, seed=1)
    X = numeric_features(train)
    model = LogisticRegression(max_iter=2000).fit(X, train["churned"])
    sig = [ColumnSpec(name="tenure", type="long"), ColumnSpec(name="monthly", type="double"),
           ColumnSpec(name="income", type="double"), ColumnSpec(name="tickets", type="long")]
    dp = DataPlane(sig, model.predict)
    test = numeric_features(churn(300, seed=2))
    got = dp.predict({c: test[c].tolist() for c in test.columns})
    assert got == model.predict(test).tolist()
    # and the baseline (majority class) differs, so the comparison means something
    assert got != [int(train["churned"].mode()[0])] * len(test)
