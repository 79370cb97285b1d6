"""Job leases: each job names the control-plane process that runs it (``owner``) and until
when that process vouches for it (``lease_until``, renewed by its heartbeat). Another process
finishes a job only once its lease has expired.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ferry_jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(120), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ferry_jobs") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
