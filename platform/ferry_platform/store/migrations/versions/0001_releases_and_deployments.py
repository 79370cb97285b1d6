"""Releases and deployments (the foundation's tables).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ferry_releases",
        sa.Column("release_id", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ferry_releases_model", "ferry_releases", ["model"])
    op.create_table(
        "ferry_deployments",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("release_id", sa.String(200), nullable=False),
        sa.Column("previous_release_id", sa.String(200), nullable=True),
        sa.Column("protocol", sa.String(10), nullable=False),
        sa.Column("replicas", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ferry_deployments")
    op.drop_index("ix_ferry_releases_model", "ferry_releases")
    op.drop_table("ferry_releases")
