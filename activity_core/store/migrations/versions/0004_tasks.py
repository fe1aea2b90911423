"""Task emission: the tasks runs emitted, issue-core contract checks, and filed counts on
deliveries.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_deliveries") as batch:
        batch.add_column(sa.Column("items_total", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("items_done", sa.Integer(), nullable=True))
    op.create_table(
        "emitted_tasks",
        sa.Column("task_id", sa.String(length=768), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("sink", sa.String(length=63), nullable=False),
        sa.Column("activity_id", sa.String(length=36), nullable=False),
        sa.Column("activity_name", sa.String(length=63), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("issue_id", sa.String(length=255), nullable=True),
        sa.Column("issue_url", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_emitted_tasks")),
    )
    op.create_index(op.f("ix_emitted_tasks_run_id"), "emitted_tasks", ["run_id"])
    op.create_index(op.f("ix_emitted_tasks_activity_id"), "emitted_tasks", ["activity_id"])
    op.create_index(op.f("ix_emitted_tasks_key"), "emitted_tasks", ["key"])
    op.create_index(op.f("ix_emitted_tasks_state"), "emitted_tasks", ["state"])
    op.create_table(
        "sink_checks",
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("sink", sa.String(length=63), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_passed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("target", name=op.f("pk_sink_checks")),
    )


def downgrade() -> None:
    op.drop_table("sink_checks")
    op.drop_index(op.f("ix_emitted_tasks_state"), table_name="emitted_tasks")
    op.drop_index(op.f("ix_emitted_tasks_key"), table_name="emitted_tasks")
    op.drop_index(op.f("ix_emitted_tasks_activity_id"), table_name="emitted_tasks")
    op.drop_index(op.f("ix_emitted_tasks_run_id"), table_name="emitted_tasks")
    op.drop_table("emitted_tasks")
    with op.batch_alter_table("report_deliveries") as batch:
        batch.drop_column("items_done")
        batch.drop_column("items_total")
