"""Joining a request with the pinned online features its model was trained on.

A request carries entity keys (and any request-time inputs); the join reads the pinned
feature versions for those keys and builds the model's input columns in signature order.
Missing values follow the model's signature: a column the signature marks optional (the
training data had nulls in it) gets the null, a required one is refused naming the entity,
the feature and its version.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from ferry_contract import ColumnSpec, FeatureNotFound, InvalidInput
from ferry_platform.core import STALE_SUFFIX, FeatureBinding, request_columns

MAX_SHOWN = 5


class Fetcher(Protocol):
    def fetch(self, refs: list[str], entity_rows: list[dict[str, Any]]) -> dict[str, list[Any]]: ...


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _show(row: dict[str, Any]) -> str:
    return " ".join(f"{k}={v!r}" for k, v in row.items())


class FeatureJoin:
    """Request columns (entity keys + request-time inputs) -> the model's input columns."""

    def __init__(self, binding: FeatureBinding, fetcher: Fetcher,
                 signature: list[ColumnSpec]) -> None:
        self.binding = binding
        self._fetcher = fetcher
        self._signature = signature
        self._views = sorted({r.split(":")[0] for r in binding.refs})
        self._ref_of = {r.split(":", 1)[1]: r for r in binding.refs}
        self._required = {c.name for c in signature if c.required and c.name in self._ref_of}

    def request_columns(self) -> list[ColumnSpec]:
        """What a request must carry: the entity keys and the inputs no view provides."""
        return request_columns(self._signature, self.binding)

    def model_columns(self, columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return self.joined(columns)[0]

    def joined(self, columns: dict[str, list[Any]],
               ) -> tuple[dict[str, list[Any]], list[list[str]]]:
        """The model's input columns, and per row the features the online store had no
        value of (the misses the monitoring counts)."""
        n = len(next(iter(columns.values())))
        keys = list(self.binding.entity_keys)
        rows = [{k: columns[k][i] for k in keys} for i in range(n)]
        fetched = self._fetcher.fetch(self.binding.refs, rows)
        names = self.binding.feature_names
        unknown = [rows[i] for i in range(n) if all(_null(fetched[f][i]) for f in names)]
        if unknown:
            shown = ", ".join(_show(r) for r in unknown[:MAX_SHOWN])
            raise FeatureNotFound(
                f"no features for {shown} in {self._views}; check the entity key, or "
                "materialize the view if the entity is new.",
                details={"unknown_entities": unknown[:100]})
        gaps = [(rows[i], f) for f in names if f in self._required
                for i in range(n) if _null(fetched[f][i])]
        if gaps:
            shown = ", ".join(f"{self._ref_of[f]} for {_show(r)}" for r, f in gaps[:MAX_SHOWN])
            raise InvalidInput(
                f"the online store has no value of {shown}, and the model requires it (its "
                "training data had no nulls there). Materialize current values for these "
                "entities, or retrain on data with nulls in that feature so the model "
                "accepts them.",
                details={"problems": [{"entity": r, "feature_ref": self._ref_of[f],
                                       "problem": "null"} for r, f in gaps[:100]]})
        # a lookup missed if it found nothing, or a value older than its view's TTL (still
        # served: the model was trained on such values too, but the monitoring counts it)
        stale = {f: fetched.get(f + STALE_SUFFIX) or [False] * n for f in names}
        misses: list[list[str]] = [[f for f in names if _null(fetched[f][i]) or stale[f][i]]
                                   for i in range(n)]
        # The store's missing value (NaN) becomes null: the data plane refuses NaN from clients.
        return {c.name: [None if _null(v) else v for v in fetched[c.name]]
                if c.name in self._ref_of else columns[c.name] for c in self._signature}, misses
