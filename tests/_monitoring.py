"""Traffic for monitoring tests: production rows from the hidden generators, written to a
prediction log by the real writer (as the serving processes write it), and the reference
a version registered through the SDK carries."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from _models import FEATURES, sklearn_pipeline, training_frame

from ferry._registration import reference_sample
from ferry_contract import ReferenceSample
from ferry_platform.serving._predlog import Entry, LogConfig, PredictionLog, ReleaseInfo

SIGNATURE = (("tenure", "long"), ("monthly", "double"), ("income", "double"),
             ("tickets", "long"), ("plan", "string"))
"""The churn model's inputs, as the signature types them."""


def churn_reference(model: Any = None) -> ReferenceSample:
    """What registering the churn pipeline through the SDK sends as its reference."""
    train = training_frame()
    sample = reference_sample(model or sklearn_pipeline(), train[FEATURES], train["churned"],
                              "churned")
    assert sample is not None
    return sample


def write_traffic(uri: str, frame: pd.DataFrame, model: Any, *, release_id: str = "churn-v1-a",
                  deployment: str = "churn", version: int = 1, arm: str = "stable",
                  request_prefix: str = "r", status: Sequence[int] | None = None,
                  latency_ms: Sequence[float] | None = None, ts: float | None = None,
                  predictions: Sequence[Any] | None = None,
                  probabilities: bool = True, model_name: str = "churn") -> list[str]:
    """One request per row of ``frame``, answered by ``model`` (or ``predictions``), logged
    as the release's replica logs it; returns the request ids."""
    log = PredictionLog(LogConfig(uri=uri))
    info = ReleaseInfo(model_name, version, release_id, SIGNATURE)
    inputs = frame[FEATURES]
    clean = inputs.astype(object).where(inputs.notna(), None)
    if predictions is None:
        filled = inputs.copy()
        for c in ("tenure", "monthly", "income", "tickets"):
            filled[c] = pd.to_numeric(filled[c]).fillna(0)
        predictions = model.predict(filled).tolist()
        proba = model.predict_proba(filled) if probabilities else None
    else:
        proba = None
    now = time.time() if ts is None else ts
    ids = []
    for i in range(len(frame)):
        rid = f"{request_prefix}{i}"
        ids.append(rid)
        code = 200 if status is None else int(status[i])
        log.record(Entry(
            release=info, ts=now, request_id=rid, deployment=deployment, arm=arm,
            status=code, latency_ms=float(latency_ms[i]) if latency_ms is not None else 2.0,
            rows=1, columns={c: [clean[c].iloc[i]] for c in FEATURES},
            predictions=[predictions[i]] if code == 200 else None,
            probabilities=proba[i:i + 1] if proba is not None and code == 200 else None,
            classes=[0, 1] if proba is not None else None,
            code=None if code == 200 else "model_error"))
    log.flush()
    assert log.dropped == 0
    return ids


def oversample_positives(pool: pd.DataFrame, n: int, positive_share: float,
                         seed: int) -> pd.DataFrame:
    """``n`` rows of ``pool`` with ``positive_share`` churners: a shift of the label prior
    (P(x | y) unchanged)."""
    rng = np.random.default_rng(seed)
    pos, neg = pool[pool["churned"] == 1], pool[pool["churned"] == 0]
    k = int(n * positive_share)
    return pd.concat([pos.iloc[rng.integers(0, len(pos), k)],
                      neg.iloc[rng.integers(0, len(neg), n - k)]]).reset_index(drop=True)
