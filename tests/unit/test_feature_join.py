"""The serving-side join of a request with its pinned online features."""

from __future__ import annotations

from typing import Any

import pytest

from ferry_contract import ColumnSpec, FeatureNotFound, InvalidInput
from ferry_platform.core import STALE_SUFFIX, FeatureBinding
from ferry_platform.serving._dataplane import DataPlane
from ferry_platform.serving._features import FeatureJoin

REFS = ["stats@v2:tenure", "stats@v2:charges"]
STORE: dict[int, dict[str, Any]] = {1: {"tenure": 10, "charges": 20.5},
                                    2: {"tenure": 3, "charges": None},  # charges not known
                                    3: {"tenure": None, "charges": 7.0}}


class FakeFetcher:
    """Answers like Feast's online read: one list per feature, None where nothing is stored."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[dict[str, Any]]]] = []

    def fetch(self, refs: list[str], entity_rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        self.calls.append((refs, entity_rows))
        names = [r.split(":", 1)[1] for r in refs]
        return {f: [STORE.get(r["customer_id"], {}).get(f) for r in entity_rows] for f in names}


def join(charges_required: bool = True) -> tuple[FeatureJoin, FakeFetcher]:
    signature = [ColumnSpec(name="charges", type="double", required=charges_required),
                 ColumnSpec(name="channel", type="long"),  # a request-time input
                 ColumnSpec(name="tenure", type="long")]
    fetcher = FakeFetcher()
    binding = FeatureBinding(fetcher="x:y", config={}, refs=REFS,
                             entity_keys={"customer_id": "long"})
    return FeatureJoin(binding, fetcher, signature), fetcher


def test_request_carries_keys_and_request_time_inputs_and_gets_signature_order() -> None:
    j, fetcher = join()
    assert [c.name for c in j.request_columns()] == ["customer_id", "channel"]
    cols = j.model_columns({"customer_id": [1, 1], "channel": [0, 4]})
    assert list(cols) == ["charges", "channel", "tenure"]
    assert cols == {"charges": [20.5, 20.5], "channel": [0, 4], "tenure": [10, 10]}
    assert fetcher.calls == [(REFS, [{"customer_id": 1}, {"customer_id": 1}])]


def test_an_unknown_entity_is_not_found_naming_its_key() -> None:
    j, _ = join()
    with pytest.raises(FeatureNotFound, match=r"customer_id=99 in \['stats@v2'\]") as e:
        j.model_columns({"customer_id": [1, 99], "channel": [0, 0]})
    assert e.value.details["unknown_entities"] == [{"customer_id": 99}]


def test_a_null_in_a_required_feature_is_refused_naming_ref_and_entity() -> None:
    j, _ = join(charges_required=True)
    with pytest.raises(InvalidInput, match=r"stats@v2:charges for customer_id=2") as e:
        j.model_columns({"customer_id": [1, 2, 3], "channel": [0, 0, 0]})
    # tenure is required too (the signature says so): entity 3 is named as well
    assert {p["feature_ref"] for p in e.value.details["problems"]} == set(REFS)


def test_a_null_in_an_optional_feature_reaches_the_model_as_missing() -> None:
    signature = [ColumnSpec(name="tenure", type="long", required=False),
                 ColumnSpec(name="charges", type="double", required=False)]
    binding = FeatureBinding(fetcher="x:y", config={}, refs=REFS,
                             entity_keys={"customer_id": "long"})
    j = FeatureJoin(binding, FakeFetcher(), signature)
    seen = {}

    def model(frame: Any) -> list[int]:
        seen["frame"] = frame
        return [0] * len(frame)

    plane = DataPlane(signature, model)
    assert plane.predict(j.model_columns({"customer_id": [2, 3]})) == [0, 0]
    frame = seen["frame"]
    assert frame["charges"].isna().tolist() == [True, False]
    assert frame["tenure"].isna().tolist() == [False, True]


def test_a_value_older_than_its_views_ttl_is_served_and_counted_with_the_misses() -> None:
    fj, fetcher = join(charges_required=False)
    plain = fetcher.fetch

    def with_staleness(refs: list[str], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        out = plain(refs, rows)
        out["tenure" + STALE_SUFFIX] = [r["customer_id"] == 1 for r in rows]  # 1's is old
        return out

    fetcher.fetch = with_staleness  # type: ignore[method-assign]
    columns, misses = fj.joined({"customer_id": [1, 2], "channel": [0, 1]})
    assert columns["tenure"] == [10, 3]  # still served
    assert misses == [["tenure"], ["charges"]]


def test_the_feast_fetcher_marks_values_older_than_the_views_ttl() -> None:
    import time

    from ferry_platform.features._feast import OnlineFetcher

    now = time.time()

    class Store:
        def online(self, refs: list[str], rows: list[dict[str, Any]],
                   timestamps: bool = False) -> dict[str, list[Any]]:
            assert timestamps
            return {"spend": [1.0, 2.0, None], "spend__ts": [now - 10, now - 7200, 0],
                    "plan": ["a", "b", None], "plan__ts": [now - 10, now - 7200, 0]}

        def ttl_s(self, view: str) -> float | None:
            return {"stats": 3600.0, "plans": None}[view]

    fetcher = OnlineFetcher.__new__(OnlineFetcher)
    fetcher._features, fetcher._ttls = Store(), {}  # type: ignore[assignment]
    got = fetcher.fetch(["stats@v2:spend", "plans@v1:plan"], [{"id": i} for i in range(3)])
    assert got["spend" + STALE_SUFFIX] == [False, True, False]  # nothing found: a miss, not stale
    assert "plan" + STALE_SUFFIX not in got and got["plan"] == ["a", "b", None]
