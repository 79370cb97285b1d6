"""Continuous evaluation as a use case: evaluation sets, evaluations, gates, the champion.

A version is evaluated on the model's current evaluation set against the champion (or a
chosen reference version) and a trivial baseline, on the same rows; for a model trained
on Feast features each version gets its own pinned features joined point-in-time for
those rows. Results are stored in MLflow; the gate decides who may become champion.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from typing import Protocol as TypingProtocol

from ferry_contract import (
    EvalSetCreate,
    EvalSetPublic,
    EvaluationPublic,
    GateConfig,
    GateFailed,
    InvalidRequest,
    ModelVersionPublic,
    NotFound,
)
from ferry_platform.evaluation import _metrics as m

log = logging.getLogger("ferry.evaluation")

Progress = Callable[[str, int], None]
ENTITY_TIMESTAMP = "event_timestamp"


class EvaluationStore(TypingProtocol):
    def save_eval_set(self, model: str, frame: Any, meta: dict[str, Any]) -> dict[str, Any]: ...

    def eval_sets(self, model: str) -> list[dict[str, Any]]: ...

    def eval_set(self, model: str, version: int | None = None) -> tuple[dict[str, Any], Any]: ...

    def save_evaluation(self, model: str, result: dict[str, Any]) -> str: ...

    def evaluations(self, model: str, version: int | None = None, against: int | None = None,
                    eval_set: int | None = None, limit: int = 20) -> list[dict[str, Any]]: ...

    def gate(self, model: str) -> dict[str, Any]: ...

    def set_gate(self, model: str, config: dict[str, Any]) -> None: ...

    def champion(self, model: str) -> int | None: ...

    def set_champion(self, model: str, version: int) -> None: ...

    def load_scorer(self, model: str, version: int) -> tuple[Any, Any, list[Any] | None]: ...


class Versions(TypingProtocol):
    def get_version(self, name: str, version: int) -> ModelVersionPublic: ...


class TrainingSets(TypingProtocol):
    def training_set(self, features: list[str], entities: Any) -> Any: ...


class EvaluationService:
    def __init__(self, store: EvaluationStore, versions: Versions,
                 features: TrainingSets | None = None) -> None:
        self._store = store
        self._versions = versions
        self._features = features

    # -- evaluation sets --------------------------------------------------------------
    def create_eval_set(self, model: str, body: EvalSetCreate) -> EvalSetPublic:
        import pandas as pd

        try:
            frame = pd.DataFrame(body.rows)
        except (ValueError, TypeError) as e:
            raise InvalidRequest(f"the rows do not form a table: {e}") from e
        problems = [c for c in (body.label, body.slice_column) if c and c not in frame.columns]
        if problems:
            raise InvalidRequest(
                f"column(s) {problems} are not in the rows; they have {sorted(frame.columns)}",
                details={"missing": problems})
        if frame[body.label].isna().any():
            raise InvalidRequest(
                f"label {body.label!r} is null in {int(frame[body.label].isna().sum())} row(s); "
                "every evaluation row needs its true outcome")
        if body.start or body.end:
            if ENTITY_TIMESTAMP not in frame.columns:
                raise InvalidRequest(f"a window (start/end) needs an {ENTITY_TIMESTAMP!r} column")
            try:
                times = pd.to_datetime(frame[ENTITY_TIMESTAMP], utc=True)
            except (ValueError, TypeError) as e:
                raise InvalidRequest(f"{ENTITY_TIMESTAMP!r} holds values that are not "
                                     f"times: {e}") from e
            keep = pd.Series(True, index=frame.index)
            if body.start:
                keep &= times >= _utc(body.start)
            if body.end:
                keep &= times < _utc(body.end)
            frame = frame[keep].reset_index(drop=True)
        if len(frame) < 10:
            raise InvalidRequest(f"only {len(frame)} rows are left in the window; an evaluation "
                                 "set needs at least 10")
        task = m.infer_task(frame[body.label]) if body.task.value == "auto" else body.task.value
        try:
            digest = hashlib.sha256(
                pd.util.hash_pandas_object(frame, index=False).values.tobytes()).hexdigest()[:16]
        except TypeError as e:
            raise InvalidRequest(f"the rows hold values that are not plain numbers, strings or "
                                 f"booleans (e.g. nested lists): {e}") from e
        meta = self._store.save_eval_set(model, frame, {
            "label": body.label, "task": task, "slice_column": body.slice_column,
            "digest": digest, "rows": len(frame), "columns": list(frame.columns),
            "start": body.start.isoformat() if body.start else None,
            "end": body.end.isoformat() if body.end else None,
            "created_at": datetime.now(UTC).isoformat()})
        return EvalSetPublic.model_validate(meta)

    def eval_sets(self, model: str) -> list[EvalSetPublic]:
        return [EvalSetPublic.model_validate(s) for s in self._store.eval_sets(model)]

    # -- gates --------------------------------------------------------------------------
    def gate_config(self, model: str) -> GateConfig:
        return GateConfig.model_validate(self._store.gate(model))

    def set_gate_config(self, model: str, config: GateConfig) -> GateConfig:
        self._store.set_gate(model, config.model_dump())
        return config

    def champion(self, model: str) -> int | None:
        return self._store.champion(model)

    # -- evaluating ---------------------------------------------------------------------
    def _frame_for(self, mv: ModelVersionPublic, rows: Any) -> Any:
        """The version's own inputs for the evaluation rows (its pinned features joined
        point-in-time, when it was trained on features)."""
        columns = [c.name for c in mv.signature]
        if mv.feature_refs:
            if self._features is None:
                raise InvalidRequest(f"{mv.name} v{mv.version} needs features; no feature "
                                     "store is configured")
            frame = self._features.training_set(mv.feature_refs, rows).frame
        else:
            frame = rows
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InvalidRequest(
                f"the evaluation set lacks {missing}, inputs of {mv.name} v{mv.version}; it "
                f"has {sorted(frame.columns)}. Upload a set with these columns (or the "
                "entity keys and event_timestamp of its features).",
                details={"missing": missing})
        return frame[columns]

    def evaluate(self, model: str, version: int, against: int | None = None,
                 progress: Progress | None = None) -> EvaluationPublic:
        say = progress or (lambda msg, _pct: log.info(msg))
        say(f"loading the evaluation set of {model}", 5)
        meta, rows = self._store.eval_set(model)
        reference = against if against is not None else self._store.champion(model)
        if reference == version:
            reference = None
        gate = self.gate_config(model)
        config = m.GateConfig(primary_metric=gate.primary_metric, tolerance=gate.tolerance,
                              baseline_margin=gate.baseline_margin,
                              slice_column=meta.get("slice_column"),
                              slice_tolerance=gate.slice_tolerance,
                              min_slice_rows=gate.min_slice_rows)
        scorers = []
        for who, v in (("candidate", version), ("champion", reference)):
            if v is None:
                continue
            say(f"loading {model} v{v} ({who})", 20 if who == "candidate" else 35)
            mv = self._versions.get_version(model, v)
            predict, proba, classes = self._store.load_scorer(model, v)
            scorers.append(m.Scorer(who, predict, self._frame_for(mv, rows), proba, classes))
        label = meta["label"]
        slice_column = meta.get("slice_column")
        say(f"scoring {len(rows)} rows ({'5-fold' if len(rows) <= m.SMALL_DATA_ROWS else 'one pass'})",
            55)
        try:
            result = m.evaluate(meta["task"], rows[label], scorers,
                                slices=rows[slice_column] if slice_column else None,
                                gate=config)
        except (ValueError, TypeError, KeyError) as e:
            raise InvalidRequest(
                f"{model} v{version} cannot be scored on evaluation set v{meta['version']}: "
                f"{type(e).__name__}: {e}. Check that the label {label!r} holds what the "
                "model predicts.", details={"model": model, "version": version}) from e
        say("robustness checks: scales, perturbation, nulls", 75)
        result.robustness["candidate"] = m.robustness(meta["task"], scorers[0])
        checks = m.gates(result, config, "champion" if reference is not None else None)
        public = EvaluationPublic(
            model=model, version=version, against=reference,
            eval_set_version=int(meta["version"]), task=result.task,
            primary_metric=result.primary_metric, rows=result.rows, folds=result.folds,
            metrics=result.metrics, std=result.std, per_class=result.per_class,
            slices=result.slices, robustness=_plain(result.robustness),
            gates=checks, passed=all(c["passed"] for c in checks), gate=gate,
            created_at=datetime.now(UTC))
        say("storing the evaluation in MLflow", 90)
        run_id = self._store.save_evaluation(model, public.model_dump(mode="json"))
        say(f"{model} v{version}: {'passed' if public.passed else 'failed'} its gate", 100)
        return public.model_copy(update={"run_id": run_id})

    def evaluations(self, model: str, version: int | None = None,
                    against: int | None = None) -> list[EvaluationPublic]:
        return [EvaluationPublic.model_validate(e)
                for e in self._store.evaluations(model, version, against)]

    def latest(self, model: str, version: int, against: int | None) -> EvaluationPublic | None:
        """The newest evaluation of ``version`` against ``against`` on the current set."""
        try:
            meta = self._store.eval_sets(model)[0]
        except IndexError:
            return None
        found = self._store.evaluations(model, version, against, eval_set=int(meta["version"]),
                                        limit=1)
        if not found:
            return None
        e = EvaluationPublic.model_validate(found[0])
        return e if e.against == against else None

    def compare(self, model: str, base: int, candidate: int) -> EvaluationPublic:
        found = self.latest(model, candidate, base)
        if found is None:
            raise NotFound(
                f"{model} v{candidate} has not been evaluated against v{base} on the current "
                f"evaluation set. Run: ferry eval run {model} {candidate} --against {base}",
                details={"model": model, "version": candidate, "against": base})
        return found

    # -- the gate ----------------------------------------------------------------------
    def eval_set_required(self, model: str) -> None:
        self._store.eval_set(model)  # raises NotFound naming how to create one

    def has_eval_set(self, model: str) -> bool:
        return bool(self._store.eval_sets(model))

    def require_passed(self, model: str, version: int, evaluation: EvaluationPublic | None,
                       action: str) -> None:
        if evaluation is None:
            raise GateFailed(
                f"{model} v{version} has no evaluation against the current champion; "
                f"evaluate it first: ferry eval run {model} {version}",
                details={"model": model, "version": version})
        if not evaluation.passed:
            failing = [c for c in evaluation.gates if not c.passed]
            raise GateFailed(
                f"{model} v{version} failed its gate, so it cannot {action}: "
                + "; ".join(c.detail for c in failing)
                + ". An admin may override with a reason.",
                details={"model": model, "version": version,
                         "failed": [c.model_dump() for c in failing],
                         "evaluation_run_id": evaluation.run_id})

    def set_champion(self, model: str, version: int) -> None:
        self._store.set_champion(model, version)


def _utc(moment: datetime) -> Any:
    import pandas as pd

    ts = pd.Timestamp(moment)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _plain(value: Any) -> Any:
    """JSON-safe copy (numpy scalars, dataclasses) of a robustness record."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "__dataclass_fields__"):
        return _plain(asdict(value))
    return value
