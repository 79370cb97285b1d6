"""Autoscaling: a deployment's replica maximum (NULL: a fixed count, ``replicas``; set:
Serve scales between ``replicas`` and it).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ferry_deployments") as batch:
        batch.add_column(sa.Column("max_replicas", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ferry_deployments") as batch:
        batch.drop_column("max_replicas")
