"""Jobs with logs and locks, users/teams/tokens, model ownership, the audit log; deployments
get an owning team, a revision and the job that last wrote them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("ferry_deployments") as batch:
        batch.add_column(sa.Column("team", sa.String(63), nullable=True))
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("job_id", sa.String(32), nullable=True))
        batch.create_index("ix_ferry_deployments_team", ["team"])
    op.create_table(
        "ferry_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("team", sa.String(63), nullable=True),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("step", sa.String(300), nullable=False, server_default=""),
        sa.Column("percent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_index("ix_ferry_jobs_target", "ferry_jobs", ["target"])
    op.create_index("ix_ferry_jobs_state", "ferry_jobs", ["state"])
    op.create_index("ix_ferry_jobs_created_at", "ferry_jobs", ["created_at"])
    op.create_table(
        "ferry_job_logs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey(
            "ferry_jobs.id", ondelete="CASCADE",
            name="fk_ferry_job_logs_job_id_ferry_jobs"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_index("ix_ferry_job_logs_job_seq", "ferry_job_logs", ["job_id", "seq"], unique=True)
    op.create_table(
        "ferry_locks",
        sa.Column("resource", sa.String(200), primary_key=True),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
    )
    op.create_table(
        "ferry_teams",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("description", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "ferry_users",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "ferry_memberships",
        sa.Column("user", sa.String(100), sa.ForeignKey(
            "ferry_users.name", ondelete="CASCADE",
            name="fk_ferry_memberships_user_ferry_users"), primary_key=True),
        sa.Column("team", sa.String(63), sa.ForeignKey(
            "ferry_teams.name", ondelete="CASCADE",
            name="fk_ferry_memberships_team_ferry_teams"), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
    )
    op.create_table(
        "ferry_tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("user", sa.String(100), sa.ForeignKey(
            "ferry_users.name", ondelete="CASCADE",
            name="fk_ferry_tokens_user_ferry_users"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("description", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.UniqueConstraint("digest", name="uq_ferry_tokens_digest"),
    )
    op.create_index("ix_ferry_tokens_user", "ferry_tokens", ["user"])
    op.create_table(
        "ferry_model_owners",
        sa.Column("model", sa.String(100), primary_key=True),
        sa.Column("team", sa.String(63), sa.ForeignKey(
            "ferry_teams.name", name="fk_ferry_model_owners_team_ferry_teams"), nullable=False),
    )
    op.create_index("ix_ferry_model_owners_team", "ferry_model_owners", ["team"])
    op.create_table(
        "ferry_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("resource", sa.String(200), nullable=False),
        sa.Column("team", sa.String(63), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )
    for col in ("at", "actor", "resource", "team"):
        op.create_index(f"ix_ferry_audit_{col}", "ferry_audit", [col])


def downgrade() -> None:
    for table in ("ferry_audit", "ferry_model_owners", "ferry_tokens", "ferry_memberships",
                  "ferry_users", "ferry_teams", "ferry_locks", "ferry_job_logs", "ferry_jobs"):
        op.drop_table(table)
    with op.batch_alter_table("ferry_deployments") as batch:
        batch.drop_index("ix_ferry_deployments_team")
        batch.drop_column("job_id")
        batch.drop_column("revision")
        batch.drop_column("team")
