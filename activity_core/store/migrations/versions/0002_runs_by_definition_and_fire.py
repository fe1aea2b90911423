"""Index runs by definition and fire, for the latest run of each definition.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_activity_runs_activity_fire",
        "activity_runs",
        ["activity_id", "scheduled_for"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_activity_runs_activity_fire", table_name="activity_runs")
