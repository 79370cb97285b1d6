"""Schemas of production monitoring: the training reference a version is registered with,
outcomes logged after the fact, per-deployment thresholds (``set_monitor``), the report of
a window of traffic, and alerts. Shared by the control plane, the SDK and the CLI.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

REQUEST_ID_HEADER = "x-ferry-request-id"
"""HTTP header (and gRPC trailing-metadata key) carrying the id of a prediction request;
join outcomes to predictions with it (``client.log_outcomes``)."""

CLIENT_REQUEST_ID_HEADER = "x-request-id"
"""A client's own request id: used (instead of a generated one) when it is a sane token."""

REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
"""What a client's ``x-request-id`` may look like to be used as the request id."""

MAX_REFERENCE_ROWS = 10_000
"""Rows a training reference sample may hold (the SDK sends at most 2,000)."""

MAX_OUTCOMES = 10_000
"""Outcomes per ``log_outcomes`` call."""

DRIFT_METHODS = ("wasserstein", "jensenshannon", "ks", "chisquare", "z", "psi", "kl_div",
                 "hellinger", "TVD", "anderson", "cramer_von_mises", "ed", "es", "mannw",
                 "t_test", "g_test", "fisher_exact", "empirical_mmd")
"""Evidently's stat tests a monitor may ask for instead of the defaults."""
DISTANCE_METHODS = frozenset({"wasserstein", "jensenshannon", "psi", "kl_div", "hellinger",
                              "TVD", "ed", "empirical_mmd"})
"""Those whose score is a distance (drift above the threshold); the rest give p-values
(drift below it, so a threshold above 1 would call every window drifted)."""

_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_S = 90 * 86400


def window_seconds(window: str) -> float:
    """``"15m"``, ``"1h"``, ``"2d"``, ``"30s"`` in seconds; ValueError naming the rule."""
    match = _WINDOW.match(str(window))
    if not match:
        raise ValueError(f"window {str(window)[:40]!r} is not a duration: use a number and "
                         "a unit s, m, h or d, e.g. '15m', '1h', '7d'")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not 1 <= seconds <= MAX_WINDOW_S:
        raise ValueError(f"window {str(window)[:40]!r} must be between 1s and 90d")
    return seconds


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


Scalar = str | int | float | bool | None


def _scalar_problem(value: Any) -> str | None:
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "not finite"
    return f"a {type(value).__name__}"


class Arm(str, Enum):
    """Which side of the traffic a request met: the serving release (``stable``; ``a`` in
    an A/B test), a canary candidate, the B side of an A/B test, or a shadow copy."""

    stable = "stable"
    canary = "canary"
    a = "a"
    b = "b"
    shadow = "shadow"


