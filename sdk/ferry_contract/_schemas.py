"""Request / response schemas of the control-plane HTTP API, shared by server and SDK.

Naming follows one rule: ``<Resource>Create`` / ``<Resource>Update`` for request bodies,
``<Resource>Public`` for what the API returns.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ferry_contract._monitoring import ReferenceSample

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
"""Model and deployment names: lower-case, digits and dashes; they become URL path parts."""


MAX_VERSION = 2**31 - 1
MAX_REPLICAS = 64
"""The most replicas any deploy may name (a platform may allow fewer: FERRY_MAX_REPLICAS)."""
AUTO = "auto"
"""Version numbers fit a 32-bit integer (MLflow stores them as one)."""

MAX_INT32 = 2**31 - 1
"""Bound of every other integer in a request body, path or query (a database column)."""


class Protocol(str, Enum):
    """How clients reach a deployment. ``auto`` serves REST and gRPC and lets the SDK pick."""

    auto = "auto"
    rest = "rest"
    grpc = "grpc"


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnSpec(_Schema):
    name: str
    type: str = Field(description="MLflow type: double, float, long, integer, string, boolean, ...")
    required: bool = True


class PlatformInfo(_Schema):
    """What a client needs to know about the platform it talks to."""

    ferry_version: str
    serve_http_url: str
    serve_grpc_target: str
    default_replicas: int
    default_protocol: Protocol


class ModelCreate(_Schema):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""


class ModelPublic(_Schema):
    name: str
    description: str = ""
    experiment_id: str
    latest_version: int | None = None
    aliases: dict[str, int] = Field(default_factory=dict)


FRAMEWORKS = ("sklearn", "lightgbm", "xgboost")
"""The frameworks Ferry registers (the SDK's detection and the server's checks agree)."""

LOGGED_MODEL_URI_PATTERN = r"^models:/m-[0-9a-f]{32}$"
"""How the URI of a model logged through ``POST /v1/models/{name}/logged-models`` looks."""


class DatasetLineage(_Schema):
    """The training dataset as MLflow records it (``mlflow.data.from_pandas(...).to_dict()``):
    computed on the client, written to the run by the control plane."""

    name: str = Field(min_length=1, max_length=500)
    digest: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9_.:-]+$")
    source_type: str = Field(min_length=1, max_length=36, pattern=r"^[a-z_]+$")
    source: str = Field(max_length=65_536, description="JSON of the dataset's source")
    schema_: str | None = Field(default=None, alias="schema", max_length=524_288,
                                description="JSON of the dataset's column schema")
    profile: str | None = Field(default=None, max_length=65_536,
                                description="JSON of the dataset's profile (rows, elements)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LoggedModelCreate(_Schema):
    """The lineage sent with a model archive to ``POST /v1/models/{name}/logged-models``
    (the multipart field ``lineage``); the control plane writes it to a run of the model's
    experiment, and a registration reads it from there."""

    framework: str = Field(description=f"one of {', '.join(FRAMEWORKS)}")
    code_version: str = Field(min_length=1, max_length=500)
    params: dict[str, str] = Field(default_factory=dict, max_length=100)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=100)
    dataset: DatasetLineage
    feature_refs: list[str] = Field(
        default_factory=list, max_length=1000,
        description="pinned feature refs (view@vN:feature) it was trained on")
    reference: ReferenceSample | None = Field(
        default=None, description="a sample of the training rows and the model's answers "
                                  "on them: what production traffic is monitored against")

    @model_validator(mode="after")
    def _check(self) -> LoggedModelCreate:
        problems = []
        if self.framework not in FRAMEWORKS:
            problems.append(f"framework {self.framework!r} is not one of {list(FRAMEWORKS)}")
        for key, value in self.params.items():
            if not 0 < len(key) <= 250 or len(value) > 6000:
                problems.append(f"param {key[:60]!r}: names 1-250 characters, values at most 6000")
        for key, number in self.metrics.items():
            if not 0 < len(key) <= 250 or not math.isfinite(number):
                problems.append(f"metric {key[:60]!r}: names 1-250 characters, finite values")
        for ref in self.feature_refs:
            if len(ref) > 500:
                problems.append(f"feature ref {ref[:60]!r}...: at most 500 characters")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class LoggedModelPublic(_Schema):
    """A model logged by the control plane into its model's experiment; register it with
    ``POST /v1/models/{name}/versions``."""

    model_uri: str = Field(description="models:/m-<id> of the logged model")
    run_id: str = Field(description="the run holding its params, metrics and training data")


class ModelVersionCreate(_Schema):
    """Register a model logged through ``POST /v1/models/{name}/logged-models`` as a new
    version of ``name``. Only such a model is accepted: one whose experiment is the model's
    own (``ferry/<name>``) and whose files are under the platform's artifact root. Its
    lineage (framework, training data, code version, feature refs) is read from the run
    the control plane wrote."""

    model_uri: str = Field(max_length=2000, description="models:/m-<id> of the logged model")
    run_id: str | None = Field(default=None, max_length=100,
                               description="its run (optional; must be the run it was logged in)")


class ModelVersionPublic(_Schema):
    name: str
    version: int
    run_id: str
    model_uri: str
    artifact_uri: str = Field(default="", description="where the version's files are stored")
    framework: str
    model_digest: str
    training_data_digest: str
    code_version: str
    signature: list[ColumnSpec]
    feature_refs: list[str] = Field(default_factory=list)
    params: dict[str, str] = Field(default_factory=dict,
                                   description="training parameters, from its run")
    metrics: dict[str, float] = Field(default_factory=dict,
                                      description="training metrics, from its run")
    created_at: datetime | None = None


class DeploymentCreate(_Schema):
    """Deploy a model version under a deployment name (defaults to the model name)."""

    model: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1, le=MAX_VERSION)
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    protocol: Protocol = Protocol.auto
    replicas: Annotated[int, Field(ge=1, le=MAX_REPLICAS)] | Literal["auto"] | None = Field(
        default=None,
        description="a fixed count, or 'auto': Ray Serve scales between min_replicas and "
                    "max_replicas by load (default: the platform's fixed count)")
    min_replicas: int | None = Field(
        default=None, ge=1, le=MAX_REPLICAS,
        description="autoscaling: the fewest replicas (default 1); implies autoscaling")
    max_replicas: int | None = Field(
        default=None, ge=1, le=MAX_REPLICAS,
        description="autoscaling: the most replicas (default: the platform's); implies "
                    "autoscaling")
    allow_contract_change: bool = Field(
        default=False, description="replace a release whose clients send other columns (a "
        "breaking change for every existing client: refused unless this is set; audited)")

    @model_validator(mode="after")
    def _scaling(self) -> DeploymentCreate:
        bounds = self.min_replicas is not None or self.max_replicas is not None
        if isinstance(self.replicas, int) and bounds:
            raise ValueError(
                f"replicas={self.replicas} is a fixed count; min_replicas/max_replicas "
                "(here {}..{}) ask for autoscaling: send replicas='auto' with the bounds, or "
                "a fixed replicas alone".format(self.min_replicas, self.max_replicas))
        if self.min_replicas is not None and self.max_replicas is not None \
                and self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas={self.min_replicas} is above max_replicas="
                f"{self.max_replicas}: the minimum must be at most the maximum")
        return self

    @property
    def autoscaled(self) -> bool:
        """Whether this deploy asks Serve to scale its replicas by load."""
        return self.replicas == AUTO or self.min_replicas is not None \
            or self.max_replicas is not None


class Endpoints(_Schema):
    rest: str | None = None
    grpc: str | None = None
    grpc_application: str | None = Field(
        default=None, description="value of the `application` gRPC metadata key"
    )


class ReleasePublic(_Schema):
    """One immutable unit: an exact model version, its code and its pinned dependencies."""

    release_id: str
    model: str
    version: int
    bento_tag: str
    model_digest: str
    training_data_digest: str
    code_version: str
    ferry_version: str
    signature: list[ColumnSpec]
    created_at: datetime | None = None


class RolloutMode(str, Enum):
    """How a candidate meets traffic: a random share, a share sticky per entity, or a copy."""

    canary = "canary"
    ab = "ab"
    shadow = "shadow"


class RolloutCreate(_Schema):
    """Start a candidate release beside the one serving."""

    version: int = Field(ge=1, le=MAX_VERSION, description="the model version to roll out")
    model: str | None = Field(default=None, pattern=NAME_PATTERN,
                              description="default: the model the deployment serves")
    weight: int = Field(10, ge=0, le=100,
                        description="percent of requests the candidate gets (canary, ab)")
    mode: RolloutMode = RolloutMode.canary
    sticky_key: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="ab: the request column whose value pins an entity to one release")
    override_reason: str | None = Field(
        default=None, min_length=10, max_length=1000,
        description="admins only: start although the version failed its gate (audited)")

    @model_validator(mode="after")
    def _sticky(self) -> RolloutCreate:
        if self.mode is RolloutMode.ab and not self.sticky_key:
            raise ValueError("mode 'ab' needs sticky_key: the entity key column (e.g. "
                             "'customer_id') that keeps each entity on one release")
        if self.mode is not RolloutMode.ab and self.sticky_key:
            raise ValueError("sticky_key applies to mode 'ab' only")
        return self


class RolloutUpdate(_Schema):
    weight: int = Field(ge=0, le=100, description="percent of requests the candidate gets")


class RolloutAction(_Schema):
    """Body of promote / rollback / abort."""

    reason: str | None = Field(
        default=None, min_length=10, max_length=1000,
        description="promote, admins only: make it champion although it failed its gate")


class RolloutPublic(_Schema):
    candidate: ReleasePublic
    mode: RolloutMode
    weight: int
    sticky_key: str | None = None
    started_at: datetime | None = None


class ShadowReportPublic(_Schema):
    """How the shadow release's answers compared with the ones clients got."""

    deployment: str
    shadow_release_id: str | None = None
    requests: int = 0
    agreed: int = 0
    disagreed: int = 0
    shadow_errors: int = 0
    agreement: float | None = None
    samples: list[dict[str, Any]] = Field(default_factory=list)


