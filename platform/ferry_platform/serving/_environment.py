"""The environment Ray processes Ferry starts run with: the control plane's, minus its secrets.

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

from collections.abc import Mapping

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