# -- the training reference ------------------------------------------------------------------
class ReferenceSample(_Schema):
    """What a model version is monitored against: a uniform sample of its training rows
    with the model's answers on them (computed where the model was trained, by the SDK), and
    the full training data's ranges and categories. Sent with the lineage at registration;
    each release of the version keeps the reference computed from it."""

    rows_total: int = Field(ge=1, description="rows of the whole training set")
    columns: dict[str, list[Scalar]] = Field(
        description="feature -> sampled values (the model's inputs, in any order)")
    target: str | None = Field(default=None, max_length=200)
    labels: list[Scalar] | None = Field(default=None, description="the sample's true labels")
    predictions: list[Scalar] | None = Field(default=None,
                                             description="the model's answers on the sample")
    probabilities: list[list[float]] | None = Field(
        default=None, description="class probabilities per sampled row (classifiers)")
    classes: list[Scalar] | None = Field(default=None, description="probabilities' classes")
    ranges: dict[str, list[float]] = Field(
        default_factory=dict, description="numeric feature -> [min, max] over all rows")
    categories: dict[str, list[str]] = Field(
        default_factory=dict, description="text feature -> its values over all rows (≤ 1000)")

    @model_validator(mode="after")
    def _check(self) -> ReferenceSample:
        problems: list[str] = []
        lengths = {len(v) for v in self.columns.values()}
        if not self.columns:
            problems.append("columns is empty")
        if len(lengths) > 1:
            problems.append(f"columns hold different numbers of rows: {sorted(lengths)}")
        n = lengths.pop() if len(lengths) == 1 else 0
        if n > MAX_REFERENCE_ROWS:
            problems.append(f"{n} sampled rows; at most {MAX_REFERENCE_ROWS}")
        if len(self.columns) > 2000:
            problems.append("more than 2,000 columns")
        for name, values in self.columns.items():
            bad = next((p for p in map(_scalar_problem, values) if p), None)
            if bad:
                problems.append(f"column {name[:60]!r} holds {bad} (values must be JSON scalars)")
        for field in ("labels", "predictions"):
            values = getattr(self, field)
            if values is not None and len(values) != n:
                problems.append(f"{field} holds {len(values)} values for {n} rows")
            if values is not None:
                bad = next((p for p in map(_scalar_problem, values) if p), None)
                if bad:
                    problems.append(f"{field} hold {bad}")
        if self.probabilities is not None:
            if len(self.probabilities) != n:
                problems.append(f"probabilities hold {len(self.probabilities)} rows for {n}")
            width = len(self.classes or [])
            if not width or any(len(p) != width for p in self.probabilities):
                problems.append("each probabilities row needs one value per class in classes")
            if any(not math.isfinite(x) for p in self.probabilities for x in p):
                problems.append("probabilities must be finite")
        for name, pair in self.ranges.items():
            if len(pair) != 2 or not all(math.isfinite(x) for x in pair) or pair[0] > pair[1]:
                problems.append(f"ranges[{name[:60]!r}] must be [min, max], finite")
        for name, seen in self.categories.items():
            if len(seen) > 1000:
                problems.append(f"categories[{name[:60]!r}]: at most 1000 values")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# -- outcomes --------------------------------------------------------------------------------
class OutcomeCreate(_Schema):
    """The truth about one answered request, known later: its label and/or a business value
    (spend, revenue, a click...). ``row``: which row of a batch request (default 0)."""

    request_id: str = Field(min_length=1, max_length=64)
    label: Any = Field(default=None, description="the true label (a JSON scalar of the "
                                                 "model's label type)")
    value: float | None = Field(default=None, allow_inf_nan=False,
                                description="business value of this request's outcome")
    row: int = Field(0, ge=0, le=9_999)

    @model_validator(mode="after")
    def _something(self) -> OutcomeCreate:
        if self.label is None and self.value is None:
            raise ValueError("an outcome needs a label, a value, or both")
        return self


class OutcomesCreate(_Schema):
    outcomes: list[OutcomeCreate] = Field(min_length=1, max_length=MAX_OUTCOMES)


class OutcomesPublic(_Schema):
    """What happened to a batch of outcomes: unknown request ids are counted and named
    (the rest of the batch is recorded), not an error for the whole batch."""

    deployment: str
    received: int
    recorded: int
    unknown: int = Field(description="outcomes whose request id (and row) is not in the "
                                     "prediction log of this deployment")
    unknown_request_ids: list[str] = Field(default_factory=list,
                                           description="the first 100 of them")


# -- thresholds --------------------------------------------------------------------------------
class CanaryAnalysis(_Schema):
    """How a canary or A/B candidate is judged against the stable arm, every ``interval_s``
    once it has ``min_requests`` requests at its current weight. ``failures`` failed checks
    roll it back automatically; with ``steps`` each passed check moves its weight to the
    next step, and with ``promote`` the last passed step promotes it (through the gate)."""

    max_error_rate: float = Field(0.02, ge=0, le=1, allow_inf_nan=False,
                                  description="failed requests (5xx) of the candidate, share")
    max_p99_ms: float | None = Field(None, gt=0, allow_inf_nan=False,
                                     description="the candidate's p99 latency, ms")
    max_prediction_drift: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="drift score of the candidate's predictions against the stable arm's "
                    "(the default method's scale); null: not checked")
    business_value: bool = Field(
        True, description="fail when outcomes show the candidate's mean value below the "
                          "stable arm's (the 95% interval of the difference below zero)")
    min_requests: int = Field(100, ge=1, le=10_000_000,
                              description="requests of the candidate at its current weight "
                                          "before a check counts")
    interval_s: float = Field(60.0, ge=1, le=86_400, allow_inf_nan=False)
    failures: int = Field(2, ge=1, le=100, description="failed checks that roll back")
    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=list, max_length=20,
        description="weights to step up to on passed checks, e.g. [25, 50]")
    promote: bool = Field(False, description="promote after the last step passes")

    @model_validator(mode="after")
    def _steps(self) -> CanaryAnalysis:
        if self.steps != sorted(set(self.steps)):
            raise ValueError(f"steps {self.steps} must be increasing weights between 1 and 100")
        return self


