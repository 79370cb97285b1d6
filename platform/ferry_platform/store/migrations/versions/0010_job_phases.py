"""Job phases: each timed phase of a job (name, state, start, seconds) as one JSON list,
so the API and ``ferry jobs show`` say where a deploy's time went.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ferry_jobs") as batch:
        batch.add_column(sa.Column("phases", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ferry_jobs") as batch:
        batch.drop_column("phases")
