"""``client.evaluation``: evaluation sets, the gate, evaluations, the champion."""

from __future__ import annotations

from typing import Any

from ferry._deployment import to_columns, to_records
from ferry._features import ENTITY_TIMESTAMP
from ferry._transport import Progress, Transport
from ferry_contract import (
    ChampionUpdate,
    EvalSetCreate,
    EvalSetPublic,
    EvalTask,
    EvaluationCreate,
    EvaluationPublic,
    GateConfig,
    InvalidRequest,
    ModelPublic,
)


class Evaluation:
    """Continuous evaluation: every candidate against its champion and a trivial baseline,
    on a versioned evaluation set, through the model's gate."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def create_eval_set(self, model: str, rows: Any, *, label: str,
                        slice_column: str | None = None, task: EvalTask | str = EvalTask.auto,
                        start: Any = None, end: Any = None, pin: bool = False) -> EvalSetPublic:
        """Upload labelled rows as the model's next evaluation set version.

        ``rows`` (a DataFrame or row dicts) hold the model's inputs, or for a model trained
        on features its entity keys and ``event_timestamp`` (``start``/``end`` keep a
        fixed window of them), plus ``label`` and optionally ``slice_column``, whose
        groups are scored separately so a model worse for one group shows.

        The gate keeps using the set version pinned in it; ``pin=True`` (admins of the
        model's team) also moves the pin to this new version.
        """
        import pandas as pd

        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        if ENTITY_TIMESTAMP in frame.columns:
            frame = frame.assign(**{ENTITY_TIMESTAMP: pd.to_datetime(
                frame[ENTITY_TIMESTAMP], utc=True).map(lambda t: t.isoformat())})
        try:
            body = EvalSetCreate(rows=to_records(to_columns(frame)), label=label,
                                 slice_column=slice_column, task=EvalTask(task),
                                 start=start, end=end)
        except ValueError as e:
            raise InvalidRequest(f"invalid evaluation set: {e}") from e
        created = EvalSetPublic.model_validate(self._transport.request(
            "POST", f"/v1/models/{model}/eval-sets", json=body.model_dump(mode="json")))
        if pin:
            self.set_gate(model, eval_set_version=created.version)
        return created

    def eval_sets(self, model: str) -> list[EvalSetPublic]:
        return [EvalSetPublic.model_validate(e)
                for e in self._transport.request("GET", f"/v1/models/{model}/eval-sets")]

    def gate(self, model: str) -> GateConfig:
        return GateConfig.model_validate(self._transport.request("GET", f"/v1/models/{model}/gate"))

    def set_gate(self, model: str, **fields: Any) -> GateConfig:
        """Change the gate (admins of the model's team): ``primary_metric``,
        ``tolerance``, ``baseline_margin``, ``slice_tolerance``, ``min_slice_rows``,
        ``guardrails`` (a list of ``{"metric", "tolerance", "relative", "vs_baseline"}``;
        None for the task's defaults, [] for none) and ``eval_set_version`` (the pinned
        evaluation set). Unnamed fields keep their current values."""
        try:
            body = GateConfig(**{**self.gate(model).model_dump(), **fields})
        except ValueError as e:
            raise InvalidRequest(f"invalid gate: {e}") from e
        return GateConfig.model_validate(self._transport.request(
            "PUT", f"/v1/models/{model}/gate", json=body.model_dump(mode="json")))

    def evaluate(self, model: str, version: int, *, against: int | None = None,
                 eval_set_version: int | None = None, on_progress: Progress | None = None,
                 timeout_s: float | None = None) -> EvaluationPublic:
        """Evaluate ``version`` against the champion (or ``against``) and a trivial
        baseline on the gate's pinned evaluation set (or ``eval_set_version``: only
        evaluations on the pinned set count for the gate); the result is kept in MLflow."""
        body = EvaluationCreate(version=version, against=against,
                                eval_set_version=eval_set_version).model_dump()
        done = self._transport.run_job("POST", f"/v1/models/{model}/evaluations", body,
                                       on_progress=on_progress, timeout_s=timeout_s)
        return EvaluationPublic.model_validate(done.result)

    def evaluations(self, model: str, version: int | None = None) -> list[EvaluationPublic]:
        params = {"version": version} if version is not None else None
        return [EvaluationPublic.model_validate(e) for e in
                self._transport.request("GET", f"/v1/models/{model}/evaluations", params=params)]

    def compare(self, model: str, base: int, candidate: int, *,
                on_progress: Progress | None = None) -> EvaluationPublic:
        """``candidate`` vs ``base`` vs the baseline, side by side with every gate check;
        evaluates first if that comparison was not run on the current evaluation set."""
        from ferry_contract import NotFound

        try:
            return EvaluationPublic.model_validate(self._transport.request(
                "GET", f"/v1/models/{model}/compare",
                params={"base": base, "candidate": candidate}))
        except NotFound as e:
            if e.details.get("against") != base:
                raise
        return self.evaluate(model, candidate, against=base, on_progress=on_progress)

    def set_champion(self, model: str, version: int, *, reason: str | None = None) -> ModelPublic:
        """Make ``version`` the champion, through its gate (admins may override it with a
        ``reason``, which is audited)."""
        try:
            body = ChampionUpdate(version=version, reason=reason).model_dump()
        except ValueError as e:
            raise InvalidRequest(f"invalid champion change: {e}") from e
        return ModelPublic.model_validate(
            self._transport.request("PUT", f"/v1/models/{model}/champion", json=body))
