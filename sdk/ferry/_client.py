"""The typed client of Ferry's control plane: one transport, one sub-client per resource.

``client.registry``, ``client.features``, ``client.serving``, ``client.rollouts``,
``client.evaluation``, ``client.monitoring``, ``client.batch``, ``client.access`` and
``client.operations``
(``ferry/_resources/``)
share one :class:`~ferry._transport.Transport`. The flat methods (``client.register``,
``client.deploy`` ...) that the README and the guides use stay: each is an alias of one
sub-client method, with its signature and docstring (a unit test holds them equal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar

import httpx

from ferry._deployment import Deployment
from ferry._features import TrainingSet
from ferry._monitoring import MonitoringReport
from ferry._resources.access import Access
from ferry._resources.batch import Batch
from ferry._resources.evaluation import Evaluation
from ferry._resources.features import Features
from ferry._resources.monitoring import Monitoring
from ferry._resources.operations import Operations
from ferry._resources.pipelines import Pipelines
from ferry._resources.registry import Registry
from ferry._resources.rollouts import Rollouts
from ferry._resources.serving import Serving
from ferry._transport import Progress, Transport
from ferry_contract import (
    AlertPublic,
    AuditEventPublic,
    DeploymentPublic,
    EvalSetPublic,
    EvalTask,
    EvaluationPublic,
    FeatureFreshnessPublic,
    FeaturePlanPublic,
    FeatureViewPublic,
    GateConfig,
    JobKind,
    JobLogLine,
    JobPublic,
    JobState,
    LoggedModelPublic,
    ModelPublic,
    ModelVersionPublic,
    MonitorPublic,
    OutcomesPublic,
    Overlap,
    Pipeline,
    PipelinePublic,
    PipelineRunPublic,
    PlatformInfo,
    PrincipalPublic,
    Protocol,
    ReleasePublic,
    Role,
    ShadowReportPublic,
    TeamPublic,
    TokenIssued,
    TokenPublic,
    TokenScope,
    UserPublic,
)

_F = TypeVar("_F", bound=Callable[..., Any])


def _alias(target: Callable[..., Any]) -> Callable[[_F], _F]:
    """Mark a flat method of :class:`Client` as the alias of a sub-client's ``target``:
    it takes the target's docstring, and ``__alias_of__`` lets a test compare signatures."""
    resource, name = target.__qualname__.split(".")

    def mark(method: _F) -> _F:
        where = f"``client.{resource.lower()}.{name}``"
        method.__doc__ = f"Alias of {where}: {target.__doc__}" if target.__doc__ else f"Alias of {where}."
        setattr(method, "__alias_of__", target)  # noqa: B010 (mypy has no function attributes)
        return method

    return mark


