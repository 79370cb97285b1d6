"""How fragile a model is on its own inputs: feature scales, small perturbations, nulls.

Planned and assessed on the trusted side; the model only answers the planned frames (in
a sandbox, for registered models). Every failure is recorded with its error, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ferry_platform.evaluation._metrics import Answers, Scorer, Task, answer

BASE = "base"
NUDGE = "nudge:"
NULL = "null:"


@dataclass
class RobustnessPlan:
    """The frames a model is asked to answer: a sample of its inputs (``base``), the
    sample with 1% noise on one numeric feature (``nudge:<col>``), and 50 rows with one
    input null (``null:<col>``)."""

    frames: dict[str, Any] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)


def robustness_plan(frame: Any, *, sample: int = 500, seed: int = 0) -> RobustnessPlan:
    import pandas as pd

    if len(frame) > sample:
        frame = frame.sample(sample, random_state=seed)
    frame = frame.reset_index(drop=True)
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    plan = RobustnessPlan(stds={c: float(frame[c].std(skipna=True) or 0.0) for c in numeric})
    plan.frames[BASE] = frame
    rng = np.random.default_rng(seed)
    for col in numeric:
        if plan.stds[col] <= 0:
            continue
        nudged = frame.copy()
        noise = rng.normal(0.0, 0.01 * plan.stds[col], size=len(frame))
        nudged[col] = nudged[col].astype("float64") + noise
        plan.frames[NUDGE + str(col)] = nudged
    for col in frame.columns:
        holed = frame.copy()
        holed[col] = None if not pd.api.types.is_numeric_dtype(frame[col]) else np.nan
        plan.frames[NULL + str(col)] = holed.head(50)
    return plan


def robustness_report(task: Task, plan: RobustnessPlan,
                      answers: Mapping[str, Answers]) -> dict[str, Any]:
    """What the model's answers to the planned frames say about it."""
    spread = [s for s in plan.stds.values() if s > 0]
    out: dict[str, Any] = {"scales": {
        "std": plan.stds,
        "ratio": (max(spread) / min(spread)) if spread else None,
    }}
    base = answers.get(BASE, Answers(error="not answered"))
    if base.error is not None:
        return {**out, "error": base.error[:300]}
    base_labels = _labels(base)
    sensitivity: dict[str, float | str] = {}
    for key in plan.frames:
        if not key.startswith(NUDGE):
            continue
        col = key.removeprefix(NUDGE)
        moved = answers.get(key, Answers(error="NotAnswered: no answer"))
        if moved.error is not None:
            sensitivity[col] = f"error: {moved.error.split(':', 1)[0]}"
            continue
        sensitivity[col] = _change(task, base_labels, _labels(moved))
    out["perturbation"] = {
        "noise": "1% of the feature's std",
        "changed": sensitivity,
        "max": max((v for v in sensitivity.values() if isinstance(v, float)), default=0.0),
    }
    nulls: dict[str, str] = {}
    for key in plan.frames:
        if key.startswith(NULL):
            holed = answers.get(key, Answers(error="NotAnswered: no answer"))
            nulls[key.removeprefix(NULL)] = "ok" if holed.error is None else \
                f"error: {_short(holed.error)}"
    out["nulls"] = nulls
    return out


def robustness(task: Task, scorer: Scorer, *, sample: int = 500,
               seed: int = 0) -> dict[str, Any]:
    """Robustness of an in-process model (the same plan and report as a sandboxed one)."""
    plan = robustness_plan(scorer.frame, sample=sample, seed=seed)
    return robustness_report(task, plan, {key: answer(scorer, proba=False, frame=frame)
                                          for key, frame in plan.frames.items()})


def _labels(a: Answers) -> np.ndarray:
    labels = np.asarray(a.labels)
    return labels.reshape(len(labels), -1)[:, 0] if labels.ndim > 1 else labels


def _short(error: str) -> str:
    kind, _, text = error.partition(": ")
    return f"{kind}: {text[:120]}" if text else kind


def _change(task: Task, a: np.ndarray, b: np.ndarray) -> float | str:
    """Share of changed labels (classification) or mean relative change (regression)."""
    if len(a) != len(b):
        return f"error: answered {len(b)} rows for {len(a)}"
    if task == "classification":
        return float(np.mean(a.astype(str) != b.astype(str)))
    a_f, b_f = a.astype("float64"), b.astype("float64")
    scale = float(np.mean(np.abs(a_f))) or 1.0
    return float(np.mean(np.abs(a_f - b_f)) / scale)
