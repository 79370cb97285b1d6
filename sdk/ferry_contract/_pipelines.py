"""Pipelines as code: what a team writes (``@step``, ``@pipeline``: markers, no orchestrator)
and what the API says about pipelines and their runs.

The markers are plain Python: calling a decorated pipeline outside Ferry runs it as a
function. Inside a run, the platform's runner installs a :data:`STEP_EXECUTOR` that hands
each step call to the orchestrator (Prefect, on Ray), so neither the SDK nor the team's
module ever imports the orchestrator.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from enum import Enum
from typing import Any, Generic, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

P = ParamSpec("P")
R = TypeVar("R")

PIPELINE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
MODULE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$"
ALERT_PATTERN = r"^[a-z][a-z0-9-]{0,62}:([a-z_]+|\*)$"
ALERT_GROUPS: dict[str, frozenset[str]] = {
    "drift": frozenset({"drift", "prediction_drift"}),
    "performance": frozenset({"slice_gap", "error_rate", "p99", "skew"}),
    "data": frozenset({"null_rate", "out_of_range", "unseen_category"}),
}
"""``on_alert="churn:drift"`` listens to every alert kind of its group; a kind itself
(``churn:p99``) or ``churn:*`` may be given too."""
ALERT_KINDS = frozenset().union(*ALERT_GROUPS.values())


def alert_matches(trigger: str, model: str, kind: str) -> bool:
    """Whether an alert of ``kind`` on ``model`` fires ``trigger`` (``model:kind``)."""
    want_model, _, want = trigger.partition(":")
    return want_model == model and (want in ("*", kind) or kind in ALERT_GROUPS.get(want, ()))


def _check_alert(trigger: str) -> str:
    ok = re.fullmatch(ALERT_PATTERN, trigger)
    kind = trigger.partition(":")[2]
    if not ok or not (kind == "*" or kind in ALERT_GROUPS or kind in ALERT_KINDS):
        raise ValueError(f"on_alert={trigger!r}: give 'model:kind' with kind one of "
                         f"{sorted([*ALERT_GROUPS, *ALERT_KINDS, '*'])}")
    return trigger
MAX_RETRIES = 10


class Overlap(str, Enum):
    """What a run does when the pipeline's previous run has not finished."""

    wait = "wait"  # queued; starts when the previous run ends
    skip = "skip"  # recorded as skipped, never started


