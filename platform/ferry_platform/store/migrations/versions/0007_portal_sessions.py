"""Portal sessions and one-time sign-in links.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ferry_portal_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("token_id", sa.String(16), nullable=False),
        sa.Column("user", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["ferry_tokens.id"], ondelete="CASCADE",
                                name="fk_ferry_portal_sessions_token_id_ferry_tokens"),
        sa.PrimaryKeyConstraint("id", name="pk_ferry_portal_sessions"),
    )
    op.create_index("ix_ferry_portal_sessions_token_id", "ferry_portal_sessions", ["token_id"])


def downgrade() -> None:
    op.drop_index("ix_ferry_portal_sessions_token_id", "ferry_portal_sessions")
    op.drop_table("ferry_portal_sessions")
