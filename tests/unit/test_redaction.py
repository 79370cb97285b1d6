"""No credential survives the redactor, whatever form it takes; everything else does."""

from __future__ import annotations

import io
import logging
import secrets

import pytest

from ferry_contract import FerryError, credentials_in, redact
from ferry_platform import Settings
from ferry_platform.core import Redactor, secrets_in, unavailable

PASSWORD = "s3cr" + secrets.token_hex(8)


@pytest.mark.parametrize("text", [
    f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/ferry",
    f"postgresql+psycopg2://ferry:{PASSWORD}@db.internal/ferry?sslmode=require",
    f"mysql://u:{PASSWORD}@h/d",
    f"redis://:{PASSWORD}@cache:6379/0",
    f"rediss://default:{PASSWORD}@cache:6380",
    f"https://{PASSWORD}@git.example.com/repo.git",
    f"cache.internal:6379,password={PASSWORD},ssl=true",
    f"host=db port=5432 password={PASSWORD} dbname=ferry",
    f"s3://bucket/key?aws_secret_access_key={PASSWORD}",
    f"connect args {{'password': '{PASSWORD}', 'user': 'ferry'}}",
    f'{{"password": "{PASSWORD}"}}',
    f"(psycopg2.OperationalError) could not connect to postgresql://u:{PASSWORD}@h:5/x: refused",
], ids=lambda text: text.replace(PASSWORD, "<password>"))  # the same ids in every process
def test_no_credential_form_survives(text: str) -> None:
    out = redact(text)
    assert PASSWORD not in out and "***" in out
    assert credentials_in(text)


@pytest.mark.parametrize("text", [
    "no API token: send 'Authorization: Bearer <token>'",
    "model_uri '/etc/passwd' is not a model logged for 'churn'",
    "http://127.0.0.1:8000/churn/predict",
    "sqlite:////home/me/.ferry/mlflow.db",
    "s3://ferry-artifacts/mlflow/churn",
    "write to ops@example.com",
])
def test_text_without_credentials_is_left_alone(text: str) -> None:
    assert redact(text) == text
    assert not credentials_in(text)


def test_a_password_with_an_unescaped_at_sign_is_removed_whole() -> None:
    assert redact("postgresql://u:p@ss@word@h/db") == "postgresql://u:***@h/db"


def test_secret_values_of_the_settings_are_removed_even_bare(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path,
                        database_url=f"postgresql://ferry:{PASSWORD}@db:5432/ferry",
                        mlflow_tracking_uri="postgresql://ferry:%40tch%21pw@db/mlflow",
                        feature_redis=f"cache:6379,password=r{PASSWORD},ssl=true")
    found = {s for v in settings.secret_values() for s in secrets_in(v)}
    assert {PASSWORD, "%40tch%21pw", "@tch!pw", f"r{PASSWORD}"} <= found
    redactor = Redactor()
    redactor.learn(settings.secret_values())
    bare = f"FATAL: password {PASSWORD} rejected; also @tch!pw and r{PASSWORD}"
    out = redactor(bare)
    assert PASSWORD not in out and "@tch!pw" not in out
    body = redactor.value({"error": {"message": bare, "details": {"tries": [bare]}}})
    assert PASSWORD not in str(body)


def test_short_secrets_are_removed_by_form_only() -> None:
    redactor = Redactor()
    redactor.learn(["postgresql://u:ab@h/db"])
    assert redactor("a table, a lab") == "a table, a lab"
    assert redactor("postgresql://u:ab@h/db") == "postgresql://u:***@h/db"


def test_the_control_plane_log_carries_no_credential() -> None:
    from ferry_platform.core import REDACTOR
    from ferry_server._logging import redacting_handler

    REDACTOR.learn_secret(PASSWORD)
    stream = io.StringIO()
    log = logging.getLogger("ferry.test.redaction")
    log.addHandler(redacting_handler(stream))
    log.propagate = False
    try:
        log.warning("connecting to %s", f"postgresql://u:{PASSWORD}@h/db")
        try:
            raise RuntimeError(f"driver said: bad password {PASSWORD}")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.handlers.clear()
    written = stream.getvalue()
    assert PASSWORD not in written
    assert "connecting to postgresql://u:***@h/db" in written and "RuntimeError" in written


def test_a_database_error_anywhere_in_the_chain_is_a_503() -> None:
    import sqlalchemy.exc

    try:
        try:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("refused"))
        except sqlalchemy.exc.OperationalError as e:
            raise FerryError("wrapped by a vendor") from e
    except FerryError as outer:
        found = unavailable(outer)
    assert found is not None and found.status == 503 and "FERRY_DATABASE_URL" in found.message
    assert unavailable(ValueError("a bug")) is None


def test_a_jobs_result_and_phases_are_stored_without_credentials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Whoever reads a job reads its result and phases: the redactor runs on them too."""
    from ferry_platform.store import Database, SqlJobStore

    db = Database(f"sqlite:///{tmp_path}/state.db")
    db.upgrade()
    jobs = SqlJobStore(db)
    job = jobs.create("deploy", "m", "ferry", None, {}, owner="me")
    leak = f"postgresql://ferry:{PASSWORD}@db:5432/ferry"
    jobs.set_phases(job.id, [{"name": "resolve", "s": 0.1, "note": leak}], owner="me")
    done = jobs.finish(job.id, result={"store": leak, "rows": 3}, owner="me")
    assert done is not None and PASSWORD not in str(done.result) + str(done.phases)
    assert done.result["rows"] == 3 and "postgresql://ferry:" in done.result["store"]
