"""Pipelines: who last registered each pipeline (``updated_by``) and how many times it was
registered (``revision``); each run records the revision it was started for, and its
team (only its team's members read it, also once the pipeline is deleted). Scheduled and
alert-triggered runs act as the last editor, not as whoever created the pipeline first;
pipelines from before this migration count their creator as their last editor, and runs
take their pipeline's team (a run of a pipeline deleted before: no team, platform admins
only).

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
        batch.add_column(sa.Column("team", sa.String(63), nullable=True))
    op.create_index("ix_ferry_pipeline_runs_team", "ferry_pipeline_runs", ["team"])
    op.execute("UPDATE ferry_pipeline_runs SET team = (SELECT p.team FROM ferry_pipelines p "
               "WHERE p.name = ferry_pipeline_runs.pipeline)")


def downgrade() -> None:
    op.drop_index("ix_ferry_pipeline_runs_team", "ferry_pipeline_runs")
    with op.batch_alter_table("ferry_pipeline_runs") as batch:
        batch.drop_column("team")
        batch.drop_column("revision")
    with op.batch_alter_table("ferry_pipelines") as batch:
        batch.drop_column("revision")
        batch.drop_column("updated_by")