class MonitorUpdate(_Schema):
    """Thresholds of one deployment's monitoring; missing fields keep their defaults."""

    drift_threshold: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="per-feature drift threshold of the stat test (a distance for "
                    "Wasserstein / Jensen-Shannon / PSI: drift above it; a p-value for KS / "
                    "chi-squared: drift below it); null: the method's own default")
    drift_method: str | None = Field(
        None, description="a stat test for every feature instead of Evidently's defaults, "
                          "one of " + ", ".join(DRIFT_METHODS))
    null_rate_max: float = Field(0.05, ge=0, le=1, allow_inf_nan=False,
                                 description="null rate above the training data's, share")
    out_of_range_max: float = Field(0.05, ge=0, le=1, allow_inf_nan=False,
                                    description="numbers outside the training range, share")
    unseen_category_max: float = Field(0.05, ge=0, le=1, allow_inf_nan=False,
                                       description="categories the training data lacked, share")
    slice_gap_max: float = Field(0.1, ge=0, le=1, allow_inf_nan=False,
                                 description="gap between the best and worst group of a "
                                             "slice column (accuracy, TPR, FPR, positive rate)")
    slice_columns: list[str] | None = Field(
        None, max_length=20, description="columns whose groups are compared; null: the "
                                         "evaluation set's slice column, if any")
    min_slice_rows: int = Field(30, ge=1, le=10_000_000,
                                description="labelled rows a group needs to be compared")
    error_rate_max: float | None = Field(0.05, ge=0, le=1, allow_inf_nan=False,
                                         description="failed requests (5xx), share")
    p99_ms_max: float | None = Field(None, gt=0, allow_inf_nan=False)
    skew_max: float = Field(0.05, ge=0, le=1, allow_inf_nan=False,
                            description="share of served feature values that differ from "
                                        "the offline store's for the same entity and time")
    min_rows: int = Field(100, ge=1, le=10_000_000,
                          description="rows a window needs before drift is scored")
    canary_analysis: CanaryAnalysis | None = Field(
        None, description="judge canaries and A/B candidates automatically; null: off")

    @model_validator(mode="after")
    def _method(self) -> MonitorUpdate:
        if self.drift_method is not None and self.drift_method not in DRIFT_METHODS:
            raise ValueError(f"drift_method {self.drift_method!r} is not one of "
                             f"{', '.join(DRIFT_METHODS)}")
        if self.drift_threshold is not None and self.drift_threshold > 1 and \
                self.drift_method not in DISTANCE_METHODS:
            uses = (f"{self.drift_method!r} gives a p-value" if self.drift_method else
                    "Evidently's defaults give p-values for small references")
            raise ValueError(
                f"drift_threshold {self.drift_threshold} is above 1, but {uses}: every "
                "window would drift. Give a p-value in (0, 1] (e.g. 0.05), or a distance "
                f"method ({', '.join(sorted(DISTANCE_METHODS))}) with drift_method")
        return self


class MonitorPublic(MonitorUpdate):
    deployment: str
    updated_at: datetime | None = None
    updated_by: str | None = None


# -- the report --------------------------------------------------------------------------------
class Drift(_Schema):
    """One column's drift in a window against the release's reference."""

    column: str
    method: str | None = None
    score: float | None = None
    threshold: float | None = None
    drifted: bool = False
    status: str = Field("ok", description="ok, not_enough_data or no_reference")
    rows: int = 0
    message: str = ""
    p_value: float | None = Field(
        None, description="distances past their threshold: the permutation test's p-value "
                          "(drift needs p <= 0.02: beyond the window's sampling noise)")


