"""The catalog tables: registered models and versions as the API answers them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from ferry_platform.store._db import Database
from ferry_platform.store._tables import CatalogModel, CatalogVersion, ModelOwner, now


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlCatalog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _upsert(self, table: Any, keys: dict[str, Any], payload: dict[str, Any]) -> None:
        values = {**keys, "payload": payload, "updated_at": now()}
        insert = (postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert)(table)
        stmt = insert.values(**values).on_conflict_do_update(
            index_elements=list(keys), set_={"payload": payload, "updated_at": values["updated_at"]})
        with self.db.session() as s, s.begin():
            s.execute(stmt)

    def put_model(self, name: str, payload: dict[str, Any]) -> None:
        self._upsert(CatalogModel, {"name": name}, payload)

    def put_version(self, name: str, version: int, payload: dict[str, Any]) -> None:
        self._upsert(CatalogVersion, {"name": name, "version": version}, payload)

    def model(self, name: str) -> dict[str, Any] | None:
        table = CatalogModel.__table__
        with self.db.engine.connect() as conn:
            payload = conn.execute(select(table.c.payload).where(table.c.name == name)).scalar()
        return dict(payload) if payload is not None else None

    def models(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [dict(p) for p in s.scalars(select(CatalogModel.payload)
                                               .order_by(CatalogModel.name))]

    def version(self, name: str, version: int) -> dict[str, Any] | None:
        table = CatalogVersion.__table__
        q = select(table.c.payload).where(table.c.name == name, table.c.version == version)
        with self.db.engine.connect() as conn:  # Core: the hot read path
            payload = conn.execute(q).scalar()
        return dict(payload) if payload is not None else None

    def versions(self, name: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [dict(p) for p in s.scalars(
                select(CatalogVersion.payload).where(CatalogVersion.name == name)
                .order_by(CatalogVersion.version))]

    # -- pages (keyset: each stays one indexed range scan however many rows there are) ---
    def page_models(self, *, query: str | None = None, team: str | None = None,
                    after: str | None = None, limit: int = 50
                    ) -> list[tuple[dict[str, Any], str | None]]:
        """Models by name after ``after`` whose name contains ``query``, owned by ``team``
        if given: (payload, owning team), at most ``limit``."""
        m, o = CatalogModel.__table__, ModelOwner.__table__
        q = (select(m.c.payload, o.c.team).select_from(m.outerjoin(o, o.c.model == m.c.name))
             .order_by(m.c.name).limit(limit))
        if query:
            q = q.where(m.c.name.like(_like(query.lower()), escape="\\"))
        if team:
            q = q.where(o.c.team == team)
        if after:
            q = q.where(m.c.name > after)
        with self.db.engine.connect() as conn:
            return [(dict(r.payload), r.team) for r in conn.execute(q)]

    def page_versions(self, name: str, *, before: int | None = None,
                      limit: int = 50) -> list[dict[str, Any]]:
        """Versions of ``name`` older than ``before``, newest first, at most ``limit``."""
        v = CatalogVersion.__table__
        q = select(v.c.payload).where(v.c.name == name).order_by(v.c.version.desc()).limit(limit)
        if before is not None:
            q = q.where(v.c.version < before)
        with self.db.engine.connect() as conn:
            return [dict(r.payload) for r in conn.execute(q)]

    def count_versions(self, name: str) -> int:
        v = CatalogVersion.__table__
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(v)
                                    .where(v.c.name == name)).scalar() or 0)

    def newest_versions(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest version of each model (at most ``limit`` models)."""
        v = CatalogVersion.__table__
        newest = (select(v.c.name, func.max(v.c.version).label("version")).group_by(v.c.name)
                  .order_by(v.c.name).limit(limit).subquery())
        q = select(v.c.payload).select_from(v.join(
            newest, (newest.c.name == v.c.name) & (newest.c.version == v.c.version)))
        with self.db.engine.connect() as conn:
            return [dict(r.payload) for r in conn.execute(q)]

    def version_keys(self) -> set[tuple[str, int]]:
        with self.db.session() as s:
            return {(n, v) for n, v in s.execute(select(CatalogVersion.name,
                                                        CatalogVersion.version))}
