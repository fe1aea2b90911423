"""Backfill plans: the fires a backfill runs and leaves, stored before it starts.

Revision ID: 0007
Revises: 0006
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
        "backfill_plans",
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=255), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", name=op.f("pk_backfill_plans")),
    )
    op.create_index(op.f("ix_backfill_plans_created_at"), "backfill_plans", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_backfill_plans_created_at"), table_name="backfill_plans")
    op.drop_table("backfill_plans")
