"""The composition root: builds every capability from one :class:`Settings`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry_contract import DeploymentNotFound, Interrupted, JobKind
from ferry_platform._settings import SandboxKind, Settings
from ferry_platform._version import __version__
from ferry_platform.access import AccessService, IdentityStore
from ferry_platform.application import Application, FeaturePort
from ferry_platform.catalog import CatalogRegistry
from ferry_platform.core import REDACTOR, private_dir
from ferry_platform.evaluation import EvaluationLimits, EvaluationService
from ferry_platform.features import FeastFeatures
from ferry_platform.jobs import JobContext, JobRunner
from ferry_platform.packaging import BentoPackager, Packager
from ferry_platform.registry import MlflowEvaluationStore, MlflowRegistry
from ferry_platform.releases import Defaults, ReleaseService
from ferry_platform.sandbox import ProcessSandbox, RaySandbox, Sandbox
from ferry_platform.serving import RayServeRuntime, ServingRuntime
from ferry_platform.store import (
    Database,
    JobRecord,
    SqlCatalog,
    SqlIdentityStore,
    SqlJobStore,
    SqlStateStore,
)

log = logging.getLogger("ferry.platform")


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
    store: SqlStateStore
    releases: ReleaseService
    features: FeaturePort
    db: Database
    job_store: SqlJobStore
    jobs: JobRunner
    identity: IdentityStore
    access: AccessService
    evaluation: EvaluationService | None = None
    app: Application = field(init=False)

    def __post_init__(self) -> None:
        self.app = Application.build(
            access=self.access, identity_store=self.identity, runner=self.jobs,
            job_store=self.job_store, registry=self.registry, releases=self.releases,
            store=self.store, runtime=self.runtime, features=self.features,
            evaluation=self.evaluation, max_token_ttl_days=self.settings.token_max_ttl_days,
            training_set_concurrency=self.settings.training_set_concurrency,
            max_model_unpacked_bytes=int(self.settings.max_model_unpacked_mb * 2**20))

    @classmethod
    def from_settings(cls, settings: Settings) -> Platform:
        private_dir(settings.home)  # 0700: it holds databases and the admin token
        for secret in ("admin-token", "credentials.json"):  # tighten files of older versions
            if (settings.home / secret).exists():
                (settings.home / secret).chmod(0o600)
        if "://" not in settings.mlflow_artifact_root:
            Path(settings.mlflow_artifact_root).mkdir(parents=True, exist_ok=True)
        REDACTOR.learn(settings.secret_values())
        REDACTOR.learn_environment()
        db = Database(settings.database_url, settings.db_statement_timeout_s)
        db.upgrade()
        mlflow_registry = MlflowRegistry(settings.mlflow_tracking_uri,
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
        runtime = RayServeRuntime(settings, worker_secrets=features.worker_secrets())
        releases = ReleaseService(registry, packager, runtime, store,
                                  Defaults(replicas=settings.default_replicas,
                                           keep_previous=settings.keep_previous), features)
        identity = SqlIdentityStore(db)
        evaluations = EvaluationService(
            MlflowEvaluationStore(mlflow_registry), registry, features,
            sandbox=sandbox_for(settings),
            limits=EvaluationLimits(timeout_s=settings.evaluation_timeout_s,
                                    memory_mb=settings.evaluation_memory_mb))
        return cls(settings, registry, packager, runtime, store, releases, features, db,
                   job_store, JobRunner(job_store), identity,
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
        log.info("starting the serving runtime (Ray %s)",
                 self.settings.ray_address or "local")
        self.runtime.start()
        self.recover()

    def stop(self) -> None:
        self.jobs.shutdown(wait=True)
        self.runtime.stop()

    # -- restart -----------------------------------------------------------------------
    def recover(self) -> list[JobRecord]:
        """After a (re)start: finish every job the previous process left running, explicitly,
        then make Ray Serve run what the database records — nothing half-done and silent.

        A deploy whose final record was written before the stop succeeded; any other
        interrupted job failed, saying at which step. Deployments whose recorded release is
        not what the runtime serves are re-applied by ``reconcile`` jobs; applications the
        database does not know (a first deploy cut off mid-way) are removed."""
        finished = []
        for job in self.job_store.active():
            changes = job.kind == "deploy" or job.kind.startswith("rollout") or \
                job.kind == "rollback"
            record = self.store.get_deployment(job.target) if changes else None
            if record is not None and record.job_id == job.id:
                self.job_store.log(job.id, f"the control plane stopped after this {job.kind} "
                                           "was recorded; it is complete")
                finished.append(self.job_store.finish(job.id, result={
                    "name": record.name, "release_id": record.release_id}))
                continue
            message = (f"interrupted: the control plane stopped while this {job.kind} job was "
                       f"at step '{job.step or 'queued'}'. Nothing was left half-done: the "
                       "deployment was reconciled to its recorded release. Run it again.")
            self.job_store.log(job.id, message)
            finished.append(self.job_store.finish(job.id, error=Interrupted(message).to_record()))
        self.reconcile()
        return finished

    def reconcile(self) -> list[JobRecord]:
        known = {r.name: r for r in self.store.list_deployments()}
        for name in self.runtime.names():
            if name not in known:
                log.warning("removing %s from Ray Serve: no deployment of that name is "
                            "recorded (an interrupted first deploy)", name)
                self.runtime.delete(name)
        jobs = []
        for name, record in known.items():
            serving = self.runtime.routes_of(name)
            if serving == self.releases.desired_routes(record):
                continue
            log.info("%s: recorded routes %s, runtime routes %s: re-applying", name,
                     self.releases.desired_routes(record), serving or "nothing")

            def work(ctx: JobContext, name: str = name) -> dict[str, Any]:
                try:
                    return self.releases.reapply(name, ctx.step).model_dump(mode="json")
                except DeploymentNotFound:  # undeployed meanwhile
                    return {"name": name, "undeployed": True}

            jobs.append(self.jobs.submit(
                JobKind.reconcile.value, name, "ferry", record.team,
                {"name": name, "release_id": record.release_id, "runtime": serving or None}, work,
                lock=f"deployment/{name}"))
        return jobs
