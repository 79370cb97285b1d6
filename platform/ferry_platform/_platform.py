"""The composition root: builds every capability from one :class:`Settings`."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry_contract import Conflict, DeploymentNotFound, Interrupted, JobKind
from ferry_platform._settings import SandboxKind, Settings
from ferry_platform._version import __version__
from ferry_platform.access import AccessService, IdentityStore
from ferry_platform.application import Application, FeaturePort, MonitoringPolicy
from ferry_platform.catalog import CatalogRegistry
from ferry_platform.core import REDACTOR, private_dir, with_statement_timeout
from ferry_platform.evaluation import EvaluationLimits, EvaluationService
from ferry_platform.features import FeastFeatures
from ferry_platform.jobs import JobContext, JobRunner, JobStore
from ferry_platform.monitoring import Monitor, MonitoringService, RayExecutor
from ferry_platform.packaging import BentoPackager, Packager
from ferry_platform.pipelines import Orchestrator, PrefectOrchestrator
from ferry_platform.registry import MlflowEvaluationStore, MlflowRegistry, MlflowRunLog
from ferry_platform.releases import BatchScoring, DataRoots, Defaults, ReleaseService
from ferry_platform.sandbox import ProcessSandbox, RaySandbox, Sandbox
from ferry_platform.serving import RayServeRuntime, ServingRuntime
from ferry_platform.store import (
    Database,
    DeploymentRecord,
    JobRecord,
    MonitorStore,
    SqlCatalog,
    SqlIdentityStore,
    SqlJobStore,
    SqlMonitorStore,
    SqlPipelineStore,
    SqlStateStore,
    StateStore,
)

log = logging.getLogger("ferry.platform")


def monitor_for(settings: Settings) -> Monitor:
    """Monitoring over the prediction log (FERRY_PREDICTION_LOG_URI); references beside the
    releases (FERRY_RELEASE_STORE_URI/references); computed in Ray tasks when connected."""
    from ferry_platform.application._monitoring import METRICS_FN
    from ferry_platform.serving import serve_env

    store = settings.release_store_uri
    references = f"{store.rstrip('/')}/references" if "://" in store \
        else str(Path(store) / "references")
    return MonitoringService(settings.prediction_log_uri, references,
                             executor=RayExecutor(env=serve_env(settings.serving_config())),
                             max_rows=settings.monitor_max_rows, metrics_fn=METRICS_FN)


def monitoring_policy(settings: Settings) -> MonitoringPolicy:
    return MonitoringPolicy(enabled=settings.monitoring,
                            interval_s=settings.monitor_interval_s,
                            window=settings.monitor_window,
                            retention_days=settings.prediction_log_retention_days,
                            webhook_url=settings.alert_webhook_url,
                            flush_s=settings.prediction_log_flush_s)


def orchestrator_for(settings: Settings) -> Orchestrator:
    """Pipelines on Prefect, each run in the evaluation's kind of sandbox; steps on Ray if
    FERRY_PIPELINE_RAY_TASKS (the platform's Ray: FERRY_RAY_ADDRESS or its local head)."""
    def ray_address() -> str | None:
        if not settings.pipeline_ray_tasks:
            return None
        if settings.ray_address:
            return settings.ray_address
        from ferry_platform.serving import LocalRayHead

        head = LocalRayHead(settings.home).running()
        return head.address if head else None

    return PrefectOrchestrator(sandbox_for(settings), home=settings.home / "prefect",
                               api_url=settings.prefect_api_url or None,
                               ray_address=ray_address, memory_mb=settings.pipeline_memory_mb)


def sandbox_for(settings: Settings) -> Sandbox:
    """Where evaluated models' code runs (FERRY_EVALUATION_SANDBOX)."""
    if settings.evaluation_sandbox is SandboxKind.process:
        return ProcessSandbox()
    return RaySandbox()


@dataclass
class Platform:
    """The capabilities and use cases of one control-plane process, and the application
    layer (:attr:`app`) every client goes through."""

    settings: Settings
    registry: CatalogRegistry
    packager: Packager
    runtime: ServingRuntime
    store: StateStore
    releases: ReleaseService
    features: FeaturePort
    db: Database
    job_store: JobStore
    jobs: JobRunner
    identity: IdentityStore
    access: AccessService
    evaluation: EvaluationService | None = None
    monitor: Monitor | None = None
    monitors: MonitorStore | None = None
    orchestrator: Orchestrator | None = None
    run_log: MlflowRunLog | None = None
    app: Application = field(init=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False,
                                       repr=False)
    _watch: threading.Thread | None = field(default=None, init=False, repr=False)
    _monitoring: threading.Thread | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.monitor is None:
            self.monitor = monitor_for(self.settings)
        if self.monitors is None:
            self.monitors = SqlMonitorStore(self.db)
        self.app = Application.build(
            access=self.access, identity_store=self.identity, runner=self.jobs,
            job_store=self.job_store, registry=self.registry, releases=self.releases,
            store=self.store, runtime=self.runtime, features=self.features,
            evaluation=self.evaluation, max_token_ttl_days=self.settings.token_max_ttl_days,
            training_set_concurrency=self.settings.training_set_concurrency,
            max_model_unpacked_bytes=int(self.settings.max_model_unpacked_mb * 2**20),
            portal_session_hours=self.settings.portal_session_hours,
            portal_link_ttl_s=self.settings.portal_link_ttl_s,
            monitor=self.monitor, monitors=self.monitors,
            monitoring=monitoring_policy(self.settings),
            lock=lambda name: self.db.exclusive(name, timeout_s=60),
            pipeline_store=SqlPipelineStore(self.db), orchestrator=self.orchestrator,
            run_log=self.run_log, ferry_url=lambda: self.settings.public_url or None,
            batch=self._batch_scoring())

    def _batch_scoring(self) -> BatchScoring:
        """Batch scoring on the serving runtime's Ray (its workers get serve_env)."""
        from ferry_platform.serving import serve_env

        settings = self.settings
        return BatchScoring(self.registry, self.store, self.features,  # type: ignore[arg-type]
                            bentoml_home=settings.bentoml_home,
                            env=lambda: serve_env(settings.serving_config()),
                            actors=settings.batch_actors,
                            actor_cpus=settings.batch_actor_cpus,
                            batch_size=settings.batch_rows,
                            roots=DataRoots(settings.batch_roots.split(",")))

    @classmethod
    def from_settings(cls, settings: Settings) -> Platform:
        private_dir(settings.home)  # 0700: it holds databases and the admin token
        for secret in ("admin-token", "credentials.json", "ferry.env"):  # tighten older files
            if (settings.home / secret).exists():
                (settings.home / secret).chmod(0o600)
        if "://" not in settings.mlflow_artifact_root:
            Path(settings.mlflow_artifact_root).mkdir(parents=True, exist_ok=True)
        REDACTOR.learn(settings.secret_values())
        REDACTOR.learn_environment()
        db = Database(settings.database_url, settings.db_statement_timeout_s)
        db.upgrade()
        mlflow_registry = MlflowRegistry(
            with_statement_timeout(settings.mlflow_tracking_uri, settings.db_statement_timeout_s),
            settings.mlflow_artifact_root)
        registry = CatalogRegistry(mlflow_registry, SqlCatalog(db),
                                   max_cached_versions=settings.catalog_cache_versions)
        packager = BentoPackager(bentoml_home=settings.bentoml_home,
                                 release_store_uri=settings.release_store_uri,
                                 ferry_version=__version__)
        store = SqlStateStore(db)
        job_store = SqlJobStore(db)
        features = FeastFeatures(repo=settings.feature_repo, project=settings.feature_project,
                                 registry_uri=settings.feature_registry_uri,
                                 online_store=settings.feature_online_store,
                                 redis=settings.feature_redis,
                                 offline_store=settings.feature_offline_store)
        # Serve's config is one document every control-plane process edits: each
        # read-modify-write holds a lock of the database they share.
        runtime = RayServeRuntime(settings.serving_config(),
                                  worker_secrets=features.worker_secrets(),
                                  config_lock=lambda: db.exclusive("serve-config"))
        releases = ReleaseService(registry, packager, runtime, store,
                                  Defaults(replicas=settings.default_replicas,
                                           keep_previous=settings.keep_previous,
                                           max_replicas=settings.max_replicas), features)
        identity = SqlIdentityStore(db)
        evaluations = EvaluationService(
            MlflowEvaluationStore(mlflow_registry), registry, features,
            sandbox=sandbox_for(settings),
            limits=EvaluationLimits(timeout_s=settings.evaluation_timeout_s,
                                    memory_mb=settings.evaluation_memory_mb))
        return cls(settings, registry, packager, runtime, store, releases, features, db,
                   job_store, JobRunner(job_store, lease_s=settings.job_lease_s), identity,
                   AccessService(identity, cache_s=settings.auth_cache_s), evaluations,
                   orchestrator=orchestrator_for(settings),
                   run_log=MlflowRunLog(mlflow_registry))

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
        if self.settings.monitoring or self.settings.pipelines:
            self._monitoring = threading.Thread(target=self._watch_monitoring,
                                                name="ferry-monitoring", daemon=True)
            self._monitoring.start()

    def _watch_monitoring(self) -> None:
        """Every second: canary checks that are due, and each deployment's scheduled
        monitoring job every FERRY_MONITOR_INTERVAL_S."""
        while not self._stopping.wait(1.0):
            if self.settings.monitoring:
                try:
                    self.app.monitoring.tick()
                except Exception:
                    log.exception("the monitoring scheduler failed; it goes on")
            self._tick_pipelines()

    def _tick_pipelines(self) -> None:
        if not self.settings.pipelines:
            return
        try:
            self.app.pipelines.tick()
        except Exception:
            log.exception("the pipelines scheduler failed; it goes on")

    def _watch_leases(self) -> None:
        """Every half lease: finish the jobs of processes that stopped renewing theirs,
        and reconcile what they were changing. Every FERRY_ACCESS_RESYNC_S: repair routers
        that admit other tokens than the database says (a push that failed)."""
        every = min(self.jobs.lease_s / 2, self.settings.access_resync_s)
        last_recovery = 0.0
        while not self._stopping.wait(every):
            try:
                self.resync_access()
            except Exception:
                log.exception("re-syncing who may predict failed")
            if time.monotonic() - last_recovery >= self.jobs.lease_s / 2:
                last_recovery = time.monotonic()
                try:
                    self.recover()
                except Exception:
                    log.exception("recovering expired jobs failed")

    def resync_access(self) -> list[str]:
        """Push who may predict again to every router that admits other tokens than the
        database says: a change of tokens, roles or users is pushed when it is made, and
        this repairs one whose push failed (Ray unreachable from that process, a process
        killed in between). Returns the deployments repaired."""
        applied = self.runtime.accesses()
        repaired = []
        for record in self.store.list_deployments():
            have = applied.get(record.name)
            if have is None or have == self.app.deployments.access_of(record):
                continue
            log.warning("%s: its router admits other tokens than recorded; pushing them "
                        "again", record.name)
            if self.releases.sync_access(record.name):
                repaired.append(record.name)
        return repaired

    def stop(self) -> None:
        """Stop taking jobs and wait for the running ones; disconnect from the runtime,
        which keeps serving."""
        self._stopping.set()
        if self._watch is not None:
            self._watch.join(timeout=30)
        if self._monitoring is not None:
            self._monitoring.join(timeout=30)
        self.jobs.shutdown(wait=True)
        if self.orchestrator is not None:
            self.orchestrator.stop()
        self.runtime.stop()

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
                done = self.job_store.finish(job.id, owner=self.jobs.owner, error=Interrupted(
                    message, details={"step": job.step, "owner": expired.owner}).to_record())
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
                    JobKind.reconcile.value, name, "ferry", record.team if record else None,
                    {"name": name, "release_id": record.release_id if record else None,
                     "runtime": self.runtime.routes_of(name) or None, "drift": drift}, work,
                    lock=f"deployment/{name}"))
            except Conflict:  # a change of this name started meanwhile: it owns it
                continue
        return jobs