class DeploymentPublic(_Schema):
    name: str
    release: ReleasePublic
    protocol: Protocol
    replicas: int = Field(description="the fixed count, or the minimum when autoscaled")
    max_replicas: int | None = Field(
        default=None, description="autoscaled: the most replicas (None: a fixed count)")
    running_replicas: int | None = Field(
        default=None, description="replicas of the serving release running now (None: "
                                  "unknown, the runtime is down)")
    router_replicas: int | None = Field(
        default=None, description="router replicas running now: they answer the serving "
                                  "release in-process, and scale with it when autoscaled")
    status: str = Field(description="health on the runtime: running, deploying, unhealthy, ...")
    endpoints: Endpoints
    traffic: dict[str, int] = Field(default_factory=dict,
                                    description="percent of requests per release id")
    team: str | None = Field(default=None, description="the owning team")
    previous_release_id: str | None = None
    rollout: RolloutPublic | None = Field(default=None, description="a rollout under way")
    anonymous_predict: bool = Field(
        default=False, description="predictions need no token (a team admin allowed it)")
    updated_at: datetime | None = None


class DeploymentAccessUpdate(_Schema):
    """Who may predict on a deployment besides its team's tokens."""

    anonymous_predict: bool = Field(
        description="true: requests without a token are answered too (team admins only; "
                    "audited and shown in status)")


