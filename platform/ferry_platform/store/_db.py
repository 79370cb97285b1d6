"""One SQL database for the control plane's state, migrated by Alembic on start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "ferry_alembic_version"  # MLflow may share the database: not `alembic_version`


class Database:
    """SQLite (embedded default) or PostgreSQL, at the newest schema after :meth:`upgrade`.

    On PostgreSQL every statement is cut off after ``statement_timeout_s`` (a stuck query
    must not hold a request, a worker thread and a pooled connection forever)."""

    def __init__(self, url: str, statement_timeout_s: float = 30.0) -> None:
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            else:  # one shared in-memory database for every thread
                kwargs = {"poolclass": StaticPool,
                          "connect_args": {"check_same_thread": False}}
        else:
            kwargs.update(pool_size=10, max_overflow=20, connect_args={
                "options": f"-c statement_timeout={int(statement_timeout_s * 1000)}"})
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            from sqlalchemy import event

            @event.listens_for(self.engine, "connect")
            def _pragmas(conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
                cur = conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                if parsed.database and parsed.database != ":memory:":
                    cur.execute("PRAGMA journal_mode=WAL")
                cur.close()

        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision``. A database created before migrations existed
        (the foundation's tables, no version table) is recognised and stamped first."""
        from alembic import command

        cfg = self._config()
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            tables = set(inspect(conn).get_table_names())
            if "ferry_releases" in tables and VERSION_TABLE not in tables:
                command.stamp(cfg, "0001")
            command.upgrade(cfg, revision)

    def current(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return ctx.get_current_revision()

    @staticmethod
    def _config() -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        return cfg
