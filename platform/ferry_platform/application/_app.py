"""The application layer assembled from the platform's use cases and capabilities."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ferry_contract import JobNotFound
from ferry_platform.access import AccessService, IdentityStore, Principal
from ferry_platform.application._audited import Audit, AuditedJobs
from ferry_platform.application._batch import Batch
from ferry_platform.application._deployments import Deployments
from ferry_platform.application._evaluations import Evaluations
from ferry_platform.application._features import FeaturePort, Features
from ferry_platform.application._identity import Identity
from ferry_platform.application._models import Models
from ferry_platform.application._monitoring import Monitoring, MonitoringPolicy
from ferry_platform.application._pipelines import Pipelines, RunLog
from ferry_platform.application._policy import TEAM_PRIVATE_JOBS, Policy
from ferry_platform.catalog import CatalogRegistry
from ferry_platform.evaluation import EvaluationService
from ferry_platform.jobs import JobRunner, JobStore
from ferry_platform.monitoring import Monitor
from ferry_platform.pipelines import Orchestrator
from ferry_platform.releases import BatchScoring, ReleaseService
from ferry_platform.serving import ServingRuntime
from ferry_platform.store import (
    AuditRecord,
    JobRecord,
    MonitorStore,
    PipelineStore,
    StateStore,
)


@dataclass
class Application:
    policy: Policy
    audit: Audit
    jobs: AuditedJobs
    models: Models
    evaluations: Evaluations
    deployments: Deployments
    features: Features
    identity: Identity
    monitoring: Monitoring
    _identity_store: IdentityStore
    pipelines: Pipelines
    batch: Batch | None = None

    @classmethod
    def build(cls, *, access: AccessService, identity_store: IdentityStore,
              runner: JobRunner, job_store: JobStore, registry: CatalogRegistry,
              releases: ReleaseService, store: StateStore, runtime: ServingRuntime,
              features: FeaturePort, evaluation: EvaluationService | None,
              max_token_ttl_days: float, training_set_concurrency: int,
              max_model_unpacked_bytes: int, monitor: Monitor, monitors: MonitorStore,
              portal_session_hours: float = 12.0, portal_link_ttl_s: float = 300.0,
              monitoring: MonitoringPolicy | None = None,
              lock: Callable[[str], AbstractContextManager[Any]] | None = None,
              pipeline_store: PipelineStore,
              orchestrator: Orchestrator | None = None, run_log: RunLog | None = None,
              ferry_url: Callable[[], str | None] = lambda: None,
              batch: BatchScoring | None = None,
              ) -> Application:
        policy = Policy(access)
        audit = Audit(access)
        jobs = AuditedJobs(runner, job_store, audit)
        evaluations = Evaluations(policy=policy, access=access, audit=audit, jobs=jobs,
                                  registry=registry, service=evaluation)
        models = Models(policy=policy, access=access, audit=audit, registry=registry,
                        evaluations=evaluations, max_unpacked_bytes=max_model_unpacked_bytes)
        deployments = Deployments(policy=policy, access=access, audit=audit, jobs=jobs,
                                  releases=releases, store=store, registry=registry,
                                  runtime=runtime, evaluations=evaluations, models=models)
        watch = Monitoring(policy=policy, access=access, audit=audit, jobs=jobs,
                           deployments=deployments, store=store, registry=registry,
                           evaluation=evaluation, monitor=monitor, monitors=monitors,
                           runtime=runtime, features=features, settings=monitoring, lock=lock)
        releases.on_built = watch.record_reference
        features_app = Features(policy=policy, audit=audit, jobs=jobs, features=features,
                                training_set_concurrency=training_set_concurrency)
        pipelines = Pipelines(policy=policy, access=access, audit=audit, jobs=jobs,
                              store=pipeline_store, identity_store=identity_store,
                              orchestrator=orchestrator, run_log=run_log, ferry_url=ferry_url,
                              features=features_app)
        watch.on_alert(pipelines.alert_hook)
        return cls(policy, audit, jobs, models, evaluations, deployments,
                   features_app,
                   Identity(policy=policy, access=access, audit=audit, store=identity_store,
                            max_token_ttl_days=max_token_ttl_days,
                            on_access_change=deployments.sync_access,
                            session_ttl=timedelta(hours=portal_session_hours),
                            link_ttl=timedelta(seconds=portal_link_ttl_s)),
                   watch, identity_store, pipelines,
                   Batch(policy=policy, access=access, jobs=jobs, scoring=batch)
                   if batch is not None else None)

    # -- reads that need the caller ------------------------------------------------------
    def audit_events(self, who: Principal, *, actor: str | None = None,
                     resource: str | None = None, team: str | None = None,
                     action: str | None = None, limit: int = 100,
                     before: int | None = None, after: int | None = None) -> list[AuditRecord]:
        """Newest first, a page of at most ``limit`` before (or after) an id. Platform
        admins see every event; others the events of their teams."""
        teams = self.policy.readable_teams(who)
        return self._identity_store.audit_events(actor=actor, resource=resource, team=team,
                                                 teams=teams, action=action, limit=limit,
                                                 before_id=before, after_id=after)

    def jobs_page(self, who: Principal, *, kind: str | None = None,
                  target: str | None = None, state: str | None = None,
                  before: str | None = None, limit: int = 50) -> list[JobRecord]:
        """Newest first, at most ``limit``, older than the job ``before`` (a job id). Jobs
        whose request holds a team's own data (``TEAM_PRIVATE_JOBS``) only of ``who``'s
        teams (platform admins: all)."""
        since = None
        if before is not None:
            last = self.job(before, who)
            since = (last.created_at, last.id)
        return list(self.jobs.store.find(kind=kind, target=target, state=state, limit=limit,
                                         before=since, teams=self.policy.readable_teams(who),
                                         private_kinds=TEAM_PRIVATE_JOBS))

    def job(self, job_id: str, who: Principal) -> JobRecord:
        """A job; one of ``TEAM_PRIVATE_JOBS`` of a team ``who`` is not in answers
        exactly as a missing one."""
        record: JobRecord | None = self.jobs.store.get(job_id)
        if record is None or (record.kind in TEAM_PRIVATE_JOBS and
                              not self.policy.may_read(who, record.team)):
            raise JobNotFound(f"no job {job_id!r}; list recent jobs with `ferry jobs` "
                              "(GET /v1/jobs).")
        return record