class ErrorDetail(_Schema):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(_Schema):
    error: ErrorDetail


class Health(_Schema):
    """Up or down (the probe needs no token, so it says nothing more)."""

    status: str
    ray: str


class FeatureVersionPublic(_Schema):
    version: int
    created_at: datetime | None = None
    features: dict[str, str] = Field(description="feature name -> Feast dtype")


class FeatureViewPublic(_Schema):
    name: str
    active_version: int
    entities: list[str]
    versions: list[FeatureVersionPublic]
    team: str | None = Field(default=None, description="the team owning the view (its Feast "
                                                       "tag 'team'): its deployers schedule "
                                                       "its materialization; none: platform "
                                                       "admins do")


class FeatureChangePublic(_Schema):
    view: str
    change: str = Field(description="new, new_version, metadata, pin or unchanged")
    version: int = Field(description="the version active after the change")
    properties: list[str] = Field(default_factory=list)
    description: str


class FeaturePlanPublic(_Schema):
    applied: bool
    changes: list[FeatureChangePublic]


class FeatureFreshnessPublic(_Schema):
    view: str
    version: int
    active: bool
    ttl_seconds: float | None = None
    newest: datetime | None = Field(default=None, description="newest online event time")
    fresh: bool = Field(description="materialized and within the view's TTL")