class RunState(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"


class Trigger(str, Enum):
    manual = "manual"
    schedule = "schedule"
    alert = "alert"


# -- the markers ----------------------------------------------------------------------
class Step(Generic[P, R]):
    """A step of a pipeline: any Python function. ``retries`` more attempts after a
    failure, ``retry_delay_s`` apart. Called inside a Ferry run, it runs as an orchestrator
    task (on Ray when the platform has it); anywhere else, as the function itself."""

    def __init__(self, fn: Callable[P, R], *, name: str | None = None, retries: int = 0,
                 retry_delay_s: float = 0.0) -> None:
        if not 0 <= retries <= MAX_RETRIES:
            raise ValueError(f"retries={retries}: give 0..{MAX_RETRIES}")
        if retry_delay_s < 0:
            raise ValueError(f"retry_delay_s={retry_delay_s}: give 0 or more seconds")
        self.fn = fn
        self.name = name or fn.__name__
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        executor = STEP_EXECUTOR.get()
        if executor is None:
            return self.fn(*args, **kwargs)
        result: R = executor(self, args, kwargs)
        return result


StepExecutor = Callable[[Step[Any, Any], tuple[Any, ...], dict[str, Any]], Any]
STEP_EXECUTOR: ContextVar[StepExecutor | None] = ContextVar("ferry_step_executor",
                                                             default=None)
"""Set by the platform's runner for the duration of a run; None elsewhere."""


def _check_cron(cron: str) -> str:
    fields = cron.split()
    if len(fields) != 5 or not all(re.fullmatch(r"[0-9*/,\-A-Za-z?LW#]+", f) for f in fields):
        raise ValueError(f"schedule={cron!r} is not a cron expression: give five fields "
                         "'minute hour day-of-month month day-of-week', e.g. '0 3 * * *'")
    return cron


class Pipeline(Generic[P, R]):
    """A pipeline: a function that calls steps. ``schedule`` (cron, UTC) and ``on_alert``
    (``"model:drift"``, ``"model:performance"`` or ``"model:*"``) say when the platform
    starts it; ``overlap`` what happens when a run is due while one is under way."""

    def __init__(self, fn: Callable[P, R], *, name: str | None = None,
                 schedule: str | None = None, on_alert: str | list[str] | None = None,
                 overlap: Overlap | str = Overlap.wait, description: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        if not re.fullmatch(PIPELINE_NAME_PATTERN, self.name):
            raise ValueError(f"pipeline name {self.name!r}: use lowercase letters, digits, "
                             "'_' or '-', starting with a letter (at most 63)")
        self.schedule = _check_cron(schedule) if schedule else None
        alerts = [on_alert] if isinstance(on_alert, str) else list(on_alert or [])
        self.on_alert = [_check_alert(a) for a in alerts]
        self.overlap = Overlap(overlap)
        self.description = description or (fn.__doc__ or "").strip().split("\n")[0]
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)


def step(fn: Callable[P, R] | None = None, *, name: str | None = None, retries: int = 0,
         retry_delay_s: float = 0.0) -> Any:
    """``@step`` or ``@step(retries=2, retry_delay_s=5)``."""
    if fn is not None:
        return Step(fn, name=name, retries=retries, retry_delay_s=retry_delay_s)
    return lambda f: Step(f, name=name, retries=retries, retry_delay_s=retry_delay_s)


def pipeline(fn: Callable[P, R] | None = None, *, name: str | None = None,
             schedule: str | None = None, on_alert: str | list[str] | None = None,
             overlap: Overlap | str = Overlap.wait, description: str | None = None) -> Any:
    """``@pipeline`` or ``@pipeline(schedule="0 3 * * *", on_alert="churn:drift")``."""
    def make(f: Callable[P, R]) -> Pipeline[P, R]:
        return Pipeline(f, name=name, schedule=schedule, on_alert=on_alert, overlap=overlap,
                        description=description)
    return make(fn) if fn is not None else make


# -- the API's schemas ----------------------------------------------------------------
class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PipelineCreate(_Schema):
    """Register (or update) a pipeline: where its code is, when it runs."""

    module: str = Field(pattern=MODULE_PATTERN, max_length=300,
                        description="'package.module:attribute' of the @pipeline function")
    path: str | None = Field(default=None, max_length=1000,
                             description="a directory put first on the run's sys.path (the "
                                         "team's pipeline repository); None: importable as is")
    team: str | None = Field(default=None, description="the owning team (default: the "
                                                       "caller's only team)")
    schedule: str | None = Field(default=None, max_length=100,
                                 description="cron, UTC, e.g. '0 3 * * *'; None: no schedule")
    on_alert: list[str] = Field(default_factory=list, max_length=20,
                                description="alerts that start a run: 'model:drift', "
                                            "'model:performance', 'model:data', "
                                            "'model:<alert kind>', 'model:*'")
    overlap: Overlap = Overlap.wait
    description: str = Field(default="", max_length=500)
    timeout_s: float = Field(default=3600.0, gt=0, le=7 * 86400)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return _check_cron(v) if v else None

    @field_validator("on_alert")
    @classmethod
    def _alerts(cls, v: list[str]) -> list[str]:
        return [_check_alert(a) for a in v]


class PipelinePublic(_Schema):
    name: str
    team: str | None
    module: str
    path: str | None
    schedule: str | None
    on_alert: list[str]
    overlap: Overlap
    description: str
    timeout_s: float
    created_by: str
    updated_by: str = Field(description="who last registered it: its scheduled and "
                                        "alert-triggered runs act as this user")
    revision: int = Field(default=1, description="how many times it was registered")
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime | None = Field(default=None, description="the next scheduled run")
    last_run: PipelineRunPublic | None = None


class PipelineRunCreate(_Schema):
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="keyword arguments of the pipeline function")


class StepRunPublic(_Schema):
    name: str
    state: RunState
    attempts: int = 1
    duration_s: float = 0.0
    error: str | None = None
    data_digest: str | None = Field(default=None, description="digest of a table it returned")
    rows: int | None = None


class PipelineRunPublic(_Schema):
    id: str
    pipeline: str
    state: RunState
    trigger: Trigger
    reason: str = Field(default="", description="who or what started it (user, cron, alert)")
    actor: str = Field(description="the user the run acts as: who started it by hand, or "
                                   "who last registered the pipeline (schedule, alert)")
    revision: int = Field(default=1, description="the pipeline's revision it ran")
    job_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepRunPublic] = Field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None
    failed_step: str | None = None
    mlflow_run_id: str | None = None
    code_version: str | None = None
    data_digest: str | None = None
    registered: list[str] = Field(default_factory=list, description="'model/version' it "
                                                                    "registered")
    evaluations: list[str] = Field(default_factory=list)
    canary: str | None = Field(default=None, description="the deployment it started a canary on")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class MaterializationScheduleUpdate(_Schema):
    """Materialize one feature view on a cron schedule (UTC): each due time loads the
    view's active version for event times since the previous one."""

    cron: str = Field(max_length=100, description="e.g. '0 * * * *' (hourly)")
    lookback_hours: float = Field(default=24.0, gt=0, le=24 * 366,
                                  description="the first run's window (no previous run yet)")

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        return _check_cron(v)


class MaterializationSchedulePublic(_Schema):
    view: str
    cron: str
    lookback_hours: float
    created_by: str
    updated_at: datetime
    last_run_at: datetime | None = Field(default=None, description="the last due time run")
    next_run_at: datetime | None = None


PipelinePublic.model_rebuild()