class FeatureHealth(_Schema):
    """Fragility of one feature in a window."""

    column: str
    rows: int
    null_rate: float
    reference_null_rate: float | None = None
    out_of_range_rate: float | None = None
    unseen_category_rate: float | None = None
    unseen_examples: list[str] = Field(default_factory=list)
    lookup_miss_rate: float | None = Field(
        None, description="feature-backed models: rows whose online lookup found no value, "
                          "or a value older than its view's TTL (stale)")


class Skew(_Schema):
    """Training-serving skew of one served feature: the online value served vs the offline
    store's value for the same entity at the same time."""

    column: str
    compared: int
    mismatch_rate: float | None = None
    mean_abs_diff: float | None = None


class ServiceStats(_Schema):
    requests: int = 0
    rows: int = 0
    errors: int = Field(0, description="answers with a 5xx status")
    error_rate: float | None = None
    rejected: int = Field(0, description="answers with a 4xx status")
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    status_counts: dict[str, int] = Field(default_factory=dict)
    schema_violations: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="refused requests by column and reason")


class SliceGroup(_Schema):
    column: str
    group: str
    rows: int
    labelled: int
    positive_rate: float | None = None
    tpr: float | None = None
    fpr: float | None = None
    accuracy: float | None = None


class SliceGap(_Schema):
    column: str
    metric: str
    gap: float
    best: str
    worst: str
    significant: bool = Field(description="the gap is beyond the noise of the groups' sizes")
    z: float | None = None


class ArmValue(_Schema):
    """The business value of one arm: mean per request with an outcome value and its 95%
    interval (Student's t); for a candidate arm, its difference to the stable arm (Welch)."""

    arm: str
    release_id: str
    n: int
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    lift: float | None = Field(None, description="mean minus the stable arm's mean")
    lift_ci_low: float | None = None
    lift_ci_high: float | None = None


class ReleaseReport(_Schema):
    release_id: str
    model: str = ""
    version: int | None = None
    arms: list[str] = Field(default_factory=list)
    rows: int = 0
    service: ServiceStats = Field(default_factory=ServiceStats)
    reference: bool = Field(False, description="a training reference was recorded")
    drift: list[Drift] = Field(default_factory=list)
    prediction_drift: list[Drift] = Field(default_factory=list)
    fragility: list[FeatureHealth] = Field(default_factory=list)
    skew: list[Skew] = Field(default_factory=list)
    labelled: int = 0
    metrics: dict[str, float | None] = Field(default_factory=dict)
    slices: list[SliceGroup] = Field(default_factory=list)
    slice_gaps: list[SliceGap] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class AlertState(str, Enum):
    open = "open"
    resolved = "resolved"


class AlertPublic(_Schema):
    id: int
    deployment: str
    model: str
    release_id: str | None = None
    kind: str = Field(description="drift, prediction_drift, null_rate, out_of_range, "
                                  "unseen_category, slice_gap, error_rate, p99, skew")
    subject: str = Field("", description="the feature, slice or metric it is about")
    state: AlertState
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    team: str | None = None
    opened_at: datetime
    updated_at: datetime | None = None
    resolved_at: datetime | None = None


class MonitoringReportPublic(_Schema):
    """One window of a deployment's traffic, per release (and arm)."""

    deployment: str
    model: str = ""
    window: str
    start: datetime
    end: datetime
    generated_at: datetime
    releases: list[ReleaseReport] = Field(default_factory=list)
    business_value: list[ArmValue] = Field(default_factory=list)
    alerts: list[AlertPublic] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    files: int = Field(0, description="prediction log files read")
    computed_on: list[str] = Field(
        default_factory=list, description="Ray nodes whose tasks read the log and ran the "
                                          "tests (empty: the control plane's process)")


class MonitoringRun(_Schema):
    """Body of an on-demand monitoring run."""

    window: str = Field("1h", max_length=20,
                        description="how far back from now, e.g. 15m, 1h, 7d")

    @model_validator(mode="after")
    def _window(self) -> MonitoringRun:
        window_seconds(self.window)
        return self