class MaterializeCreate(_Schema):
    """Load the active version of ``views`` (default: all) for event times in [start, end]."""

    start: datetime
    end: datetime
    views: list[str] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MaterializeCreate:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start "
                             f"({self.start.isoformat()})")
        return self


class BatchScoreCreate(_Schema):
    """Score a whole table with the release a deployment serves (or a named release of
    it), features joined point-in-time at ``as_of``; Parquet out, lineage on every row."""

    deployment: str = Field(min_length=1, max_length=200,
                            description="whose serving release scores (its stable arm)")
    source: str = Field(min_length=1, max_length=2000,
                        description="a Parquet or CSV file, directory or glob under the "
                                    "team's data roots (GET /v1/batch-jobs/roots); local or "
                                    "s3://, or relative to the team's first root")
    dest: str = Field(min_length=1, max_length=2000,
                      description="an empty directory under the team's data roots for the "
                                  "Parquet output (relative: under the first root)")
    as_of: datetime | None = Field(
        default=None, description="the time features are joined at (feature-backed models; "
                                  "else an event_timestamp column per row); recorded on "
                                  "every row")
    release_id: str | None = Field(default=None, description="one of the deployment's "
                                   "running releases instead of the serving one")
    keep: list[str] = Field(default_factory=list, max_length=100,
                            description="input columns the model does not take, carried to "
                                        "the output as they are (e.g. an id)")

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A time without a zone (``2026-12-01``) is UTC, the same on every machine."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class BatchRootsPublic(_Schema):
    """Where one team's batch jobs may read and write (a relative location is taken under
    the first root)."""

    team: str
    roots: list[str]


class TrainingSetCreate(_Schema):
    """Point-in-time training set: entity rows (join keys + ``event_timestamp``) and features."""

    features: list[str] = Field(min_length=1, description="'view:feature' or 'view@vN:feature'")
    entities: list[dict[str, Any]] = Field(min_length=1, max_length=1_000_000)


class TrainingSetPublic(_Schema):
    feature_refs: list[str] = Field(description="the exact versions used, in column order")
    columns: list[str]
    rows: list[list[Any]]


