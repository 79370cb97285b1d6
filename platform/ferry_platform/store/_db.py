"""One SQL database for the control plane's state, migrated by Alembic on start."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "ferry_alembic_version"  # MLflow may share the database: not `alembic_version`


class Database:
    """SQLite (embedded default) or PostgreSQL, at the newest schema after :meth:`upgrade`.

    On PostgreSQL every statement is cut off after ``statement_timeout_s`` (a stuck query
    must not hold a request, a worker thread and a pooled connection forever); waiting for
    an :meth:`exclusive` lock is bounded by that lock's own timeout instead."""

    def __init__(self, url: str, statement_timeout_s: float = 30.0) -> None:
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        self.dialect = parsed.get_backend_name()
        self._file = parsed.database if self.dialect == "sqlite" and parsed.database and \
            parsed.database != ":memory:" else None
        self._guards: dict[str, threading.Lock] = {}
        self._guards_lock = threading.Lock()
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

    @contextmanager
    def exclusive(self, name: str, timeout_s: float = 120.0) -> Iterator[None]:
        """Hold the lock ``name`` across every process using this database while the block
        runs. PostgreSQL: a transaction-level advisory lock (released at commit, rollback,
        or when the holder's connection dies). SQLite (one machine): an exclusive
        ``flock`` on a file beside the database (released when the holder exits, even by
        a kill). Threads of one process queue on an in-process lock first.

        Raises :class:`TimeoutError` if the lock is not had within ``timeout_s``."""
        with self._guards_lock:
            guard = self._guards.setdefault(name, threading.Lock())
        if not guard.acquire(timeout=timeout_s):
            raise TimeoutError(f"the lock {name!r} was not free within {timeout_s:.0f}s")
        try:
            if self.dialect == "postgresql":
                with self._advisory(name, timeout_s):
                    yield
            elif self._file is not None:
                with self._flock(Path(f"{self._file}.{name}.lock"), timeout_s):
                    yield
            else:  # in-memory SQLite: one process by construction
                yield
        finally:
            guard.release()

    @contextmanager
    def _advisory(self, name: str, timeout_s: float) -> Iterator[None]:
        key = int.from_bytes(hashlib.sha256(f"ferry:{name}".encode()).digest()[:8], "big",
                             signed=True)
        with self.engine.connect() as conn, conn.begin():
            # the wait is bounded by the lock's own timeout, not by the statement timeout
            # every other statement has (30 s would cut a 120 s wait short)
            conn.execute(text(f"SET LOCAL lock_timeout = '{int(timeout_s * 1000)}ms'"))
            conn.execute(text(f"SET LOCAL statement_timeout = '{int(timeout_s * 1000) + 1000}ms'"))
            try:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            except OperationalError as e:
                raise TimeoutError(f"the lock {name!r} was not free within "
                                   f"{timeout_s:.0f}s") from e
            yield

    @staticmethod
    @contextmanager
    def _flock(path: Path, timeout_s: float) -> Iterator[None]:
        import fcntl

        with path.open("a") as f:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{path} stayed locked for {timeout_s:.0f}s") from None
                    time.sleep(0.02)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

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