class Client:
    """Talks to a Ferry control plane over HTTP.

    ``Client()`` reaches the local platform (start it with ``ferry up``) unless ``FERRY_URL``
    or ``url`` names another. ``transport`` (any sync httpx transport) or ``http_client``
    (a ready ``httpx.Client``) are the seams tests use to talk to a real control plane
    in-process, e.g. ``Client(http_client=fastapi.testclient.TestClient(app))``.

    Each resource of the API is a sub-client: ``registry`` (models and versions),
    ``features``, ``serving`` (deployments, releases), ``rollouts``, ``evaluation``,
    ``monitoring`` (outcomes, reports, thresholds, alerts), ``pipelines`` (calling it lists
    them), ``access`` (teams, users, tokens, audit) and ``operations`` (jobs). The flat
    methods are aliases of theirs.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._transport = Transport(url, token=token, timeout_s=timeout_s,
                                    http_transport=transport, http_client=http_client)
        self.url = self._transport.url
        self.registry = Registry(self._transport)
        self.features = Features(self._transport)
        self.batch = Batch(self._transport)
        self.serving = Serving(self._transport)
        self.rollouts = Rollouts(self._transport)
        self.evaluation = Evaluation(self._transport)
        self.monitoring = Monitoring(self._transport)
        self.access = Access(self._transport)
        self.operations = Operations(self._transport)
        self.pipelines = Pipelines(self._transport)
        self._info: PlatformInfo | None = None

    # -- plumbing -----------------------------------------------------------------------
    @property
    def _http(self) -> httpx.Client:
        """The underlying ``httpx.Client`` (tests send raw requests with it)."""
        return self._transport.http

    def _request(self, method: str, path: str, *, json: Any = None,
                 params: Mapping[str, Any] | None = None, files: Any = None,
                 data: Mapping[str, str] | None = None) -> Any:
        return self._transport.request(method, path, json=json, params=params, files=files,
                                       data=data)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- platform -----------------------------------------------------------------------
    def info(self) -> PlatformInfo:
        """What the platform is: its version, serving endpoints, defaults."""
        if self._info is None:
            self._info = PlatformInfo.model_validate(self._transport.request("GET", "/v1/platform"))
        return self._info

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._transport.request("GET", "/v1/health")
        return result

    # -- flat aliases: models -----------------------------------------------------------
    @_alias(Registry.register)
    def register(self, model: Any, *, name: str, training_data: Any, target: str | None = None,
                 params: Mapping[str, Any] | None = None,
                 metrics: Mapping[str, float] | None = None, description: str = "",
                 code_version: str | None = None, team: str | None = None,
                 on_progress: Progress | None = None) -> ModelVersionPublic:
        return self.registry.register(
            model, name=name, training_data=training_data, target=target, params=params,
            metrics=metrics, description=description, code_version=code_version, team=team,
            on_progress=on_progress)

    @_alias(Registry.log_model)
    def log_model(self, model: Any, *, name: str, training_data: Any, target: str | None = None,
                  params: Mapping[str, Any] | None = None,
                  metrics: Mapping[str, float] | None = None, description: str = "",
                  code_version: str | None = None, team: str | None = None,
                  on_progress: Progress | None = None) -> LoggedModelPublic:
        return self.registry.log_model(
            model, name=name, training_data=training_data, target=target, params=params,
            metrics=metrics, description=description, code_version=code_version, team=team,
            on_progress=on_progress)

    @_alias(Registry.models)
    def models(self) -> list[ModelPublic]:
        return self.registry.models()

    @_alias(Registry.model)
    def model(self, name: str) -> ModelPublic:
        return self.registry.model(name)

    @_alias(Registry.versions)
    def versions(self, name: str) -> list[ModelVersionPublic]:
        return self.registry.versions(name)

    @_alias(Registry.version)
    def version(self, name: str, version: int) -> ModelVersionPublic:
        return self.registry.version(name, version)

    # -- flat aliases: features ---------------------------------------------------------
    @_alias(Features.views)
    def feature_views(self) -> list[FeatureViewPublic]:
        return self.features.views()

    @_alias(Features.freshness)
    def feature_freshness(self) -> list[FeatureFreshnessPublic]:
        return self.features.freshness()

    @_alias(Features.plan)
    def plan_features(self) -> FeaturePlanPublic:
        return self.features.plan()

    @_alias(Features.apply)
    def apply_features(self) -> FeaturePlanPublic:
        return self.features.apply()

    @_alias(Features.materialize)
    def materialize(self, start: Any, end: Any, views: list[str] | None = None,
                    on_progress: Progress | None = None) -> list[str]:
        return self.features.materialize(start, end, views, on_progress=on_progress)

    @_alias(Features.training_set)
    def training_set(self, features: list[str], entities: Any) -> TrainingSet:
        return self.features.training_set(features, entities)

    # -- flat aliases: batch scoring ----------------------------------------------------
    @_alias(Batch.score)
    def batch_score(self, deployment: str, *, source: str, dest: str,
                    as_of: datetime | str | None = None, keep: list[str] | None = None,
                    release_id: str | None = None, wait: bool = True,
                    on_progress: Progress | None = None,
                    timeout_s: float | None = None) -> JobPublic:
        return self.batch.score(deployment, source=source, dest=dest, as_of=as_of, keep=keep,
                                release_id=release_id, wait=wait, on_progress=on_progress,
                                timeout_s=timeout_s)

    # -- flat aliases: deployments ------------------------------------------------------
    @_alias(Serving.deploy)
    def deploy(self, model: str, *, version: int, name: str | None = None,
               protocol: Protocol | str = Protocol.auto,
               replicas: int | Literal["auto"] | None = None, min_replicas: int | None = None,
               max_replicas: int | None = None,
               allow_contract_change: bool = False, on_progress: Progress | None = None,
               timeout_s: float | None = None) -> Deployment:
        return self.serving.deploy(model, version=version, name=name, protocol=protocol,
                                   replicas=replicas, min_replicas=min_replicas,
                                   max_replicas=max_replicas,
                                   allow_contract_change=allow_contract_change,
                                   on_progress=on_progress, timeout_s=timeout_s)

    @_alias(Serving.start_deploy)
    def start_deploy(self, model: str, *, version: int, name: str | None = None,
                     protocol: Protocol | str = Protocol.auto,
                     replicas: int | Literal["auto"] | None = None,
                     min_replicas: int | None = None, max_replicas: int | None = None,
                     allow_contract_change: bool = False) -> JobPublic:
        return self.serving.start_deploy(model, version=version, name=name, protocol=protocol,
                                         replicas=replicas, min_replicas=min_replicas,
                                         max_replicas=max_replicas,
                                         allow_contract_change=allow_contract_change)

    @_alias(Serving.releases)
    def releases(self, model: str | None = None, limit: int = 100) -> list[ReleasePublic]:
        return self.serving.releases(model, limit)

    @_alias(Serving.status)
    def status(self, name: str) -> DeploymentPublic:
        return self.serving.status(name)

    @_alias(Serving.deployments)
    def deployments(self) -> list[DeploymentPublic]:
        return self.serving.deployments()

    @_alias(Serving.deployment)
    def deployment(self, name: str) -> Deployment:
        return self.serving.deployment(name)

    @_alias(Serving.undeploy)
    def undeploy(self, name: str) -> None:
        self.serving.undeploy(name)

    @_alias(Serving.set_anonymous_predict)
    def set_anonymous_predict(self, name: str, allowed: bool) -> DeploymentPublic:
        return self.serving.set_anonymous_predict(name, allowed)

    # -- flat aliases: jobs -------------------------------------------------------------
    @_alias(Operations.jobs)
    def jobs(self, *, kind: JobKind | str | None = None, target: str | None = None,
             state: JobState | str | None = None, limit: int = 50) -> list[JobPublic]:
        return self.operations.jobs(kind=kind, target=target, state=state, limit=limit)

    @_alias(Operations.job)
    def job(self, job_id: str) -> JobPublic:
        return self.operations.job(job_id)

    @_alias(Operations.job_logs)
    def job_logs(self, job_id: str, after: int = 0) -> list[JobLogLine]:
        return self.operations.job_logs(job_id, after)

    @_alias(Operations.wait)
    def wait(self, job: JobPublic | str, *, on_progress: Progress | None = None,
             timeout_s: float | None = None, poll_s: float = 0.3) -> JobPublic:
        return self.operations.wait(job, on_progress=on_progress, timeout_s=timeout_s,
                                    poll_s=poll_s)

    # -- flat aliases: continuous evaluation --------------------------------------------
    @_alias(Evaluation.create_eval_set)
    def create_eval_set(self, model: str, rows: Any, *, label: str,
                        slice_column: str | None = None, task: EvalTask | str = EvalTask.auto,
                        start: Any = None, end: Any = None, pin: bool = False) -> EvalSetPublic:
        return self.evaluation.create_eval_set(model, rows, label=label,
                                               slice_column=slice_column, task=task,
                                               start=start, end=end, pin=pin)

    @_alias(Evaluation.eval_sets)
    def eval_sets(self, model: str) -> list[EvalSetPublic]:
        return self.evaluation.eval_sets(model)

    @_alias(Evaluation.gate)
    def gate(self, model: str) -> GateConfig:
        return self.evaluation.gate(model)

    @_alias(Evaluation.set_gate)
    def set_gate(self, model: str, **fields: Any) -> GateConfig:
        return self.evaluation.set_gate(model, **fields)

    @_alias(Evaluation.evaluate)
    def evaluate(self, model: str, version: int, *, against: int | None = None,
                 eval_set_version: int | None = None, on_progress: Progress | None = None,
                 timeout_s: float | None = None) -> EvaluationPublic:
        return self.evaluation.evaluate(model, version, against=against,
                                        eval_set_version=eval_set_version,
                                        on_progress=on_progress, timeout_s=timeout_s)

    @_alias(Evaluation.evaluations)
    def evaluations(self, model: str, version: int | None = None) -> list[EvaluationPublic]:
        return self.evaluation.evaluations(model, version)

    @_alias(Evaluation.compare)
    def compare(self, model: str, base: int, candidate: int, *,
                on_progress: Progress | None = None) -> EvaluationPublic:
        return self.evaluation.compare(model, base, candidate, on_progress=on_progress)

    @_alias(Evaluation.set_champion)
    def set_champion(self, model: str, version: int, *, reason: str | None = None) -> ModelPublic:
        return self.evaluation.set_champion(model, version, reason=reason)

    # -- flat aliases: rollouts ---------------------------------------------------------
    @_alias(Rollouts.start)
    def rollout(self, name: str, *, version: int, canary: int | None = None,
                ab: int | None = None, sticky_key: str | None = None, shadow: bool = False,
                model: str | None = None, override_reason: str | None = None,
                on_progress: Progress | None = None, timeout_s: float | None = None) -> Deployment:
        return self.rollouts.start(name, version=version, canary=canary, ab=ab,
                                   sticky_key=sticky_key, shadow=shadow, model=model,
                                   override_reason=override_reason, on_progress=on_progress,
                                   timeout_s=timeout_s)

    @_alias(Rollouts.set_weight)
    def set_weight(self, name: str, weight: int, *, on_progress: Progress | None = None,
                   timeout_s: float | None = None) -> Deployment:
        return self.rollouts.set_weight(name, weight, on_progress=on_progress,
                                        timeout_s=timeout_s)

    @_alias(Rollouts.promote)
    def promote(self, name: str, *, reason: str | None = None,
                on_progress: Progress | None = None, timeout_s: float | None = None) -> Deployment:
        return self.rollouts.promote(name, reason=reason, on_progress=on_progress,
                                     timeout_s=timeout_s)

    @_alias(Rollouts.abort)
    def abort(self, name: str, *, on_progress: Progress | None = None,
              timeout_s: float | None = None) -> Deployment:
        return self.rollouts.abort(name, on_progress=on_progress, timeout_s=timeout_s)

    @_alias(Rollouts.rollback)
    def rollback(self, name: str, *, on_progress: Progress | None = None,
                 timeout_s: float | None = None) -> Deployment:
        return self.rollouts.rollback(name, on_progress=on_progress, timeout_s=timeout_s)

    @_alias(Rollouts.shadow_report)
    def shadow_report(self, name: str) -> ShadowReportPublic:
        return self.rollouts.shadow_report(name)

    # -- flat aliases: monitoring -------------------------------------------------------
    @_alias(Monitoring.log_outcomes)
    def log_outcomes(self, name: str, outcomes: Any) -> OutcomesPublic:
        return self.monitoring.log_outcomes(name, outcomes)

    @_alias(Monitoring.latest)
    def monitoring_report(self, name: str) -> MonitoringReport:
        return self.monitoring.latest(name)

    @_alias(Monitoring.monitor)
    def monitor(self, name: str) -> MonitorPublic:
        return self.monitoring.monitor(name)

    @_alias(Monitoring.set_monitor)
    def set_monitor(self, name: str, **fields: Any) -> MonitorPublic:
        return self.monitoring.set_monitor(name, **fields)

    @_alias(Monitoring.alerts)
    def alerts(self, deployment: str | None = None, *, state: str = "open",
               limit: int = 100, before: int | None = None) -> list[AlertPublic]:
        return self.monitoring.alerts(deployment, state=state, limit=limit, before=before)

    @_alias(Monitoring.metrics)
    def metrics(self) -> str:
        return self.monitoring.metrics()

    # -- flat aliases: access -----------------------------------------------------------
    @_alias(Access.whoami)
    def whoami(self) -> PrincipalPublic:
        return self.access.whoami()

    @_alias(Access.teams)
    def teams(self) -> list[TeamPublic]:
        return self.access.teams()

    @_alias(Access.create_team)
    def create_team(self, name: str, description: str = "") -> TeamPublic:
        return self.access.create_team(name, description)

    @_alias(Access.set_member)
    def set_member(self, team: str, user: str, role: Role | str) -> TeamPublic:
        return self.access.set_member(team, user, role)

    @_alias(Access.remove_member)
    def remove_member(self, team: str, user: str) -> None:
        self.access.remove_member(team, user)

    @_alias(Access.users)
    def users(self) -> list[UserPublic]:
        return self.access.users()

    @_alias(Access.create_user)
    def create_user(self, name: str, *, is_admin: bool = False) -> UserPublic:
        return self.access.create_user(name, is_admin=is_admin)

    @_alias(Access.update_user)
    def update_user(self, name: str, *, is_admin: bool | None = None,
                    disabled: bool | None = None) -> UserPublic:
        return self.access.update_user(name, is_admin=is_admin, disabled=disabled)

    @_alias(Access.create_token)
    def create_token(self, *, user: str | None = None, description: str = "",
                     ttl_days: float | None = 90,
                     scope: TokenScope | str = TokenScope.all) -> TokenIssued:
        return self.access.create_token(user=user, description=description, ttl_days=ttl_days,
                                        scope=scope)

    @_alias(Access.tokens)
    def tokens(self) -> list[TokenPublic]:
        return self.access.tokens()

    @_alias(Access.revoke_token)
    def revoke_token(self, token_id: str) -> None:
        self.access.revoke_token(token_id)

    @_alias(Access.audit)
    def audit(self, *, actor: str | None = None, resource: str | None = None,
              team: str | None = None, action: str | None = None,
              limit: int = 100) -> list[AuditEventPublic]:
        return self.access.audit(actor=actor, resource=resource, team=team, action=action,
                                 limit=limit)

    # -- pipelines ----------------------------------------------------------------------
    @_alias(Pipelines.register)
    def register_pipeline(self, pipeline: Pipeline[Any, Any] | str, *, name: str | None = None,
                          path: str | None = None, team: str | None = None,
                          schedule: str | None = None, on_alert: list[str] | None = None,
                          overlap: Overlap | str | None = None,
                          description: str | None = None,
                          timeout_s: float = 3600.0) -> PipelinePublic:
        return self.pipelines.register(pipeline, name=name, path=path, team=team,
                                       schedule=schedule, on_alert=on_alert, overlap=overlap,
                                       description=description, timeout_s=timeout_s)

    @_alias(Pipelines.run)
    def run_pipeline(self, name: str, *, params: dict[str, Any] | None = None,
                     wait: bool = True, on_progress: Progress | None = None,
                     timeout_s: float | None = None) -> PipelineRunPublic:
        return self.pipelines.run(name, params=params, wait=wait, on_progress=on_progress,
                                  timeout_s=timeout_s)

    @_alias(Pipelines.runs)
    def pipeline_runs(self, name: str, *, state: Any = None, limit: int = 50,
                      before: str | None = None) -> list[PipelineRunPublic]:
        return self.pipelines.runs(name, state=state, limit=limit, before=before)
