"""Deployments as the API, the SDK and the portal change them: deploy, undeploy, roll out,
weigh, promote, abort, roll back. Each call is checked against the policy, recorded as a
job and audited; the work itself is the releases use case's."""

from __future__ import annotations

import logging
from typing import Any

from ferry_contract import (
    Conflict,
    DeploymentCreate,
    DeploymentPublic,
    JobKind,
    NotFound,
    RolloutCreate,
    RolloutMode,
    ShadowReportPublic,
)
from ferry_platform.access import AccessService, Principal
from ferry_platform.application._audited import Audit, AuditedJobs
from ferry_platform.application._evaluations import Evaluations
from ferry_platform.application._models import Models
from ferry_platform.application._policy import Policy, resource
from ferry_platform.catalog import CatalogRegistry
from ferry_platform.core import ReleaseManifest
from ferry_platform.jobs import JobContext
from ferry_platform.releases import ReleaseService
from ferry_platform.serving import RouterAccess, ServingRuntime
from ferry_platform.store import DeploymentRecord, JobRecord, StateStore

log = logging.getLogger("ferry.deployments")


class Deployments:
    def __init__(self, *, policy: Policy, access: AccessService, audit: Audit,
                 jobs: AuditedJobs, releases: ReleaseService, store: StateStore,
                 registry: CatalogRegistry, runtime: ServingRuntime,
                 evaluations: Evaluations, models: Models) -> None:
        self._policy = policy
        self._access = access
        self._audit = audit
        self._jobs = jobs
        self._releases = releases
        self._store = store
        self._registry = registry
        self._runtime = runtime
        self._evaluations = evaluations
        self._models = models
        releases.access = self.access_of

    # -- reads --------------------------------------------------------------------------
    def list_all(self) -> list[DeploymentPublic]:
        return self._releases.list()

    def get(self, name: str) -> DeploymentPublic:
        return self._releases.get(name)

    def releases(self, model: str | None, limit: int) -> list[ReleaseManifest]:
        return self._store.list_releases(model, limit)

    def release(self, release_id: str) -> ReleaseManifest:
        manifest = self._store.get_release(release_id)
        if manifest is None:
            raise NotFound(f"no release {release_id!r}; list them with GET /v1/releases")
        return manifest

    def shadow_report(self, name: str) -> ShadowReportPublic:
        dep = self._releases.get(name)
        shadow = dep.rollout.candidate.release_id if dep.rollout and \
            dep.rollout.mode is RolloutMode.shadow else None
        raw: dict[str, Any] = dict(self._runtime.shadow_report(name) or {})
        if shadow is None or raw.get("shadow_release") != shadow:
            return ShadowReportPublic(deployment=name, shadow_release_id=shadow)
        agreed, disagreed = int(raw.get("agreed", 0)), int(raw.get("disagreed", 0))
        compared = agreed + disagreed
        return ShadowReportPublic(
            deployment=name, shadow_release_id=shadow, requests=int(raw.get("requests", 0)),
            agreed=agreed, disagreed=disagreed,
            shadow_errors=int(raw.get("shadow_errors", 0)),
            agreement=(agreed / compared) if compared else None,
            samples=list(raw.get("samples", [])))

    # -- who owns what ------------------------------------------------------------------
    def team_of(self, record: DeploymentRecord | None) -> str | None:
        """The team owning a deployment (its model's, for one recorded before teams)."""
        if record is None or record.team is not None:
            return record.team if record else None
        release = self._store.get_release(record.release_id)
        return self._access.model_team(release.model) if release else None

    def _recorded(self, name: str) -> DeploymentRecord:
        record = self._store.get_deployment(name)
        if record is None:
            self._releases.get(name)  # raises DeploymentNotFound naming what exists
        assert record is not None
        return record

    # -- deploy and undeploy ------------------------------------------------------------
    def create(self, req: DeploymentCreate, who: Principal) -> JobRecord:
        """Check the caller may deploy this model under this name, then start the job."""
        name = req.name or req.model
        self._registry.get_version(req.model, req.version)  # 404 now, not a failed job
        self._releases.scaling(req)  # over the platform's replica limit: 400 now, too
        team = self._models.owner(req.model, who)
        res = resource("deployment", name)
        self._policy.require(who, "create_deployment", resource=res, team=team)
        current = self._store.get_deployment(name)
        current_team = self.team_of(current)
        if current is not None and current_team != team:
            self._policy.require(who, "create_deployment", resource=res, team=current_team)
        # A version that would break the clients of what serves is refused now (the job
        # checks again, under the deployment's lock), unless the caller says so.
        changes = self._releases.contract_changes(name, req.model, req.version)
        if changes and not req.allow_contract_change:
            raise self._releases.contract_refusal(name, req.model, req.version, changes, False)
        payload: dict[str, Any] = {"model": req.model, "version": req.version}
        if changes:
            payload["contract_change"] = changes

        def before() -> dict[str, Any]:
            now = self._store.get_deployment(name)
            return {"from_release": now.release_id if now else None}

        def run(ctx: JobContext) -> dict[str, Any]:
            dep = self._releases.deploy(req, ctx.step, team=team, job_id=ctx.job_id,
                                        phases=ctx.phases)
            return dep.model_dump(mode="json")

        return self._jobs.submit(
            who, JobKind.deploy, name, res, [team, current_team], payload, run, lock=res,
            before=before,
            summary=lambda r: {"to_release": r["release"]["release_id"]})

    def delete(self, name: str, who: Principal) -> JobRecord:
        """Undeploy as a (short) job, serialized, recorded and audited like a deploy;
        waits for it (raising its error) and returns its record."""
        record = self._store.get_deployment(name)
        if record is None and name not in self._runtime.names():
            self._releases.undeploy(name)  # raises DeploymentNotFound naming what exists
        team = self.team_of(record)
        res = resource("deployment", name)
        self._policy.require(who, "delete_deployment", resource=res, team=team)

        def run(ctx: JobContext) -> dict[str, Any]:
            ctx.step(f"removing {name} from the runtime", 50)
            self._releases.undeploy(name)
            ctx.step(f"{name} undeployed", 100)
            return {"name": name}

        job = self._jobs.submit(
            who, JobKind.undeploy, name, res, [team], {"name": name}, run, lock=res,
            summary=lambda _r: {"from_release": record.release_id if record else None,
                                "to_release": None})
        return self._jobs.done(job)

    # -- who may predict -----------------------------------------------------------------
    def access_of(self, record: DeploymentRecord) -> RouterAccess:
        """The router's access for ``record``: its team's live tokens (members' and
        platform admins'), or anyone if a team admin allowed anonymous predictions."""
        return RouterAccess(tokens=self._access.predict_digests(self.team_of(record)),
                            anonymous=record.anonymous_predict)

    def set_access(self, name: str, anonymous: bool, who: Principal) -> DeploymentPublic:
        """Allow or stop predictions without a token (a short job, serialized with the
        deployment's other changes; audited)."""
        record = self._recorded(name)
        team = self.team_of(record)
        res = resource("deployment", name)
        self._policy.require(who, "update_deployment_access", resource=res, team=team)

        def run(ctx: JobContext) -> dict[str, Any]:
            ctx.step(f"{'allowing' if anonymous else 'refusing'} predictions without a token "
                     f"on {name}", 50)
            self._releases.set_anonymous(name, anonymous)
            return {"name": name, "anonymous_predict": anonymous}

        self._jobs.done(self._jobs.submit(
            who, JobKind.access, name, res, [team], {"anonymous_predict": anonymous}, run,
            lock=res, before=lambda: {"from_anonymous_predict": record.anonymous_predict}))
        return self._releases.get(name)

    def sync_access(self, teams: list[str] | None) -> list[str]:
        """Push who may predict to the routers of ``teams``' deployments (None: all), after a
        token, role or user changed; returns the deployments updated."""
        done = []
        for record in self._store.list_deployments():
            if teams is None or self.team_of(record) in teams:
                try:
                    if self._releases.sync_access(record.name):
                        done.append(record.name)
                except Exception as e:  # noqa: BLE001 - the next change or deploy pushes it
                    log.warning("could not update who may predict on %s: %s", record.name, e)
        return done

    # -- rollouts -----------------------------------------------------------------------
    def _traffic_job(self, kind: JobKind, name: str, who: Principal,
                     payload: dict[str, Any], run: Any, *, team: str | None,
                     model_team: str | None = None, long: bool = False) -> JobRecord:
        """A change of ``name``'s traffic as a recorded, audited, exclusive job (``long``:
        it evaluates first, so it queues with the long jobs, not the traffic changes)."""
        res = resource("deployment", name)

        def before() -> dict[str, Any]:
            now = self._store.get_deployment(name)
            return {"from_traffic": self._releases.desired_routes(now) if now else None}

        return self._jobs.submit(who, kind, name, res, [team, model_team], payload, run,
                                 lock=res, before=before, long=long,
                                 summary=lambda r: {"to_traffic": r.get("traffic")})

    def rollout(self, name: str, req: RolloutCreate, who: Principal) -> JobRecord:
        """Start a canary, A/B or shadow rollout of ``req.version`` on ``name``. What can be
        refused at once is (the caller's role in the deployment's and in the model's team,
        unknown deployment or version, a rollout under way, a failed gate)."""
        record = self._recorded(name)
        team = self.team_of(record)
        res = resource("deployment", name)
        self._policy.require(who, "start_rollout", resource=res, team=team, model_team=team)
        if record.rollout:
            raise self._releases.in_progress(record)
        stable = self._store.get_release(record.release_id)
        model = req.model or (stable.model if stable else name)
        self._registry.get_version(model, req.version)  # 404 now, not a failed job
        model_team = self._access.model_team(model)
        self._policy.require(who, "start_rollout", resource=res, team=team,
                             model_team=model_team)
        changes = self._releases.contract_changes(name, model, req.version)
        if changes:
            raise self._releases.contract_refusal(name, model, req.version, changes, True)
        gate = self._evaluations.gate_plan(model, req.version, who, req.override_reason,
                                           "be rolled out")

        def run(ctx: JobContext) -> dict[str, Any]:
            gate.check_in_job(ctx)
            return self._releases.rollout(name, req, ctx.step, ctx.job_id,
                                          phases=ctx.phases).model_dump(mode="json")

        return self._traffic_job(JobKind.rollout, name, who,
                                 req.model_dump(mode="json"), run, team=team,
                                 model_team=model_team)

    def set_weight(self, name: str, weight: int, who: Principal,
                   details: dict[str, Any] | None = None) -> JobRecord:
        """``details``: why, recorded with the job and its audit events (canary analysis
        puts its numbers there)."""
        team = self.team_of(self._recorded(name))
        self._policy.require(who, "update_rollout", resource=resource("deployment", name),
                             team=team)
        return self._traffic_job(
            JobKind.rollout_weight, name, who, {"weight": weight, **(details or {})},
            lambda ctx: self._releases.set_weight(name, weight, ctx.step, ctx.job_id)
            .model_dump(mode="json"), team=team)

    def promote(self, name: str, who: Principal, reason: str | None = None,
                details: dict[str, Any] | None = None) -> JobRecord:
        """The candidate takes all traffic and, through the gate, becomes champion."""
        record = self._recorded(name)
        team = self.team_of(record)
        res = resource("deployment", name)
        self._policy.require(who, "promote_rollout", resource=res, team=team, model_team=team)
        if not record.rollout:
            raise self._releases.no_rollout(record, "promote")
        dep = self._releases.get(name)
        assert dep.rollout is not None
        candidate = dep.rollout.candidate
        model, version = candidate.model, candidate.version
        model_team = self._access.model_team(model)
        self._policy.require(who, "promote_rollout", resource=res, team=team,
                             model_team=model_team)
        gate = self._evaluations.gate_plan(model, version, who, reason, "become champion")

        def run(ctx: JobContext) -> dict[str, Any]:
            now = self._store.get_deployment(name)
            if now is None or (now.rollout or {}).get("candidate") != candidate.release_id:
                raise Conflict(f"the rollout on {name!r} changed since this promote was "
                               f"asked for ({candidate.release_id} is no longer its "
                               "candidate); look again and retry", details={"deployment": name})
            gate.check_in_job(ctx)
            promoted, _old = self._releases.promote(name, ctx.step, ctx.job_id)
            self._evaluations.move_champion(model, version, who, reason,
                                            f"promote of {candidate.release_id} on {name}")
            return promoted.model_dump(mode="json")

        return self._traffic_job(JobKind.rollout_promote, name, who,
                                 {"reason": reason, **(details or {})}, run, team=team,
                                 model_team=model_team,
                                 long=gate.evaluate and gate.service is not None)

    def abort(self, name: str, who: Principal) -> JobRecord:
        team = self.team_of(self._recorded(name))
        self._policy.require(who, "abort_rollout", resource=resource("deployment", name),
                             team=team)
        return self._traffic_job(
            JobKind.rollout_abort, name, who, {},
            lambda ctx: self._releases.abort(name, ctx.step, ctx.job_id).model_dump(mode="json"),
            team=team)

    def rollback(self, name: str, who: Principal,
                 details: dict[str, Any] | None = None) -> JobRecord:
        """Back to the previous release (or the end of a rollout). The champion follows
        a rollback of the release it names, if the caller may move it. ``details``: why
        (recorded with the job and its audit events)."""
        team = self.team_of(self._recorded(name))
        self._policy.require(who, "rollback_deployment", resource=resource("deployment", name),
                             team=team)

        def run(ctx: JobContext) -> dict[str, Any]:
            dep, bad = self._releases.rollback(name, ctx.step, ctx.job_id)
            if bad is not None and dep.release.model == bad.model:
                self._evaluations.champion_follows_rollback(
                    bad.model, bad.version, dep.release.version, who, ctx,
                    f"rollback of {name} from {bad.release_id}")
            return dep.model_dump(mode="json")

        return self._traffic_job(JobKind.rollback, name, who, dict(details or {}), run,
                                 team=team)
