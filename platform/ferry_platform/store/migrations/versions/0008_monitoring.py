"""Monitoring: per-deployment thresholds, the latest report and canary-analysis state,
and alerts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ferry_monitors",
        sa.Column("deployment", sa.String(100), primary_key=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "ferry_monitor_state",
        sa.Column("deployment", sa.String(100), primary_key=True),
        sa.Column("report", sa.JSON, nullable=True),
        sa.Column("report_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("canary", sa.JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ferry_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("deployment", sa.String(100), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("release_id", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False, server_default=""),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("team", sa.String(63), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_ferry_alerts_deployment", "ferry_alerts", ["deployment"])
    op.create_index("ix_ferry_alerts_state", "ferry_alerts", ["state"])
    op.create_index("ix_ferry_alerts_team", "ferry_alerts", ["team"])


def downgrade() -> None:
    op.drop_index("ix_ferry_alerts_team", "ferry_alerts")
    op.drop_index("ix_ferry_alerts_state", "ferry_alerts")
    op.drop_index("ix_ferry_alerts_deployment", "ferry_alerts")
    op.drop_table("ferry_alerts")
    op.drop_table("ferry_monitor_state")
    op.drop_table("ferry_monitors")
