"""Pipelines: registered pipelines (module, schedule, alert triggers, overlap policy),
their runs, and feature views materialized on a schedule.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ferry_pipelines",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("team", sa.String(63), nullable=True),
        sa.Column("module", sa.String(300), nullable=False),
        sa.Column("path", sa.String(1000), nullable=True),
        sa.Column("schedule", sa.String(100), nullable=True),
        sa.Column("on_alert", sa.JSON, nullable=False),
        sa.Column("overlap", sa.String(10), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("timeout_s", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_ferry_pipelines_team", "ferry_pipelines", ["team"])
    op.create_table(
        "ferry_pipeline_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("pipeline", sa.String(63), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False, server_default=""),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("token_id", sa.String(64), nullable=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("outcome", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_ferry_pipeline_runs_pipeline", "ferry_pipeline_runs", ["pipeline"])
    op.create_index("ix_ferry_pipeline_runs_state", "ferry_pipeline_runs", ["state"])
    op.create_index("ix_ferry_pipeline_runs_created_at", "ferry_pipeline_runs", ["created_at"])
    op.create_table(
        "ferry_feature_schedules",
        sa.Column("view", sa.String(200), primary_key=True),
        sa.Column("cron", sa.String(100), nullable=False),
        sa.Column("lookback_hours", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ferry_feature_schedules")
    op.drop_index("ix_ferry_pipeline_runs_created_at", "ferry_pipeline_runs")
    op.drop_index("ix_ferry_pipeline_runs_state", "ferry_pipeline_runs")
    op.drop_index("ix_ferry_pipeline_runs_pipeline", "ferry_pipeline_runs")
    op.drop_table("ferry_pipeline_runs")
    op.drop_index("ix_ferry_pipelines_team", "ferry_pipelines")
    op.drop_table("ferry_pipelines")
