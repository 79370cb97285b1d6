"""The Ray processes Ferry starts never inherit the control plane's secrets, and still get
what a process needs to run."""

from __future__ import annotations

import random
from pathlib import Path

from ferry_platform import Settings
from ferry_platform.serving import serve_env, worker_environment

# What a control plane's environment holds in production: its settings (secrets among them),
# AWS keys, metadata-store connections, other tools' tokens.
SECRETS = {
    "FERRY_DATABASE_URL": "postgresql+psycopg://ferry:pw@db/ferry",
    "FERRY_MLFLOW_TRACKING_URI": "postgresql://mlflow:pw@db/mlflow",
    "FERRY_FEATURE_REDIS": "redis:6379,password=hunter2,ssl=true",
    "FERRY_TOKEN": "fy_abc", "FERRY_HOME": "/srv/ferry", "FERRY_JOB_LEASE_S": "30",
    "AWS_ACCESS_KEY_ID": "AKIA0000", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
    "AWS_SESSION_TOKEN": "tok", "AWS_SECURITY_TOKEN": "tok",
    "MLFLOW_TRACKING_TOKEN": "t", "MLFLOW_TRACKING_URI": "http://mlflow",
    "PGPASSWORD": "pw", "PGHOST": "db", "DATABASE_URL": "postgres://x:y@db/z",
    "REDIS_URL": "redis://:pw@r", "GITHUB_TOKEN": "ghp_x", "SENTRY_DSN": "https://k@s/1",
    "OPENAI_API_KEY": "sk-x", "SSH_PRIVATE_KEY": "-----BEGIN", "RAY_REDIS_PASSWORD": "pw",
    "GOOGLE_APPLICATION_CREDENTIALS": "/k.json", "app_secret": "lower-case too",
}
NEEDED = {
    "PATH": "/usr/bin", "HOME": "/home/ferry", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
    "PYTHONPATH": "/srv/lib", "VIRTUAL_ENV": "/srv/.venv", "SSL_CERT_FILE": "/ca.pem",
    "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_PROFILE": "ferry-node",
    "AWS_SHARED_CREDENTIALS_FILE": "/home/ferry/.aws/credentials",
    "AWS_ROLE_ARN": "arn:aws:iam::1:role/ray", "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/tok",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "BENTOML_HOME": "/srv/bentoml",
    "OMP_NUM_THREADS": "1",
}


def test_ray_processes_never_inherit_control_plane_secrets() -> None:
    rng = random.Random(7)
    # each secret's value made unique, so that a leak under another name is seen too
    secrets = {k: f"{v}#{rng.getrandbits(64):016x}" for k, v in SECRETS.items()}
    items = list({**secrets, **NEEDED}.items())
    rng.shuffle(items)
    env = worker_environment(dict(items))
    assert env == NEEDED
    assert not {v for v in env.values() if "#" in v}


def test_what_replicas_are_handed_explicitly_holds_no_secret(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    env = serve_env(Settings(home=tmp_path).serving_config())
    assert worker_environment(env) == env  # nothing in it a scrub would drop
    assert not set(env) & set(SECRETS)


def test_two_platforms_on_one_machine_give_their_replicas_disjoint_ports() -> None:
    """Serve hands every instance the same direct-ingress ranges; HAProxy of one platform
    then reached the other's replicas ("Application not found"). Each platform its own."""
    from ferry_platform.serving._environment import replica_port_ranges

    def ranges(home: str) -> tuple[range, range]:
        env = replica_port_ranges(Settings(home=Path(home)).serving_config())
        return tuple(range(int(env[f"RAY_SERVE_DIRECT_INGRESS_MIN_{p}_PORT"]),  # type: ignore[return-value]
                           int(env[f"RAY_SERVE_DIRECT_INGRESS_MAX_{p}_PORT"]) + 1)
                     for p in ("HTTP", "GRPC"))

    (http_a, grpc_a), (http_b, grpc_b) = ranges("/srv/ferry-a"), ranges("/srv/ferry-b")
    assert not set(http_a) & set(http_b) and not set(grpc_a) & set(grpc_b)
    for r in (http_a, http_b):
        assert len(r) == 250 and 30000 <= r[0] and r[-1] < 40000
    for r in (grpc_a, grpc_b):
        assert len(r) == 250 and 40000 <= r[0] and r[-1] < 50000
    assert ranges("/srv/ferry-a") == (http_a, grpc_a)  # stable across restarts
    env = serve_env(Settings(home=Path("/srv/ferry-a")).serving_config())
    assert env["RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT"] == str(grpc_a[0])
