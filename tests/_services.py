"""Local stand-ins for production services: moto's S3 server and throwaway Postgres DBs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_ADMIN_URL = os.environ.get("FERRY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_available() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
        return True
    except Exception:  # noqa: BLE001
        return False


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL, dropped afterwards."""
    import psycopg

    name = f"ferry_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def moto_s3(bucket: str, *more: str) -> Iterator[str]:
    """moto's S3 server on loopback with ``bucket`` (and ``more``) created; yields its endpoint URL and
    points boto3, s3fs and pyarrow at it through AWS_ENDPOINT_URL while it runs."""
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in [*S3_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update({**S3_ENV, "AWS_ENDPOINT_URL": endpoint})
    _forget_s3_clients()
    try:
        import boto3

        deadline = time.monotonic() + 30
        while True:
            try:
                boto3.client("s3").create_bucket(Bucket=bucket)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        for name in more:
            boto3.client("s3").create_bucket(Bucket=name)
        yield endpoint
    finally:
        proc.terminate()
        _forget_s3_clients()
        proc.wait(10)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _forget_s3_clients() -> None:
    """s3fs and MLflow cache S3 clients by their arguments, not the endpoint they read from the
    environment: one made for an earlier moto server would be reused for this one (MLflow's
    cache rotates every 5 minutes, so two moto-backed modules close together failed in CI)."""
    import s3fs
    from mlflow.store.artifact.s3_artifact_repo import _cached_get_s3_client

    s3fs.S3FileSystem.clear_instance_cache()
    _cached_get_s3_client.cache_clear()


@contextmanager
def tls_redis(tmp: Path, password: str) -> Iterator[tuple[int, Path]]:
    """A redis-server speaking only TLS, with AUTH, as ElastiCache is configured: yields its port
    and the CA file clients must trust (a self-signed certificate for 127.0.0.1)."""
    cert, key = tmp / "redis.crt", tmp / "redis.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
         "--tls-auth-clients", "no", "--requirepass", password, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(cert),
                             password=password)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield port, cert
    finally:
        proc.terminate()
        proc.wait(10)
