"""The environment Ray processes Ferry starts run with: the control plane's, minus its
secrets (:func:`worker_environment`), plus what the serve mode needs (:func:`serve_env`).

Whatever runs on a Ray node Ferry starts (replicas, preflight loads, evaluation tasks) runs
user code: a model's pickle, a custom predict. It must not find the control plane's
credentials in its environment. :func:`worker_environment` keeps what a process needs to
run (``PATH``, ``HOME``, locale, Python and Ray settings, the AWS *region and endpoint*,
pointers to the node's own AWS identity) and drops:

- every ``FERRY_*`` setting (database URL, MLflow tracking URI, Redis connection, tokens,
  ...): Ferry hands replicas what they need explicitly (``serve_env`` and each
  application's arguments), never through inherited settings. The few ``FERRY_*``
  settings the serving processes read themselves (the prediction log's and the service
  metrics', :data:`SERVING_SETTINGS`: no credential, which the settings refuse) are kept;
- every ``MLFLOW_*`` and libpq ``PG*`` variable, ``DATABASE_URL``, ``REDIS_URL``,
  ``REDIS_PASSWORD``...: connections to the metadata stores;
- anything whose name says it is a secret (``SECRET``, ``TOKEN``, ``PASSWORD``,
  ``CREDENTIAL``, ``ACCESS_KEY``, ``API_KEY``, ``PRIVATE_KEY``...), AWS access keys and
  session tokens included. Workers get AWS credentials from the node (its instance or pod
  role, or a credentials file the node's user owns), not from the control plane.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ferry_platform.serving._config import ServeMode, ServingConfig
from ferry_platform.serving._predlog import LogConfig

DROPPED_PREFIXES = ("FERRY_", "MLFLOW_", "DATABASE_", "REDIS_", "PG")
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL",
                "ACCESS_KEY", "API_KEY", "PRIVATE_KEY", "AUTH_KEY", "SESSION_KEY",
                "_DSN", "CONNECTION_STRING")
# Pointers to the node's own AWS identity, not secrets: the role a pod or instance assumes,
# where its credentials file is, which profile to read. Kept despite the words above.
NODE_IDENTITY = frozenset({
    "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
})


SERVING_SETTINGS = frozenset({
    "FERRY_MONITORING", "FERRY_PREDICTION_LOG_URI", "FERRY_PREDICTION_LOG_SAMPLE",
    "FERRY_PREDICTION_LOG_QUEUE", "FERRY_PREDICTION_LOG_FLUSH_S", "FERRY_METRICS_PUSH_S",
})
"""Settings the serving processes read from their environment (``_predlog.LogConfig``)."""


def is_secret(name: str) -> bool:
    """Whether a variable named ``name`` must not reach a Ray process Ferry starts."""
    upper = name.upper()
    if upper in NODE_IDENTITY or upper in SERVING_SETTINGS:
        return False
    return upper.startswith(DROPPED_PREFIXES) or any(w in upper for w in SECRET_WORDS)


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the control plane's secrets and metadata-store settings: the
    base environment of a Ray node (or task) Ferry starts."""
    return {k: v for k, v in environ.items() if not is_secret(k)}


def haproxy_dir(config: ServingConfig) -> Path:
    """HAProxy's files; short, because its admin socket path must fit in 97 characters."""
    tag = hashlib.sha256(str(config.home).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"ferry-haproxy-{tag}"


FORWARDED_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION")


INTERNAL_HEADROOM_BYTES = 2**20
"""Room for a handle call's own framing around a body of the largest admitted size."""


def serve_env(config: ServingConfig) -> dict[str, str]:
    """Environment Ray processes need for the configured serve mode."""
    env = {
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        # Ferry's replicas run in the environment Ferry is installed in. Without this, a
        # driver started with `uv run` makes Ray re-run every worker under `uv run` with the
        # whole working directory (virtualenv included) uploaded as a runtime env.
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        "BENTOML_HOME": config.bentoml_home,
        "BENTOML_DO_NOT_TRACK": "True",
        # Serve kills a proxy that is not ready within 5 s of starting; on a loaded 2-core
        # machine HAProxy's manager can take longer, and `serve.start` then fails outright.
        "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "30",
    }
    # Ray Serve's gRPC limits follow the data plane's: the router's gRPC server refuses a
    # larger message before reading it (RESOURCE_EXHAUSTED), and the handle calls between a
    # router and a release (gRPC in throughput mode, 4 MiB by default) carry any body the
    # router admitted, plus framing.
    limit = config.max_body_bytes
    env["RAY_SERVE_GRPC_MAX_MESSAGE_SIZE"] = str(limit)
    env["RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH"] = str(limit + INTERNAL_HEADROOM_BYTES)
    # An S3-compatible endpoint and region reach replicas too (releases and the feature
    # registry may live on S3); credentials do not: replicas use their node's role.
    env.update({k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)})
    env.update(LogConfig.env(config))  # the prediction log and service metrics
    if config.serve_mode is ServeMode.throughput:
        hap = haproxy_dir(config)
        env.update({
            "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
            "RAY_SERVE_ENABLE_HA_PROXY": "1",
            "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
            "RAY_SERVE_HAPROXY_STATS_PORT": str(config.haproxy_stats_port),
            # Bound even with metrics off: two platforms on one machine need their own.
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(config.haproxy_metrics_port),
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(hap / "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": str(hap / "admin.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(hap),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(hap / "server-state"),
            "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
            **replica_port_ranges(config),
        })
    return env


def replica_port_ranges(config: ServingConfig) -> dict[str, str]:
    """Direct-ingress replica ports of this platform's own: Serve gives every instance the
    same ranges (HTTP 30000-31000, gRPC 40000-41000), so two platforms on one machine (a
    second `ferry up`, a test's cluster beside the session's) handed HAProxy each other's
    replica ports, answered "Application not found". One of 40 slices of 250, by platform."""
    digest = hashlib.sha256(f"{config.home}:{config.http_port}".encode()).hexdigest()
    low = 250 * (int(digest, 16) % 40)
    return {"RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(30000 + low),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(30000 + low + 249),
            "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(40000 + low),
            "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(40000 + low + 249)}
