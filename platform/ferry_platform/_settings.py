"""Every setting of the platform (control plane and runtime), defined once, typed.

Precedence: an argument to ``Settings(...)`` > ``FERRY_*`` environment variable >
``$FERRY_HOME/ferry.env`` file > default. docs/configuration.md lists every variable;
a unit test keeps the two in step.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ferry_contract import credentials_in
from ferry_platform.serving._config import Autoscaling, ServeMode, ServingConfig

__all__ = ["SandboxKind", "ServeMode", "Settings", "default_home"]


def feast_redis(connection: str) -> str:
    """A Redis URL (``redis://[user]:password@host:port/db``, ``rediss://`` for TLS) in
    Feast's connection-string form, whose ``password=`` part Ferry keeps out of every
    config it hands on; a plain host form with a user or password before '@' is refused
    (the password would travel inside the host)."""
    from urllib.parse import unquote, urlsplit

    if connection.startswith(("redis://", "rediss://")):
        url = urlsplit(connection)
        try:
            port = url.port
        except ValueError as e:
            raise ValueError(f"FERRY_FEATURE_REDIS: {e}; give host:port") from None
        if not url.hostname:
            raise ValueError("FERRY_FEATURE_REDIS names no host; give e.g. "
                             "redis://:password@host:6379/0")
        parts = [f"{url.hostname}:{port or 6379}"]
        if url.password:
            parts.append(f"password={unquote(url.password)}")
        if url.scheme == "rediss":
            parts.append("ssl=true")
        db = url.path.strip("/")
        if db:
            if not db.isdigit():
                raise ValueError("FERRY_FEATURE_REDIS: the database after the host is a "
                                 "number (redis://host:6379/0)")
            parts.append(f"db={db}")
        return ",".join(parts)
    if "://" in connection or "@" in connection.split(",")[0]:
        raise ValueError("FERRY_FEATURE_REDIS: give host:port[,password=...] or a redis:// "
                         "URL; a password before '@' in a host would reach the serving "
                         "processes' config")
    return connection


def default_home() -> Path:
    return Path(os.environ.get("FERRY_HOME", Path.home() / ".ferry")).expanduser()


class SandboxKind(str, Enum):
    """Where registered models' code runs when Ferry evaluates them (never in the control
    plane's process).

    ``ray``: a fresh process started by a Ray task on the cluster's workers (the default;
    the only choice with a Ray cluster). ``process``: a child process of the control plane
    on its machine, for local platforms and tests without Ray.
    """

    ray = "ray"
    process = "process"


class Settings(BaseSettings):
    """Configuration of a Ferry platform. Build once at start and pass it in."""

    model_config = SettingsConfigDict(
        env_prefix="FERRY_",
        env_file=str(default_home() / "ferry.env"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    home: Path = Field(default_factory=default_home, description="Root of local state.")
    host: str = Field("127.0.0.1", description="Control-plane bind address.")
    port: int = Field(8700, description="Control-plane port.")
    public_url: str = Field("", description="URL clients use for the control plane.")
    max_body_mb: float = Field(64.0, gt=0, description="Largest request body accepted.")
    max_model_mb: float = Field(
        2048.0, gt=0, description="Largest model archive uploaded for registration.")
    max_model_unpacked_mb: float = Field(
        8192.0, gt=0, description="Largest model directory an uploaded archive may unpack to.")
    auth_cache_s: float = Field(2.0, ge=0, description="Reuse of a token's roles (seconds).")
    token_max_ttl_days: float = Field(
        90.0, gt=0, description="Longest token lifetime non-admins may ask for (days).")
    training_set_concurrency: int = Field(
        2, ge=1, description="Training sets built at once (more: 429, retry).")
    batch_actors: int = Field(
        2, ge=1, description="Scorer actors of one batch-scoring job (each loads the release).")
    batch_actor_cpus: float = Field(
        0.5, gt=0, description="Ray CPUs each batch scorer actor reserves (at most an even "
                             "share of the CPUs free when a job starts).")
    batch_roots: str = Field(
        "", description="Where batch jobs may read and write: comma-separated local "
                        "directories or s3:// prefixes, each with {team} (default "
                        "$FERRY_HOME/batch/{team}).")
    batch_rows: int = Field(
        50_000, ge=100, description="Rows per batch a scorer actor scores at once.")
    training_set_max_mb: float = Field(
        16.0, gt=0, description="Largest training-set request body (entity rows).")
    catalog_cache_versions: int = Field(50_000, ge=0, description="Versions kept in memory.")

    database_url: str = Field("", description="Control-plane state DB (default SQLite).")
    db_statement_timeout_s: float = Field(
        30.0, gt=0, description="PostgreSQL: longest a control-plane statement may run.")
    mlflow_tracking_uri: str = Field("", description="MLflow backend (default SQLite).")
    mlflow_artifact_root: str = Field("", description="Where MLflow stores models.")
    mlflow_public_uri: str = Field(
        "", description="Removed: clients never get a tracking URI; refused if set.")

    ray_address: str = Field("", description="Existing Ray cluster; empty starts a local one.")
    ray_num_cpus: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    serve_mode: ServeMode = ServeMode.throughput
    serve_host: str = Field("127.0.0.1", description="Address Serve listens on.")
    serve_http_port: int = 8000
    serve_grpc_port: int = 9000
    serve_public_host: str = Field("", description="Host clients use for endpoints.")
    serve_haproxy_stats_port: int = Field(8404, description="HAProxy stats port (throughput mode).")
    serve_haproxy_metrics_port: int = Field(
        9101, description="HAProxy metrics port (throughput mode; bound even when unused).")
    serve_max_body_mb: float = Field(
        16.0, gt=0, le=1024,
        description="Largest predict body / gRPC message (and answer) the data plane takes.")

    default_replicas: int = Field(2, ge=1)
    max_replicas: int = Field(
        16, ge=1, description="Most replicas one release may ask for (fixed or autoscaled).")
    autoscale_target_ongoing_requests: float = Field(
        2.0, gt=0, description="Autoscaled releases: requests in flight per replica aimed at.")
    autoscale_upscale_delay_s: float = Field(
        3.0, ge=0, description="Autoscaled releases: load held this long before scaling up.")
    autoscale_downscale_delay_s: float = Field(
        30.0, ge=0, description="Autoscaled releases: quiet this long before scaling down.")
    replica_num_cpus: float = Field(0.25, gt=0)
    max_ongoing_requests: int = Field(100, ge=1)
    router_replicas: int = Field(2, ge=1, description="Replicas of each deployment's router.")
    keep_previous: bool = Field(
        True, description="Keep the previous release running (no traffic) for instant rollback.")
    deploy_timeout_s: float = Field(300.0, gt=0)
    preflight_warm: bool = Field(
        True, description="Keep one preflight process started ahead (its imports done): each "
                          "deploy's isolated load uses it once, then it is replaced. Off: a "
                          "cold process per preflight.")
    access_resync_s: float = Field(
        5.0, gt=0, description="How often routers' token lists are checked against the "
                               "database and repaired (seconds).")
    job_lease_s: float = Field(
        30.0, gt=0, description="How long a job stays its process's without a heartbeat.")

    evaluation_sandbox: SandboxKind = SandboxKind.ray
    evaluation_timeout_s: float = Field(
        600.0, gt=0, description="How long one model version may take to load and answer.")
    evaluation_memory_mb: int = Field(
        4096, ge=256, description="Memory cap of one model version's evaluation process.")

    pipelines: bool = Field(
        True, description="Start pipelines on their cron schedules and alerts (and queued "
                          "runs) from this control plane.")
    prefect_api_url: str = Field(
        "", description="Prefect server that pipeline runs report to (e.g. "
                        "http://prefect:4200/api); empty: a local Prefect API server over "
                        "SQLite under $FERRY_HOME/prefect, started on the first run.")
    pipeline_ray_tasks: bool = Field(
        False, description="Run pipeline steps as Ray tasks (prefect-ray's RayTaskRunner) on "
                           "the platform's Ray; off: threads of the run's own process.")
    pipeline_memory_mb: int = Field(
        4096, ge=256, description="Memory cap of one pipeline run's process.")

    feature_repo: str = Field("", description="Feature definitions (default $FERRY_HOME/features).")
    feature_project: str = Field("ferry", description="Feast project name.")
    feature_registry_uri: str = Field("", description="Feast registry (file path or s3://).")
    feature_online_store: str = Field("sqlite", description="sqlite or redis.")
    feature_redis: str = Field(
        "127.0.0.1:6379", description="Redis connection string: Feast's host:port[,password=..."
                                      "][,ssl=true][,db=N], or a redis:// or rediss:// URL "
                                      "(turned into that form).")
    feature_offline_store: str = Field(
        "duckdb", description="duckdb (local parquet) or file (parquet on disk or s3://).")

    portal_session_hours: float = Field(
        12.0, gt=0, le=24 * 90,
        description="Longest a portal session lasts (it ends sooner with its token).")
    portal_link_ttl_s: float = Field(
        300.0, gt=0, le=3600, description="How long a one-time portal sign-in link is valid.")
    portal_assets: str = Field(
        "", description="The portal's front-end packages (node_modules installed by "
                        "`make install`; default: next to the ferry_server package).")

    bentoml_home: str = Field("", description="BentoML store (default $FERRY_HOME/bentoml).")
    release_store_uri: str = Field("", description="Where exported Bentos go (dir or s3://).")

    monitoring: bool = Field(True, description="Log predictions and monitor releases.")
    prediction_log_uri: str = Field(
        "", description="Where the prediction log goes (dir or s3://; default "
                        "$FERRY_HOME/predictions).")
    prediction_log_sample: float = Field(
        1.0, ge=0, le=1, description="Share of answered requests written to the log.")
    prediction_log_queue: int = Field(
        100_000, ge=1, description="Rows a serving process holds in memory before dropping.")
    prediction_log_flush_s: float = Field(
        1.0, gt=0, description="How often a serving process writes its log rows (seconds).")
    prediction_log_retention_days: float = Field(
        30.0, gt=0, description="How long log hours are kept before the monitoring job "
                                "deletes them (days).")
    metrics_push_s: float = Field(
        2.0, gt=0, description="How often serving processes push their service metrics.")
    monitor_interval_s: float = Field(
        300.0, ge=0, description="Scheduled monitoring of every deployment (seconds; 0: off).")
    monitor_window: str = Field("1h", description="Window of a scheduled monitoring run.")
    monitor_max_rows: int = Field(
        100_000, ge=1_000, description="Rows of a window the drift tests use (a uniform "
                                       "sample beyond it; fragility counts every row).")
    alert_webhook_url: str = Field(
        "", description="Alerts raised and resolved are POSTed here as JSON (empty: none).")

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if self.evaluation_sandbox is SandboxKind.process and self.ray_address:
            raise ValueError(
                "FERRY_EVALUATION_SANDBOX=process would run models' code on the control "
                "plane's machine; with a Ray cluster (FERRY_RAY_ADDRESS) use ray")
        home = self.home.expanduser().resolve()
        self.home = home
        if not self.database_url:
            self.database_url = f"sqlite:///{home / 'ferry.db'}"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
        if not self.mlflow_artifact_root:
            self.mlflow_artifact_root = str(home / "artifacts")
        if not self.feature_repo:
            self.feature_repo = str(home / "features")
        if not self.feature_registry_uri:
            self.feature_registry_uri = str(home / "feast" / "registry.db")
        if not self.bentoml_home:
            self.bentoml_home = str(home / "bentoml")
        if not self.release_store_uri:
            self.release_store_uri = str(home / "releases")
        if not self.batch_roots:
            self.batch_roots = str(home / "batch" / "{team}")
        if not self.prediction_log_uri:
            self.prediction_log_uri = str(home / "predictions")
        from ferry_contract import window_seconds

        self.feature_redis = feast_redis(self.feature_redis)
        window_seconds(self.monitor_window)  # a ValueError naming the rule
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        if not self.serve_public_host:
            self.serve_public_host = self.serve_host
        self._refuse_credentials_for_clients()
        return self

    def _refuse_credentials_for_clients(self) -> None:
        """Nothing handed to clients may carry credentials, nor lead to the metadata
        database. Messages show the setting's name, never its value."""
        problems = []
        if self.mlflow_public_uri:
            problems.append(
                "FERRY_MLFLOW_PUBLIC_URI is no longer used: clients never receive a tracking "
                "URI (the SDK uploads models to the control plane, which alone writes MLflow). "
                "Unset it.")
        for setting, value in (("FERRY_PUBLIC_URL", self.public_url),
                               ("FERRY_SERVE_PUBLIC_HOST", f"grpc://{self.serve_public_host}"),
                               # each version's artifact_uri is under it, read by any viewer
                               ("FERRY_MLFLOW_ARTIFACT_ROOT", self.mlflow_artifact_root),
                               # handed to every serving process, which runs model code
                               ("FERRY_PREDICTION_LOG_URI", self.prediction_log_uri),
                               # listed to every deployer (GET /v1/batch-jobs/roots)
                               ("FERRY_BATCH_ROOTS", self.batch_roots)):
            if credentials_in(value):
                problems.append(
                    f"{setting} carries credentials (a user or password before '@', or a "
                    "password/token pair); clients or model code receive it, so it must "
                    "name only the scheme, host and port (S3 credentials come from the "
                    "node's role). Remove the credentials.")
        if problems:
            raise ValueError(" ".join(problems))

    def secret_values(self) -> list[str]:
        """Every string setting (connection strings among them), for the redactor to find
        the secrets inside."""
        return [str(v) for v in self.model_dump().values() if isinstance(v, str)]

    def serving_config(self) -> ServingConfig:
        """The serving runtime's own configuration (all it gets of these settings)."""
        return ServingConfig(
            home=self.home, bentoml_home=self.bentoml_home, ray_address=self.ray_address,
            ray_num_cpus=self.ray_num_cpus, serve_mode=self.serve_mode, host=self.serve_host,
            http_port=self.serve_http_port, grpc_port=self.serve_grpc_port,
            public_host=self.serve_public_host,
            haproxy_stats_port=self.serve_haproxy_stats_port,
            haproxy_metrics_port=self.serve_haproxy_metrics_port,
            max_body_mb=self.serve_max_body_mb, replica_num_cpus=self.replica_num_cpus,
            max_ongoing_requests=self.max_ongoing_requests,
            router_replicas=self.router_replicas, deploy_timeout_s=self.deploy_timeout_s,
            preflight_warm=self.preflight_warm,
            autoscaling=Autoscaling(
                target_ongoing_requests=self.autoscale_target_ongoing_requests,
                upscale_delay_s=self.autoscale_upscale_delay_s,
                downscale_delay_s=self.autoscale_downscale_delay_s),
            monitoring=self.monitoring, prediction_log_uri=self.prediction_log_uri,
            prediction_log_sample=self.prediction_log_sample,
            prediction_log_queue=self.prediction_log_queue,
            prediction_log_flush_s=self.prediction_log_flush_s,
            metrics_push_s=self.metrics_push_s)

    @property
    def serve_http_url(self) -> str:
        return f"http://{self.serve_public_host}:{self.serve_http_port}"

    @property
    def serve_grpc_target(self) -> str:
        return f"{self.serve_public_host}:{self.serve_grpc_port}"
