"""Alembic environment: Ferry runs migrations itself (``Database.upgrade``), on the
connection it hands over, so no alembic.ini or URL lives here."""

from __future__ import annotations

from alembic import context

from ferry_platform.store._tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite",
                  compare_type=True, version_table="ferry_alembic_version")
with context.begin_transaction():
    context.run_migrations()
