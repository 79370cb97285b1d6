"""Nightly retraining of churn-pl: training set → train → register → evaluate against the
champion and the baseline → a canary only if the gate passes and the candidate gains.

The training set comes from the tests' hidden generator (``synth_gen``, a copy of
tests/_synth.py put beside this package by the test) where a real team reads its pinned
features (``ferry.Client().training_set([...], entities)``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ferry
from ferry import pipeline, step

MODEL = "churn-pl"
FEATURES = ["tenure", "monthly", "income", "tickets"]


@step
def training_set(seed: int, shift: float, drifted: bool = False, rows: int = 3000) -> Any:
    from synth_gen import churn, churn_drifted

    frame = churn_drifted(rows, seed) if drifted else churn(rows, seed,
                                                            positive_rate_shift=shift)
    return frame[FEATURES + ["churned"]]


@step(retries=1)
def train(frame: Any) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        frame[FEATURES], frame["churned"])


@step
def register(model: Any, frame: Any, name: str = MODEL) -> int:
    return ferry.Client().register(model, name=name, training_data=frame,
                                   target="churned").version


@step
def evaluate(version: int, name: str = MODEL) -> dict[str, Any]:
    ev = ferry.Client().evaluate(name, version)
    primary = ev.primary_metric
    champion = ev.metrics.get("champion", {}).get(primary)
    candidate = ev.metrics["candidate"][primary]
    return {"passed": ev.passed, "metric": primary, "candidate": candidate,
            "champion": champion, "gain": candidate - (champion or 0.0)}


@step
def canary(version: int, deployment: str, weight: int) -> str:
    ferry.Client().rollout(deployment, version=version, canary=weight)
    return deployment


@pipeline(schedule="0 3 * * *", on_alert=f"{MODEL}:drift")
def retrain_churn(seed: int = 7, shift: float = 0.0, min_gain: float = 0.01,
                  deployment: str = MODEL, weight: int = 10, model: str = MODEL,
                  drifted: bool = False) -> dict[str, Any]:
    frame = training_set(seed, shift, drifted)
    version = register(train(frame), frame, model)
    ev = evaluate(version, model)
    go = bool(ev["passed"]) and ev["gain"] >= min_gain
    if go:
        canary(version, deployment, weight)
    return {"version": version, "gain": ev["gain"], ev["metric"]: ev["candidate"],
            "gate": "canary" if go else ("no gain" if ev["passed"] else "failed")}


@step
def load() -> Any:
    import pandas as pd

    return pd.DataFrame({"x": [1, 2, 3]})


@step
def validate(frame: Any) -> None:
    raise ValueError(f"no rows for 2026-12-01 in a frame of {len(frame)}")


@pipeline
def broken() -> None:
    validate(load())


@step(retries=2)
def flaky(marker: str) -> int:
    """Fails on its first attempt (counted in a file), then succeeds."""
    path = Path(marker)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    if seen == 0:
        raise RuntimeError("the feature store was not ready")
    return seen + 1


@pipeline
def retried(marker: str) -> dict[str, int]:
    return {"attempts": flaky(marker)}


@step
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pipeline(overlap="skip", schedule="*/5 * * * *")
def slow(seconds: float = 4.0) -> dict[str, float]:
    return {"slept": nap(seconds)}


@step
def empty() -> None:
    return None


@pipeline
def empty_steps(n: int = 10) -> dict[str, int]:
    """n empty steps (the overhead benchmark)."""
    for _ in range(n):
        empty()
    return {"steps": n}


@pipeline(on_alert="e2e-retrain:drift")
def retrain_after_drift() -> dict[str, Any]:
    """What the drift alert of e2e-retrain starts: retraining on the data as it is now."""
    return retrain_churn.fn(seed=8, model="e2e-retrain", deployment="e2e-retrain",
                            drifted=True)
