"""The catalog tables: registered models and versions as the API answers them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ferry_platform.store._db import Database
from ferry_platform.store._tables import CatalogModel, CatalogVersion, now


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

    def version_keys(self) -> set[tuple[str, int]]:
        with self.db.session() as s:
            return {(n, v) for n, v in s.execute(select(CatalogVersion.name,
                                                        CatalogVersion.version))}