class JobState(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"

    @property
    def done(self) -> bool:
        return self in (JobState.succeeded, JobState.failed)


class JobKind(str, Enum):
    """What a job does."""

    deploy = "deploy"
    undeploy = "undeploy"
    access = "access"  # who may predict (anonymous predictions on or off)
    rollout = "rollout"
    rollout_weight = "rollout.weight"
    rollout_promote = "rollout.promote"
    rollout_abort = "rollout.abort"
    rollback = "rollback"
    evaluate = "evaluate"
    materialize = "materialize"
    reconcile = "reconcile"  # the control plane re-applying a recorded deployment
    monitor = "monitor"  # a monitoring report of a window of traffic (scheduled or asked for)
    batch_score = "batch.score"  # a whole table scored by a deployment's release on Ray Data
    pipeline = "pipeline"  # one run of a registered pipeline (its flow, in the sandbox)


class PhaseState(str, Enum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class JobPhase(_Schema):
    """One timed phase of a job (a deploy's resolve, build, preflight, start release, start
    router / switch traffic, stop unrouted releases), in the order it ran."""

    name: str
    state: PhaseState
    started: datetime
    seconds: float | None = Field(
        default=None, ge=0, description="how long it took; None while it runs")


class JobPublic(_Schema):
    """A long operation and where it stands."""

    id: str
    kind: JobKind
    target: str = Field(description="what it changes: a deployment name, or 'features'")
    state: JobState
    actor: str = Field(description="who started it ('ferry' for the control plane itself)")
    team: str | None = None
    step: str = Field(default="", description="the step under way, or the last one")
    percent: int = Field(default=0, ge=0, le=100)
    request: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = Field(default=None, description="set when succeeded")
    error: dict[str, Any] | None = Field(
        default=None, description="set when failed: code, message, status, details")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    phases: list[JobPhase] = Field(
        default_factory=list,
        description="where the time went: each phase with its start and duration (deploys "
                    "and rollouts); a failed job's failing phase is the one in state failed")


class JobLogLine(_Schema):
    seq: int
    at: datetime
    line: str


# -- access: users, teams, tokens, audit ------------------------------------------------------
class Role(str, Enum):
    viewer = "viewer"
    deployer = "deployer"
    admin = "admin"


TEAM_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"


class PrincipalPublic(_Schema):
    """Who the caller is: ``ferry whoami``."""

    user: str
    is_admin: bool = Field(description="platform admin: may do everything")
    roles: dict[str, Role] = Field(description="team -> role")
    token_id: str
    scope: str = Field(default="all", description="the token's scope: all or predict")


class TeamCreate(_Schema):
    name: str = Field(pattern=TEAM_PATTERN)
    description: str = Field(default="", max_length=500)


class TeamPublic(_Schema):
    name: str
    description: str = ""
    members: dict[str, Role] = Field(default_factory=dict, description="user -> role")


class MemberUpdate(_Schema):
    role: Role


class UserCreate(_Schema):
    name: str = Field(pattern=TEAM_PATTERN)
    is_admin: bool = False


class UserUpdate(_Schema):
    """Platform admins: grant or take platform admin, disable or enable a user."""

    is_admin: bool | None = Field(default=None, description="platform admin")
    disabled: bool | None = Field(default=None,
                                  description="a disabled user's tokens are all refused")


class UserPublic(_Schema):
    name: str
    is_admin: bool
    disabled: bool = False
    roles: dict[str, Role] = Field(default_factory=dict)


class TokenScope(str, Enum):
    """``all``: the user's rights. ``predict``: predictions only (and reading a
    deployment's endpoints), e.g. for a service calling a model."""

    all = "all"
    predict = "predict"
    pipeline = "pipeline"  # a pipeline run's own, issued and revoked by the platform


class TokenCreate(_Schema):
    user: str | None = Field(default=None, pattern=TEAM_PATTERN,
                             description="whose token (default: the caller; others: admins)")
    description: str = Field(default="", max_length=200)
    ttl_days: float | None = Field(
        default=90, ge=1 / 86400, le=3650, allow_inf_nan=False,
        description="lifetime in days (at least one second, 1/86400), at most the "
                    "platform's maximum "
                    "(FERRY_TOKEN_MAX_TTL_DAYS); null (no expiry): platform admins only")
    scope: TokenScope = TokenScope.all


class TokenPublic(_Schema):
    id: str
    user: str
    description: str = ""
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    scope: TokenScope = TokenScope.all


class TokenIssued(TokenPublic):
    token: str = Field(description="the secret: shown only in this answer, stored hashed")


class AuditEventPublic(_Schema):
    id: int
    at: datetime
    actor: str
    action: str
    resource: str
    team: str | None = None
    outcome: str = Field(description="ok, accepted, succeeded, failed or denied")
    details: dict[str, Any] = Field(default_factory=dict)


# -- continuous evaluation ---------------------------------------------------------------
class EvalTask(str, Enum):
    auto = "auto"
    classification = "classification"
    regression = "regression"


class EvalSetCreate(_Schema):
    """A labelled evaluation set for one model name; every upload is a new version.

    Rows hold the model's inputs, or for a model trained on Feast features its entity keys
    and ``event_timestamp`` (each version is then evaluated on its own pinned features,
    joined point-in-time for the same rows), plus the label and optionally a slice column.
    """

    rows: list[dict[str, Any]] = Field(min_length=10, max_length=200_000)
    label: str = Field(min_length=1, description="the column holding the true outcome")
    task: EvalTask = EvalTask.auto
    slice_column: str | None = Field(
        default=None, description="a column whose groups are scored separately")
    start: datetime | None = Field(default=None, description="keep rows at or after (UTC)")
    end: datetime | None = Field(default=None, description="keep rows before (UTC)")


class EvalSetPublic(_Schema):
    model: str
    version: int
    digest: str
    rows: int
    label: str
    task: str
    slice_column: str | None = None
    columns: list[str]
    start: datetime | None = None
    end: datetime | None = None
    run_id: str
    created_at: datetime | None = None


METRICS = ("roc_auc", "log_loss", "brier", "accuracy", "balanced_accuracy", "f1_macro", "rmse",
           "mae", "r2")
"""Metrics an evaluation reports (and a gate may use as its primary metric or a guardrail)."""


def _check_metric(field: str, metric: str | None) -> None:
    if metric is not None and metric not in METRICS:
        raise ValueError(f"{field} {metric!r} is not one Ferry reports; use one of "
                         f"{', '.join(METRICS)}")


class Guardrail(_Schema):
    """A second metric the candidate may not be much worse on than the champion (and not
    worse on than the trivial baseline): a model whose primary metric holds while, say,
    its log loss collapses does not pass."""

    metric: str = Field(description="one of " + ", ".join(METRICS))
    tolerance: float = Field(0.05, ge=0, description="how much worse than the champion is "
                                                     "allowed")
    relative: bool = Field(True, description="tolerance as a share of the champion's value "
                                             "(true) or in the metric's units (false)")
    vs_baseline: bool = Field(True, description="also fail if worse than the trivial baseline")

    @model_validator(mode="after")
    def _known_metric(self) -> Guardrail:
        _check_metric("guardrail metric", self.metric)
        return self


class GateConfig(_Schema):
    """When a version may become champion. Missing fields keep their defaults."""

    primary_metric: str | None = Field(
        default=None, description="default: roc_auc (classification), rmse (regression); "
                                  "one of " + ", ".join(METRICS))
    tolerance: float = Field(0.01, ge=0, allow_inf_nan=False,
                             description="how much worse than the champion is allowed on the "
                                         "primary metric")
    baseline_margin: float = Field(0.0, ge=0, allow_inf_nan=False,
                                   description="how much better than the trivial baseline it "
                                               "must be")
    slice_tolerance: float = Field(0.05, ge=0, allow_inf_nan=False,
                                   description="per slice, vs the champion")
    min_slice_rows: int = Field(30, ge=1, le=MAX_INT32,
                                description="smaller slices are shown, not gated")
    guardrails: list[Guardrail] | None = Field(
        default=None, max_length=len(METRICS),
        description="metrics checked beside the primary one, each with its own tolerance. "
                    "null: the task's defaults (log_loss and brier for classification, mae "
                    "and rmse for regression, 5% of the champion's value each, the primary "
                    "metric left out); []: none")
    eval_set_version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION,
        description="the evaluation set version the gate uses (pinned: a new upload changes "
                    "nothing until an admin moves this); null: none yet, so no version can "
                    "pass the gate")

    @model_validator(mode="after")
    def _known_metric(self) -> GateConfig:
        _check_metric("primary_metric", self.primary_metric)
        seen = [g.metric for g in self.guardrails or []]
        if len(seen) != len(set(seen)):
            raise ValueError(f"guardrails name a metric twice: {seen}")
        return self


class EvaluationCreate(_Schema):
    version: int = Field(ge=1, le=MAX_VERSION)
    against: int | None = Field(default=None, ge=1, le=MAX_VERSION,
                                description="the reference version (default: the champion)")
    eval_set_version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION,
        description="the evaluation set to use (default: the one pinned in the gate, else "
                    "the newest); only evaluations on the pinned set count for the gate")


