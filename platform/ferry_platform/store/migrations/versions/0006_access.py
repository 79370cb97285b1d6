"""Access: token scopes, disabled users, deployments open to anonymous predictions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ferry_tokens") as batch:
        batch.add_column(sa.Column("scope", sa.String(20), nullable=False, server_default="all"))
    with op.batch_alter_table("ferry_users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("ferry_deployments") as batch:
        batch.add_column(sa.Column("anonymous_predict", sa.Boolean, nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("ferry_deployments") as batch:
        batch.drop_column("anonymous_predict")
    with op.batch_alter_table("ferry_users") as batch:
        batch.drop_column("disabled_at")
    with op.batch_alter_table("ferry_tokens") as batch:
        batch.drop_column("scope")
