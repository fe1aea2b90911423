"""Registry, run ledger, deliveries, alerts and the schedule-change journal.

Revision ID: 0001
Revises: (none)
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
        "activity_definitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_definitions")),
        sa.UniqueConstraint("name", name=op.f("uq_activity_definitions_name")),
    )
    op.create_table(
        "activity_runs",
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("activity_id", sa.String(length=36), nullable=False),
        sa.Column("activity_name", sa.String(length=63), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("nominal_fire", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lateness_seconds", sa.Double(), nullable=True),
        sa.Column("covered_fires", sa.JSON(), nullable=False),
        sa.Column("note_path", sa.Text(), nullable=True),
        sa.Column("report_digest", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_activity_runs")),
    )
    op.create_index("ix_activity_runs_activity_id", "activity_runs", ["activity_id"], unique=False)
    op.create_index(
        "ix_activity_runs_activity_name", "activity_runs", ["activity_name"], unique=False
    )
    op.create_index(
        "ix_activity_runs_scheduled_for", "activity_runs", ["scheduled_for"], unique=False
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(length=255), nullable=False),
        sa.Column("activity_id", sa.String(length=36), nullable=False),
        sa.Column("activity_name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fires", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_activity_id", "alerts", ["activity_id"], unique=False)
    op.create_table(
        "report_deliveries",
        sa.Column("workflow_id", sa.String(length=512), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("activity_id", sa.String(length=36), nullable=False),
        sa.Column("activity_name", sa.String(length=63), nullable=False),
        sa.Column("sink", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_report_deliveries")),
    )
    op.create_index("ix_report_deliveries_run_id", "report_deliveries", ["run_id"], unique=False)
    op.create_index("ix_report_deliveries_state", "report_deliveries", ["state"], unique=False)
    op.create_table(
        "schedule_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=32), nullable=False),
        sa.Column("overlap", sa.String(length=32), nullable=False),
        sa.Column("catchup_window_seconds", sa.Double(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_changes")),
    )
    op.create_index(
        "ix_schedule_changes_schedule_at", "schedule_changes", ["schedule_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_schedule_changes_schedule_at", table_name="schedule_changes")
    op.drop_table("schedule_changes")
    op.drop_index("ix_report_deliveries_state", table_name="report_deliveries")
    op.drop_index("ix_report_deliveries_run_id", table_name="report_deliveries")
    op.drop_table("report_deliveries")
    op.drop_index("ix_alerts_activity_id", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_activity_runs_scheduled_for", table_name="activity_runs")
    op.drop_index("ix_activity_runs_activity_name", table_name="activity_runs")
    op.drop_index("ix_activity_runs_activity_id", table_name="activity_runs")
    op.drop_table("activity_runs")
    op.drop_table("activity_definitions")
