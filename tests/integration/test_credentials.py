"""No surface of Ferry ever shows a database credential: a control plane whose state and
MLflow databases are PostgreSQL URLs with a password, registering a model, then with its
databases broken: every API operation, a job's error and log, the audit log, the control
plane's own log, the CLI, and a start that cannot reach MLflow."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from _control_plane import FakeFeatures
from _fakes import FakePackager, FakeRuntime
from _models import sklearn_pipeline, training_frame
from _services import PG_ADMIN_URL, free_port, postgres_available, postgres_database

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not postgres_available() and not os.environ.get("CI"),
                                 reason="PostgreSQL on 127.0.0.1:5432 is not running")]

PASSWORD = "pw" + secrets.token_hex(12)  # PostgreSQL here trusts loopback: any password works


def _with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


def _break(database: str) -> None:
    """Cut every connection to ``database`` and rename it away."""
    with _admin() as admin:
        admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
        admin.execute(f"ALTER DATABASE {database} RENAME TO {database}_gone")


def _restore(database: str) -> None:
    with _admin() as admin:
        gone = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             (f"{database}_gone",)).fetchone()
        if gone:
            admin.execute(f"ALTER DATABASE {database}_gone RENAME TO {database}")
        admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")


class Plane:
    def __init__(self, platform: Any, client: Any, log: io.StringIO, state_db: str,
                 mlflow_db: str) -> None:
        self.platform, self.client, self.log = platform, client, log
        self.state_db, self.mlflow_db = state_db, mlflow_db


@pytest.fixture(scope="module")
def plane(tmp_path_factory, settings) -> Iterator[Plane]:  # type: ignore[no-untyped-def]
    from conftest import _client_for

    from ferry_platform import Platform, Settings
    from ferry_platform.releases import Defaults, ReleaseService
    from ferry_server._logging import redacting_handler

    log = io.StringIO()
    handler = redacting_handler(log)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    with postgres_database() as state_url, postgres_database() as mlflow_url:
        s = Settings(home=tmp_path_factory.mktemp("cred-home"),
                     database_url=_with_password(state_url),
                     mlflow_tracking_uri=_with_password(mlflow_url),
                     bentoml_home=settings.bentoml_home)
        platform = Platform.from_settings(s)
        # serving and features are fakes here: this suite is about the databases
        runtime = FakeRuntime()
        platform.runtime = runtime  # type: ignore[assignment]
        platform.features = FakeFeatures()  # type: ignore[assignment]
        platform.releases = ReleaseService(platform.registry, FakePackager(), runtime,  # type: ignore[arg-type]
                                           platform.store, Defaults(replicas=1))
        state_db, mlflow_db = state_url.rsplit("/", 1)[1], mlflow_url.rsplit("/", 1)[1]
        try:
            yield Plane(platform, _client_for(platform), log, state_db, mlflow_db)
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
            for db in (state_db, mlflow_db):
                _restore(db)
            platform.jobs.shutdown(wait=True)  # no lease heartbeat on a dropped database
            platform.db.engine.dispose()


def _archive_and_lineage(tmp: Path) -> tuple[bytes, str]:
    from ferry._registration import pack, save_model

    lineage = save_model(sklearn_pipeline(), tmp / "model", name="cred-churn",
                         training_data=training_frame(), target="churned", params=None,
                         metrics=None, code="test")
    return pack(tmp / "model", tmp / "m.tar.gz").read_bytes(), lineage.model_dump_json(by_alias=True)


PARAMS = {"name": "cred-churn", "version": "1", "release_id": "cred-churn-v1-x",
          "team": "default", "user": "nobody", "token_id": "000000000000",
          "view": "customer_stats", "run_id": "000000000000"}


def _call_every_operation(plane: Plane, job_id: str, upload: tuple[bytes, str],
                          model_uri: str) -> dict[str, tuple[int, str]]:
    """Every operation of the OpenAPI document, with plausible input; status and body."""
    http = plane.client._http
    rows = training_frame().head(50).to_dict("records")
    bodies: dict[str, Any] = {
        "PUT /v1/models/{name}": {"description": "x"},
        "POST /v1/models/{name}/versions": {"model_uri": model_uri},
        "POST /v1/models/{name}/eval-sets": {"rows": rows, "label": "churned"},
        "PUT /v1/models/{name}/gate": {},
        "POST /v1/models/{name}/evaluations": {"version": 1},
        "PUT /v1/models/{name}/champion": {"version": 1},
        "POST /v1/deployments": {"model": "cred-churn", "version": 1},
        "POST /v1/deployments/{name}/rollout": {"version": 1},
        "PATCH /v1/deployments/{name}/rollout": {"weight": 50},
        "POST /v1/features/materialize": {"start": "2026-01-01T00:00:00Z",
                                          "end": "2026-01-02T00:00:00Z"},
        "POST /v1/training-sets": {"features": ["customer_stats:tenure"],
                                   "entities": [{"customer_id": 1}]},
        "POST /v1/teams": {"name": "cred-team"},
        "PUT /v1/teams/{team}/members/{user}": {"role": "viewer"},
        "POST /v1/users": {"name": "cred-user"},
        "POST /v1/tokens": {"description": "x"},
    }
    answers = {}
    from ferry_server._app import openapi_spec

    spec = openapi_spec()
    for template, operations in spec["paths"].items():
        path = template.format(**{**PARAMS, "job_id": job_id})
        for method in operations:
            key = f"{method.upper()} {template}"
            if template.endswith("/logged-models"):
                archive, lineage = upload
                r = http.post(path, data={"lineage": lineage},
                              files={"archive": ("m.tar.gz", archive, "application/gzip")})
            else:
                body = bodies.get(key)
                r = http.request(method.upper(), path,
                                 **({"json": body} if body is not None else {}))
            answers[key] = (r.status_code, r.text)
    return answers


def _assert_clean(answers: dict[str, tuple[int, str]]) -> None:
    for key, (status, text) in answers.items():
        assert PASSWORD not in text, key
        assert "Traceback" not in text, key
        assert status != 500, (key, text)
        if status >= 400:
            assert json.loads(text)["error"]["code"], key


def test_a_control_plane_on_passworded_databases_registers_and_hands_out_no_uri(plane) -> None:  # type: ignore[no-untyped-def]
    mv = plane.client.register(sklearn_pipeline(), name="cred-churn",
                               training_data=training_frame(), target="churned")
    assert mv.version == 1
    info = plane.client._request("GET", "/v1/platform")
    assert PASSWORD not in json.dumps(info) and "postgresql" not in json.dumps(info)


def test_no_error_surface_carries_the_database_password(plane, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ferry_platform.access import SYSTEM

    platform, client = plane.platform, plane.client
    upload = _archive_and_lineage(tmp_path)
    logged = client.log_model(sklearn_pipeline(c=0.4), name="cred-churn",
                              training_data=training_frame(), target="churned")
    client.create_eval_set("cred-churn", training_frame().head(300), label="churned")
    # an audit record whose details carry a connection string, as an error text would
    platform.access.audit(SYSTEM, "probe", "model/cred-churn", "default", "failed",
                          {"error": f"could not reach {platform.settings.mlflow_tracking_uri}"})
    # a job that reaches MLflow once its database is gone
    gate = threading.Event()

    def work(ctx: Any) -> dict[str, Any]:
        gate.wait(60)
        return platform.evaluation.evaluate("cred-churn", 1, None, ctx.step).model_dump(
            mode="json")

    job = platform.jobs.submit("evaluate", "cred-churn", "admin", "default", {"version": 1},
                               work)

    # 1. MLflow's database is gone; the control plane's own is up
    _break(plane.mlflow_db)
    gate.set()
    done = platform.jobs.wait(job.id, timeout=120)
    assert done.state == "failed" and done.error["code"] == "platform_unavailable"
    answers = _call_every_operation(plane, job.id, upload, logged.model_uri)
    _assert_clean(answers)
    assert answers["POST /v1/models/{name}/logged-models"][0] == 503
    assert answers["POST /v1/models/{name}/versions"][0] == 503
    job_answer = client._http.get(f"/v1/jobs/{job.id}").text
    logs = client._http.get(f"/v1/jobs/{job.id}/logs").text
    audit = client._http.get("/v1/audit", params={"limit": 1000}).text
    for text in (job_answer, logs, audit):
        assert PASSWORD not in text
    assert "platform_unavailable" in job_answer and "probe" in audit and "***" in audit

    # 2. the control plane's database is gone too: 503 with a code, the CLI one clean line
    _break(plane.state_db)
    platform.access._cache.clear()
    answers = _call_every_operation(plane, job.id, upload, logged.model_uri)
    _assert_clean(answers)
    assert {s for k, (s, _) in answers.items() if k != "GET /v1/health"} == {503}
    result = _cli(["models", "list"], client)
    assert result.exit_code == 1 and "platform_unavailable" in result.output
    assert PASSWORD not in result.output and "Traceback" not in result.output

    # and nothing the control plane logged carries it
    written = plane.log.getvalue()
    assert written and PASSWORD not in written


def _cli(args: list[str], client: Any) -> Any:
    from typer.testing import CliRunner

    import ferry.cli
    from ferry.cli import _common

    original = _common.make_client
    _common.make_client = lambda *a, **k: client  # the CLI's one seam to its client
    try:
        return CliRunner().invoke(ferry.cli.app, args)
    finally:
        _common.make_client = original


def test_a_start_that_cannot_reach_its_database_says_so_without_the_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # (MLflow itself retries a missing database for ~100 s before giving up: the state
    # database, on a closed port, fails at once through the same path)
    env = {**os.environ, "FERRY_HOME": str(tmp_path),
           "FERRY_DATABASE_URL": f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:"
                                 f"{free_port()}/nowhere",
           "FERRY_PORT": str(free_port())}
    done = subprocess.run([sys.executable, "-m", "ferry_server"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "cannot start" in done.stderr and "FERRY_DATABASE_URL" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize("variable, value", [
    ("FERRY_PUBLIC_URL", f"http://ferry:{PASSWORD}@ferry.internal:8700"),
    ("FERRY_SERVE_PUBLIC_HOST", f"serve:{PASSWORD}@serve.internal"),
    ("FERRY_MLFLOW_PUBLIC_URI", f"postgresql://postgres:{PASSWORD}@db/mlflow"),
    ("FERRY_MLFLOW_ARTIFACT_ROOT", f"https://store:{PASSWORD}@artifacts.internal/mlflow"),
    ("FERRY_BATCH_ROOTS", f"s3://batch:{PASSWORD}@minio.internal/teams/{{team}}/"),
], ids=["public-url", "serve-host", "mlflow-uri", "artifact-root",
        "batch-roots"])  # the same ids in every process
def test_a_start_refuses_credentials_handed_to_clients(tmp_path, variable: str, value: str) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "FERRY_HOME": str(tmp_path), variable: value}
    done = subprocess.run([sys.executable, "-m", "ferry_server"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and variable in done.stderr
    assert PASSWORD not in done.stderr + done.stdout and "Traceback" not in done.stderr
