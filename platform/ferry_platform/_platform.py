"""The composition root: builds every capability from one :class:`Settings`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ferry_contract import (
    Conflict,
    DeploymentCreate,
    DeploymentNotFound,
    EvaluationPublic,
    GateFailed,
    MaterializeCreate,
    ModelPublic,
    RolloutCreate,
    ShadowReportPublic,
)
from ferry_platform._settings import Settings
from ferry_platform._version import __version__
from ferry_platform.access import SYSTEM, AccessService, Principal
from ferry_platform.catalog import CatalogRegistry
from ferry_platform.evaluation import EvaluationService
from ferry_platform.features import FeastFeatures
from ferry_platform.jobs import JobContext, JobRunner
from ferry_platform.packaging import BentoPackager
from ferry_platform.registry import MlflowEvaluationStore, MlflowRegistry
from ferry_platform.releases import Defaults, ReleaseService
from ferry_platform.serving import RayServeRuntime
from ferry_platform.store import (
    Database,
    DeploymentRecord,
    JobRecord,
    SqlCatalog,
    SqlIdentityStore,
    SqlJobStore,
    SqlStateStore,
)

log = logging.getLogger("ferry.platform")


@dataclass
class Platform:
    settings: Settings
    registry: CatalogRegistry
    packager: BentoPackager
    runtime: RayServeRuntime
    store: SqlStateStore
    releases: ReleaseService
    features: FeastFeatures
    db: Database
    job_store: SqlJobStore
    jobs: JobRunner
    identity: SqlIdentityStore
    access: AccessService
    evaluations: EvaluationService | None = None
    _stopping: threading.Event = field(default_factory=threading.Event, init=False,
                                       repr=False)
    _watch: threading.Thread | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Platform:
        settings.home.mkdir(parents=True, exist_ok=True)
        if "://" not in settings.mlflow_artifact_root:
            from pathlib import Path

            Path(settings.mlflow_artifact_root).mkdir(parents=True, exist_ok=True)
        db = Database(settings.database_url)
        db.upgrade()
        mlflow_registry = MlflowRegistry(settings.mlflow_tracking_uri,
                                         settings.mlflow_artifact_root,
                                         client_uri=settings.mlflow_public_uri)
        registry = CatalogRegistry(mlflow_registry, SqlCatalog(db),
                                   max_cached_versions=settings.catalog_cache_versions)
        packager = BentoPackager(bentoml_home=settings.bentoml_home,
                                 release_store_uri=settings.release_store_uri,
                                 ferry_version=__version__)
        # Serve's config is one document every control-plane process edits: each
        # read-modify-write holds a lock of the database they share.
        runtime = RayServeRuntime(settings, config_lock=lambda: db.exclusive("serve-config"))
        store = SqlStateStore(db)
        job_store = SqlJobStore(db)
        features = FeastFeatures(repo=settings.feature_repo, project=settings.feature_project,
                                 registry_uri=settings.feature_registry_uri,
                                 online_store=settings.feature_online_store,
                                 redis=settings.feature_redis,
                                 offline_store=settings.feature_offline_store)
        releases = ReleaseService(registry, packager, runtime, store,
                                  Defaults(replicas=settings.default_replicas,
                                           keep_previous=settings.keep_previous), features)
        identity = SqlIdentityStore(db)
        evaluations = EvaluationService(MlflowEvaluationStore(mlflow_registry), registry,
                                        features)
        return cls(settings, registry, packager, runtime, store, releases, features, db,
                   job_store, JobRunner(job_store, lease_s=settings.job_lease_s), identity,
                   AccessService(identity, cache_s=settings.auth_cache_s), evaluations)

    def prepare(self) -> str | None:
        """What every start of the control plane does before serving requests: bring the
        catalog up to date with MLflow, and on first start create the admin (returns how
        to use its token)."""
        self.registry.sync()
        return self.bootstrap()

    def bootstrap(self) -> str | None:
        """First start: create the admin user, the ``default`` team and an admin token in
        ``$FERRY_HOME/admin-token``; returns how to use it (None if users exist)."""
        token_file = self.settings.home / "admin-token"
        issued = self.access.bootstrap(token_file)
        if issued is None:
            return None
        return (f"Ferry created the admin user and its API token in {token_file} (mode 600). "
                f"Log in with: ferry login --url {self.settings.public_url} --token-file "
                f"{token_file}")

    def start(self) -> None:
        """Connect to the serving runtime, finish what stopped processes left (expired
        leases only), reconcile, then keep doing so while this process runs."""
        log.info("starting the serving runtime (Ray %s)",
                 self.settings.ray_address or "local head")
        self.runtime.start()
        self.recover(reconcile=True)
        self._stopping.clear()
        self._watch = threading.Thread(target=self._watch_leases, name="ferry-recovery",
                                       daemon=True)
        self._watch.start()

    def _watch_leases(self) -> None:
        """Every half lease: finish the jobs of processes that stopped renewing theirs,
        and reconcile what they were changing."""
        while not self._stopping.wait(self.jobs.lease_s / 2):
            try:
                self.recover()
            except Exception:
                log.exception("recovering expired jobs failed")

    def stop(self) -> None:
        """Stop taking jobs and wait for the running ones; disconnect from the runtime,
        which keeps serving."""
        self._stopping.set()
        if self._watch is not None:
            self._watch.join(timeout=30)
        self.jobs.shutdown(wait=True)
        self.runtime.stop()

    # -- long operations, as jobs ------------------------------------------------------
    def submit_deploy(self, req: DeploymentCreate, who: Principal = SYSTEM) -> JobRecord:
        """Check the caller may deploy this model under this name, then start the job."""
        name = req.name or req.model
        team = self.access.model_team(req.model)
        resolved = team is None
        if resolved:  # unknown (404 here), or registered before teams: claimed now
            self.registry.get_version(req.model, req.version)
            team = self.access.owning_team(who, req.model)
        self.access.require(who, "deployer", team, f"deploy {req.model!r} (team {team!r})")
        current = self.store.get_deployment(name)
        if current is not None and current.team and current.team != team:
            self.access.require(who, "deployer", current.team,
                                f"replace deployment {name!r} of team {current.team!r}")
        if not resolved:  # an unknown version: 404 now, not a failed job
            self.registry.get_version(req.model, req.version)

        def work(ctx: JobContext) -> dict[str, Any]:
            before = self.store.get_deployment(name)
            what = {"model": req.model, "version": req.version, "job": ctx.job_id,
                    "from_release": before.release_id if before else None}
            try:
                dep = self.releases.deploy(req, ctx.step, team=team, job_id=ctx.job_id)
            except Exception as e:
                self.access.audit(who, "deploy", f"deployment/{name}", team, "failed",
                                  {**what, "error": str(e)[:300]})
                raise
            self.access.audit(who, "deploy", f"deployment/{name}", team, "succeeded",
                              {**what, "to_release": dep.release.release_id})
            return dep.model_dump(mode="json")

        job = self.jobs.submit("deploy", name, who.user, team, req.model_dump(mode="json"),
                               work, lock=f"deployment/{name}")
        self.access.audit(who, "deploy.start", f"deployment/{name}", team, "accepted",
                          {"model": req.model, "version": req.version, "job": job.id})
        return job

    def undeploy(self, name: str, who: Principal = SYSTEM) -> JobRecord:
        """Undeploy as a (short) job, so it is serialized, recorded and audited like a deploy;
        waits for it and returns its record."""
        record = self.store.get_deployment(name)
        if record is None and name not in self.runtime.names():
            self.releases.undeploy(name)  # raises DeploymentNotFound naming what exists
        team = self._team_of(record)
        self.access.require(who, "deployer", team, f"undeploy {name!r}")

        def work(ctx: JobContext) -> dict[str, Any]:
            ctx.step(f"removing {name} from the runtime", 50)
            self.releases.undeploy(name)
            ctx.step(f"{name} undeployed", 100)
            self.access.audit(who, "undeploy", f"deployment/{name}", team, "succeeded",
                              {"from_release": record.release_id if record else None,
                               "to_release": None, "job": ctx.job_id})
            return {"name": name}

        job = self.jobs.submit("undeploy", name, who.user, team, {"name": name}, work,
                               lock=f"deployment/{name}")
        return self.jobs.wait(job.id)  # type: ignore[no-any-return]

    # -- rollouts ----------------------------------------------------------------------
    def _team_of(self, record: DeploymentRecord | None) -> str | None:
        """The team owning a deployment (its model's, for one recorded before teams)."""
        if record is None or record.team is not None:
            return record.team if record else None
        release = self.store.get_release(record.release_id)
        return self.access.model_team(release.model) if release else None

    def _authorize(self, name: str, who: Principal, action: str) -> str | None:
        """Check ``who`` may change deployment ``name`` (404 if unknown); its team."""
        record = self.store.get_deployment(name)
        if record is None:
            self.releases.get(name)  # raises DeploymentNotFound naming what exists
        team = self._team_of(record)
        self.access.require(who, "deployer", team, f"{action} {name!r}")
        return team

    def _rollout_job(self, kind: str, name: str, who: Principal, payload: dict[str, Any],
                     run: Callable[[JobContext], dict[str, Any]],
                     team: str | None = None, authorized: bool = False) -> JobRecord:
        """A change of ``name``'s traffic as a recorded, audited, exclusive job."""
        if not authorized:
            team = self._authorize(name, who, kind)

        def work(ctx: JobContext) -> dict[str, Any]:
            before = self.store.get_deployment(name)
            what = {**payload, "job": ctx.job_id,
                    "from_traffic": self.releases.desired_routes(before) if before else None}
            try:
                result = run(ctx)
            except Exception as e:
                self.access.audit(who, kind, f"deployment/{name}", team, "failed",
                                  {**what, "error": str(e)[:300]})
                raise
            self.access.audit(who, kind, f"deployment/{name}", team, "succeeded",
                              {**what, "to_traffic": result.get("traffic")})
            return result

        job = self.jobs.submit(kind, name, who.user, team, payload, work,
                               lock=f"deployment/{name}")
        self.access.audit(who, f"{kind}.start", f"deployment/{name}", team, "accepted",
                          {**payload, "job": job.id})
        return job

    # -- the gate ----------------------------------------------------------------------
    def _gate_plan(self, model: str, version: int, who: Principal, reason: str | None,
                   action: str) -> tuple[bool, int | None]:
        """Before a job: refuse at once what is known to fail its gate. Returns (whether
        the job must evaluate first, the champion it is compared with)."""
        ev = self.evaluations
        if ev is None:
            return False, None
        team = self.access.model_team(model)
        if reason:  # an explicit override: admins only, and on the record
            self.access.require(who, "admin", team, f"override the gate of {model!r}")
            self.access.audit(who, "gate.override", f"model/{model}", team, "accepted",
                              {"version": version, "action": action, "reason": reason})
            return False, None
        if not ev.has_eval_set(model):
            raise GateFailed(
                f"{model} has no evaluation set, so v{version} cannot {action}: every "
                "candidate is compared with the champion and a baseline first. Create one: "
                f"client.create_eval_set({model!r}, rows, label=...) or `ferry eval set "
                f"{model} FILE --label COLUMN` (admins may override with a reason).",
                details={"model": model, "version": version})
        champion = ev.champion(model)
        against = None if champion == version else champion
        found = ev.latest(model, version, against)
        if found is not None:
            ev.require_passed(model, version, found, action)
        return found is None, against

    def _gate_in_job(self, ctx: JobContext, model: str, version: int, against: int | None,
                     action: str) -> EvaluationPublic:
        assert self.evaluations is not None
        ctx.step(f"evaluating {model} v{version} against "
                 f"{f'v{against}' if against else 'the baseline'}", 2)
        found = self.evaluations.evaluate(model, version, against)
        self.evaluations.require_passed(model, version, found, action)
        return found

    def evaluate_on_register(self, model: str, version: int,
                             who: Principal = SYSTEM) -> JobRecord | None:
        """Every new version of a model with an evaluation set is evaluated at once,
        against the champion and the baseline (a job; None if there is no set)."""
        ev = self.evaluations
        if ev is None or not ev.has_eval_set(model):
            return None
        return self.submit_evaluation(model, version, None, who, on="register")

    def submit_evaluation(self, model: str, version: int, against: int | None,
                          who: Principal = SYSTEM, on: str = "request") -> JobRecord:
        """Evaluate ``version`` against ``against`` (default: the champion) as a job."""
        ev = self.evaluations
        assert ev is not None

        def work(ctx: JobContext) -> dict[str, Any]:
            return ev.evaluate(model, version, against, ctx.step).model_dump(mode="json")

        return self.jobs.submit("evaluate", model, who.user, self.access.model_team(model),
                                {"version": version, "against": against, "on": on}, work)

    def set_champion(self, model: str, version: int, who: Principal = SYSTEM,
                     reason: str | None = None) -> ModelPublic:
        """Move the champion alias, through the gate (evaluating now if needed)."""
        team = self.access.model_team(model)
        self.access.require(who, "deployer", team, f"set the champion of {model!r}")
        self.registry.get_version(model, version)
        evaluate, against = self._gate_plan(model, version, who, reason, "become champion")
        if evaluate:
            assert self.evaluations is not None
            found = self.evaluations.evaluate(model, version, against)
            self.evaluations.require_passed(model, version, found, "become champion")
        return self._move_champion(model, version, who, team, reason)

    def _move_champion(self, model: str, version: int, who: Principal, team: str | None,
                       reason: str | None) -> ModelPublic:
        if self.evaluations is None:
            return self.registry.get_model(model)
        before = self.evaluations.champion(model)
        self.evaluations.set_champion(model, version)
        self.access.audit(who, "champion", f"model/{model}", team, "succeeded",
                          {"from_version": before, "to_version": version, "reason": reason})
        return self.registry.refresh_model(model)

    def submit_rollout(self, name: str, req: RolloutCreate,
                       who: Principal = SYSTEM) -> JobRecord:
        """Start a canary, A/B or shadow rollout of ``req.version`` on ``name``. What can be
        refused at once is (unknown deployment or version, a rollout under way)."""
        record = self.store.get_deployment(name)
        if record is None:
            self.releases.get(name)
        assert record is not None
        if record.rollout:
            raise self.releases.in_progress(record)
        stable = self.store.get_release(record.release_id)
        model = req.model or (stable.model if stable else name)
        self.registry.get_version(model, req.version)  # 404 now, not a failed job
        team = self._authorize(name, who, "roll out on")
        evaluate, against = self._gate_plan(model, req.version, who, req.override_reason,
                                            "be rolled out")

        def run(ctx: JobContext) -> dict[str, Any]:
            if evaluate:
                self._gate_in_job(ctx, model, req.version, against, "be rolled out")
            return self.releases.rollout(name, req, ctx.step, ctx.job_id).model_dump(mode="json")

        return self._rollout_job("rollout", name, who, req.model_dump(mode="json"), run,
                                 team, authorized=True)

    def submit_weight(self, name: str, weight: int, who: Principal = SYSTEM) -> JobRecord:
        return self._rollout_job(
            "rollout.weight", name, who, {"weight": weight},
            lambda ctx: self.releases.set_weight(name, weight, ctx.step, ctx.job_id)
            .model_dump(mode="json"))

    def submit_promote(self, name: str, who: Principal = SYSTEM,
                       reason: str | None = None) -> JobRecord:
        """The candidate takes all traffic and, through the gate, becomes champion."""
        dep = self.releases.get(name)
        if dep.rollout is None:
            record = self.store.get_deployment(name)
            assert record is not None
            raise self.releases.no_rollout(record, "promote")
        model, version = dep.rollout.candidate.model, dep.rollout.candidate.version
        team = self._authorize(name, who, "promote on")
        evaluate, against = self._gate_plan(model, version, who, reason, "become champion")

        candidate = dep.rollout.candidate.release_id

        def run(ctx: JobContext) -> dict[str, Any]:
            now = self.store.get_deployment(name)
            if now is None or (now.rollout or {}).get("candidate") != candidate:
                raise Conflict(f"the rollout on {name!r} changed since this promote was "
                               f"asked for ({candidate} is no longer its candidate); look "
                               "again and retry", details={"deployment": name})
            if evaluate:
                self._gate_in_job(ctx, model, version, against, "become champion")
            promoted, _old = self.releases.promote(name, ctx.step, ctx.job_id)
            self._move_champion(model, version, who, team, reason)
            return promoted.model_dump(mode="json")

        return self._rollout_job("rollout.promote", name, who, {"reason": reason}, run,
                                 team, authorized=True)

    def submit_abort(self, name: str, who: Principal = SYSTEM) -> JobRecord:
        return self._rollout_job(
            "rollout.abort", name, who, {},
            lambda ctx: self.releases.abort(name, ctx.step, ctx.job_id).model_dump(mode="json"))

    def submit_rollback(self, name: str, who: Principal = SYSTEM) -> JobRecord:
        team = self._authorize(name, who, "rollback")

        def run(ctx: JobContext) -> dict[str, Any]:
            dep, bad = self.releases.rollback(name, ctx.step, ctx.job_id)
            # The champion follows a rollback of the release it names.
            ev = self.evaluations
            if bad is not None and ev is not None and ev.champion(bad.model) == bad.version \
                    and dep.release.model == bad.model:
                self._move_champion(bad.model, dep.release.version, who, team,
                                    f"rollback of {name} from {bad.release_id}")
            return dep.model_dump(mode="json")

        return self._rollout_job("rollback", name, who, {}, run, team, authorized=True)

    def shadow_report(self, name: str) -> ShadowReportPublic:
        dep = self.releases.get(name)
        shadow = dep.rollout.candidate.release_id if dep.rollout and \
            dep.rollout.mode.value == "shadow" else None
        raw = self.runtime.shadow_report(name) or {}
        if shadow is None or raw.get("shadow_release") != shadow:
            return ShadowReportPublic(deployment=name, shadow_release_id=shadow)
        compared = int(raw.get("agreed", 0)) + int(raw.get("disagreed", 0))
        return ShadowReportPublic(
            deployment=name, shadow_release_id=shadow, requests=int(raw.get("requests", 0)),
            agreed=int(raw.get("agreed", 0)), disagreed=int(raw.get("disagreed", 0)),
            shadow_errors=int(raw.get("shadow_errors", 0)),
            agreement=(raw.get("agreed", 0) / compared) if compared else None,
            samples=list(raw.get("samples", [])))

    def submit_materialize(self, body: MaterializeCreate, who: Principal = SYSTEM) -> JobRecord:
        self.access.require_any(who, "deployer", "materialize features")

        def work(ctx: JobContext) -> dict[str, Any]:
            def progress(done: int, total: int, part: str) -> None:
                ctx.step(f"materializing {part}" if part else "materialized",
                         int(100 * done / max(total, 1)))

            done = self.features.materialize(body.start, body.end, body.views, progress)
            self.access.audit(who, "materialize", "features", None, "succeeded",
                              {"views": done, "job": ctx.job_id})
            return {"materialized": done}

        job = self.jobs.submit("materialize", "features", who.user, None,
                               body.model_dump(mode="json"), work, lock="features/materialize")
        self.access.audit(who, "materialize.start", "features", None, "accepted",
                          {"job": job.id})
        return job

    # -- restart, and other processes ---------------------------------------------------
    def recover(self, reconcile: bool = False) -> list[JobRecord]:
        """Finish, explicitly, the jobs whose process stopped vouching for them (their lease
        expired: killed, frozen, cut off), then reconcile Serve with the database if any
        was finished (or if ``reconcile``). Jobs of live processes are not touched.

        Of several processes recovering at once, one takes each job over. A deploy or
        traffic change whose final record was written succeeded; any other job failed
        with code ``interrupted``, naming the step it was at."""
        finished = []
        self.jobs.renew()  # this process's own jobs are live, even if a beat came late
        for expired in self.job_store.expired():
            job = self.job_store.take_over(expired.id, self.jobs.owner, self.jobs.lease_s)
            if job is None:  # renewed meanwhile, or another process took it
                continue
            who = f"its control plane ({expired.owner})" if expired.owner else \
                "the control plane"
            changes = job.kind == "deploy" or job.kind.startswith("rollout") or \
                job.kind == "rollback"
            record = self.store.get_deployment(job.target) if changes else None
            if record is not None and record.job_id == job.id:
                self.job_store.log(job.id, f"{who} stopped after this {job.kind} was "
                                           "recorded; it is complete", self.jobs.owner)
                done = self.job_store.finish(job.id, owner=self.jobs.owner, result={
                    "name": record.name, "release_id": record.release_id})
            else:
                message = (f"interrupted: {who} stopped while this {job.kind} job was at "
                           f"step '{job.step or 'queued'}'. Nothing was left half-done: the "
                           "deployment is reconciled to its recorded release. Run it again.")
                self.job_store.log(job.id, message, self.jobs.owner)
                done = self.job_store.finish(job.id, owner=self.jobs.owner, error={
                    "code": "interrupted", "status": 409, "message": message,
                    "details": {"step": job.step, "owner": expired.owner}})
            if done is not None:
                log.warning("finished job %s (%s %s) of a stopped process: %s", job.id,
                            job.kind, job.target, done.state)
                finished.append(done)
        if finished or reconcile:
            self.reconcile()
        return finished

    def _drift(self, name: str, record: DeploymentRecord | None) -> str | None:
        """What differs between the runtime and the record of ``name`` (None: nothing)."""
        if record is None:
            return "no deployment of that name is recorded" \
                if name in self.runtime.names() else None
        desired = self.releases.desired_routes(record)
        routes = self.runtime.routes_of(name)
        if routes != desired:
            return f"recorded routes {desired}, runtime routes {routes or 'nothing'}"
        extra = self.runtime.releases_of(name) - set(desired)
        if extra:
            return f"releases {sorted(extra)} run without being routed or recorded"
        return None

    def reconcile(self) -> list[JobRecord]:
        """Make Serve run what the database records, one ``reconcile`` job per deployment
        name that differs: re-apply its recorded routes (stopping releases nobody routes
        nor records, e.g. one started by a change cut off before its switch), or remove it
        if no deployment of that name is recorded (a first deploy cut off).

        A name whose lock is held is left alone: a job is changing it (a live one, or one
        recovery will finish and reconcile after). Each job decides again under the lock."""
        known = {r.name: r for r in self.store.list_deployments()}
        jobs = []
        for name in sorted(set(self.runtime.names()) | set(known)):
            record = known.get(name)
            drift = self._drift(name, record)
            if drift is None or self.job_store.lock_holder(f"deployment/{name}"):
                continue

            def work(ctx: JobContext, name: str = name) -> dict[str, Any]:
                record = self.store.get_deployment(name)  # again, under the lock
                drift = self._drift(name, record)
                if drift is None:
                    return {"name": name, "in_sync": True}
                ctx.log(f"{name}: {drift}")
                if record is None:
                    ctx.step(f"removing {name} from Ray Serve: no deployment of that name "
                             "is recorded (a first deploy cut off)", 50)
                    self.runtime.delete(name)
                    ctx.step(f"{name} removed", 100)
                    return {"name": name, "removed": True}
                try:
                    return self.releases.reapply(name, ctx.step).model_dump(mode="json")
                except DeploymentNotFound:  # undeployed meanwhile
                    return {"name": name, "undeployed": True}

            log.info("%s: %s: reconciling", name, drift)
            try:
                jobs.append(self.jobs.submit(
                    "reconcile", name, "ferry", record.team if record else None,
                    {"name": name, "release_id": record.release_id if record else None,
                     "runtime": self.runtime.routes_of(name) or None, "drift": drift}, work,
                    lock=f"deployment/{name}"))
            except Conflict:  # a change of this name started meanwhile: it owns it
                continue
        return jobs
