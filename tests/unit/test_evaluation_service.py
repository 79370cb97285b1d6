"""The evaluation service without MLflow: each version is scored on its own pinned
features, joined point-in-time for the same evaluation rows."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ferry_contract import ColumnSpec, ModelVersionPublic
from ferry_platform.evaluation import EvaluationService


class Store:
    def __init__(self, rows: pd.DataFrame) -> None:
        self.rows = rows
        self.saved: list[dict[str, Any]] = []

    def eval_set(self, model: str, version: int | None = None) -> tuple[dict[str, Any], Any]:
        return {"version": 3, "label": "y", "task": "classification", "slice_column": None}, \
            self.rows

    def champion(self, model: str) -> int | None:
        return 1

    def gate(self, model: str) -> dict[str, Any]:
        return {}

    def load_scorer(self, model: str, version: int) -> tuple[Any, Any, list[Any] | None]:
        column = "spend" if version == 2 else "spend_old"

        def proba(frame: pd.DataFrame) -> np.ndarray:
            p = 1 / (1 + np.exp(-(frame[column].to_numpy() - 50) / 10))
            return np.column_stack([1 - p, p])

        return (lambda f: (proba(f)[:, 1] > 0.5).astype(int)), proba, [0, 1]

    def save_evaluation(self, model: str, result: dict[str, Any]) -> str:
        self.saved.append(result)
        return "run-1"


class Versions:
    def get_version(self, name: str, version: int) -> ModelVersionPublic:
        feature = "spend" if version == 2 else "spend_old"
        view = "stats@v2" if version == 2 else "stats@v1"
        return ModelVersionPublic(
            name=name, version=version, run_id="r", model_uri="m", framework="sklearn",
            model_digest="d", training_data_digest="t", code_version="c",
            signature=[ColumnSpec(name=feature, type="double")],
            feature_refs=[f"{view}:{feature}"])


class Features:
    def __init__(self, truth: pd.Series) -> None:
        self.truth = truth
        self.calls: list[list[str]] = []

    def training_set(self, features: list[str], entities: pd.DataFrame) -> Any:
        self.calls.append(features)
        column = features[0].split(":")[1]
        # v2's feature is the truth; v1's is a noisy older version of it
        noise = 0 if column == "spend" else np.random.default_rng(0).normal(0, 40, len(entities))
        frame = entities.assign(**{column: self.truth.to_numpy() + noise})
        return SimpleNamespace(frame=frame)


def test_each_version_meets_its_own_pinned_features_on_the_same_rows() -> None:
    rng = np.random.default_rng(1)
    n = 1500
    spend = pd.Series(rng.normal(50, 20, n))
    rows = pd.DataFrame({"customer_id": np.arange(n),
                         "event_timestamp": pd.Timestamp("2026-01-01", tz="UTC"),
                         "y": (spend + rng.normal(0, 5, n) > 50).astype(int)})
    features = Features(spend)
    service = EvaluationService(Store(rows), Versions(), features)
    result = service.evaluate("churn", 2)
    assert features.calls == [["stats@v2:spend"], ["stats@v1:spend_old"]]
    assert result.against == 1 and result.eval_set_version == 3
    assert result.metrics["candidate"]["roc_auc"] > result.metrics["champion"]["roc_auc"] + 0.05
    assert result.passed and result.run_id == "run-1"
