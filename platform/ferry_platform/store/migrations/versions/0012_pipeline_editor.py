"""Pipelines: who last registered each pipeline (``updated_by``) and how many times it was
registered (``revision``); each run records the revision it was started for. Scheduled
and alert-triggered runs act as the last editor, not as whoever created the pipeline
first; pipelines from before this migration count their creator as their last editor.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ferry_pipelines") as batch:
        batch.add_column(sa.Column("updated_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False,
                                   server_default="1"))
    op.execute("UPDATE ferry_pipelines SET updated_by = created_by")
    with op.batch_alter_table("ferry_pipelines") as batch:
        batch.alter_column("updated_by", existing_type=sa.String(100), nullable=False)
    with op.batch_alter_table("ferry_pipeline_runs") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False,
                                   server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("ferry_pipeline_runs") as batch:
        batch.drop_column("revision")
    with op.batch_alter_table("ferry_pipelines") as batch:
        batch.drop_column("revision")
        batch.drop_column("updated_by")