class GateCheck(_Schema):
    name: str
    passed: bool
    metric: str | None = None
    value: float | None = None
    reference: float | None = None
    threshold: float | None = None
    detail: str


class EvaluationPublic(_Schema):
    """A candidate vs its champion (or a chosen reference) vs a trivial baseline."""

    model: str
    version: int
    against: int | None = Field(default=None, description="the champion or reference version")
    eval_set_version: int
    eval_set_digest: str = Field("", description="digest of the evaluation set's rows used")
    model_digests: dict[str, str] = Field(
        default_factory=dict, description="candidate / champion -> digest of the artifacts "
                                          "scored (checked against the registered digest)")
    task: str
    primary_metric: str
    rows: int
    folds: int
    metrics: dict[str, dict[str, float | None]] = Field(
        description="candidate / champion / baseline -> metric -> mean over the folds")
    std: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    per_class: dict[str, dict[str, dict[str, float]]] = Field(default_factory=dict)
    slices: list[dict[str, Any]] = Field(default_factory=list)
    robustness: dict[str, Any] = Field(default_factory=dict)
    gates: list[GateCheck]
    passed: bool
    gate: GateConfig
    run_id: str = ""
    created_at: datetime | None = None


class ChampionUpdate(_Schema):
    version: int = Field(ge=1, le=MAX_VERSION)
    reason: str | None = Field(
        default=None, min_length=10, max_length=1000,
        description="admins only: make it champion although it failed its gate (audited)")
