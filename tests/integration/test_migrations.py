"""Alembic migrations build exactly the schema the models describe, on SQLite and on
PostgreSQL, and a database from before migrations existed is upgraded in place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _services import postgres_available, postgres_database
from sqlalchemy import create_engine, inspect, text

from ferry_platform.store import Database, SqlStateStore
from ferry_platform.store._tables import Base


def _head() -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(Database._config()).get_current_head())


HEAD = _head()


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with postgres_database() as pg:
        yield pg.replace("postgresql://", "postgresql+psycopg://")


def test_migrations_match_the_models(url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = Database(url)
    db.upgrade()
    assert db.current() == HEAD
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "version_table": "ferry_alembic_version"})
        diff = [d for d in compare_metadata(ctx, Base.metadata)]
    assert diff == []
    db.engine.dispose()


def test_a_database_from_before_migrations_is_stamped_and_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    with old.begin() as conn:  # the foundation's create_all schema, with one deployment
        conn.execute(text("CREATE TABLE ferry_releases (release_id VARCHAR(200) PRIMARY KEY, "
                          "model VARCHAR(100) NOT NULL, version INTEGER NOT NULL, manifest TEXT "
                          "NOT NULL, created_at DATETIME NOT NULL)"))
        conn.execute(text("CREATE INDEX ix_ferry_releases_model ON ferry_releases (model)"))
        conn.execute(text("CREATE TABLE ferry_deployments (name VARCHAR(100) PRIMARY KEY, "
                          "release_id VARCHAR(200) NOT NULL, previous_release_id VARCHAR(200), "
                          "protocol VARCHAR(10) NOT NULL, replicas INTEGER NOT NULL, "
                          "updated_at DATETIME NOT NULL)"))
        conn.execute(text("INSERT INTO ferry_deployments VALUES ('churn', 'churn-v1-abc', NULL, "
                          "'auto', 2, '2026-11-01 00:00:00')"))
    old.dispose()
    store = SqlStateStore(url)
    [dep] = store.list_deployments()
    assert (dep.name, dep.release_id, dep.replicas, dep.revision) == ("churn", "churn-v1-abc", 2, 1)
    assert store.db.current() == HEAD
    assert "ferry_jobs" in inspect(store.db.engine).get_table_names()


def test_a_statement_past_the_timeout_is_cancelled_on_postgres() -> None:
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    from sqlalchemy.exc import OperationalError

    with postgres_database() as pg:
        db = Database(pg.replace("postgresql://", "postgresql+psycopg://"),
                      statement_timeout_s=0.5)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
            with pytest.raises(OperationalError, match="statement timeout"):
                conn.execute(text("SELECT pg_sleep(3)"))
        db.engine.dispose()


def test_waiting_for_a_lock_is_bounded_by_the_lock_not_the_statement_timeout() -> None:
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    import threading
    import time

    with postgres_database() as pg:
        db = Database(pg.replace("postgresql://", "postgresql+psycopg://"),
                      statement_timeout_s=0.5)
        held, release = threading.Event(), threading.Event()

        def holder() -> None:
            with db.exclusive("serve-config"):
                held.set()
                release.wait(10)

        t = threading.Thread(target=holder)
        t.start()
        held.wait(10)
        other = Database(pg.replace("postgresql://", "postgresql+psycopg://"),
                         statement_timeout_s=0.5)  # another process's view of the lock
        threading.Timer(1.5, release.set).start()  # past the 0.5 s statement timeout
        t0 = time.monotonic()
        with other.exclusive("serve-config", timeout_s=10):
            waited = time.monotonic() - t0
        assert 1.0 < waited < 8, waited
        with pytest.raises(TimeoutError):  # and the lock's own timeout still holds
            with db.exclusive("serve-config"), other.exclusive("serve-config", timeout_s=1):
                pass
        t.join()
        db.engine.dispose()
        other.engine.dispose()


def test_the_registrys_postgres_connections_carry_the_statement_timeout(tmp_path: Path) -> None:
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    from ferry_platform import Platform, Settings

    with postgres_database() as pg:
        url = pg.replace("postgresql://", "postgresql+psycopg://")
        platform = Platform.from_settings(Settings(
            home=tmp_path, database_url=url, mlflow_tracking_uri=url,
            db_statement_timeout_s=7))
        store = platform.registry._registry._client._tracking_client.store  # type: ignore[attr-defined]
        with store.engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "7s"
        store.engine.dispose()
        platform.db.engine.dispose()
