"""SQL tables: the definitions registry, the run ledger, deliveries, alerts and the journal
of schedule changes. SQLAlchemy 2 typed models; the migrations in ``migrations/`` create
exactly these (a test compares them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Index, Integer, MetaData, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite keeps naive UTC text, sorted as time)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (so migrations can name them)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class DefinitionRow(Base):
    """``activity_definitions``: every definition workers, schedules and the API read."""

    __tablename__ = "activity_definitions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    origin: Mapped[str] = mapped_column(String(8))
    """``file`` (imported by sync, edited in the file) or ``api``."""
    source: Mapped[str | None] = mapped_column(String(1024))
    """The file a ``file`` definition came from."""
    body: Mapped[dict[str, Any]]
    """The definition as JSON (the file schema)."""
    digest: Mapped[str] = mapped_column(String(64))
    """sha256 of the canonical body: an unchanged import writes nothing."""
    enabled: Mapped[bool]
    version: Mapped[int] = mapped_column(Integer)
    """Raised on every change; the API's ETag."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))
    updated_by: Mapped[str] = mapped_column(String(255))


class RunRow(Base):
    """``activity_runs``: one row per run (workflow id), kept past Temporal's retention."""

    __tablename__ = "activity_runs"
    __table_args__ = (Index("ix_activity_runs_activity_fire", "activity_id", "scheduled_for"),)

    run_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(36), index=True)
    activity_name: Mapped[str] = mapped_column(String(63), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32))
    nominal_fire: Mapped[datetime | None]
    scheduled_for: Mapped[datetime | None] = mapped_column(index=True)
    fired_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    lateness_seconds: Mapped[float | None]
    covered_fires: Mapped[list[Any]]
    note_path: Mapped[str | None] = mapped_column(Text)
    report_digest: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
    """Time of the state stored: a write with an older one changes nothing."""
    recorded_by: Mapped[str] = mapped_column(String(16))
    """``run`` (the run's own activity) or ``reconcile``."""


class DeliveryRow(Base):
    """``report_deliveries``: one row per delivery workflow (run and sink)."""

    __tablename__ = "report_deliveries"

    workflow_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(255), index=True)
    activity_id: Mapped[str] = mapped_column(String(36))
    activity_name: Mapped[str] = mapped_column(String(63))
    sink: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    items_total: Mapped[int | None] = mapped_column(Integer)
    """Issue sink: tasks in the batch."""
    items_done: Mapped[int | None] = mapped_column(Integer)
    """Issue sink: tasks filed so far."""


class AlertRow(Base):
    """``alerts``: the watchdog's alerts, open and closed."""

    __tablename__ = "alerts"

    alert_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(36), index=True)
    activity_name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    fires: Mapped[list[Any]]
    detail: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
    muted: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why the alert is held back (a mute in force when it opened), if it is."""


class ScheduleChangeRow(Base):
    """``schedule_changes``: every create, update, pause, unpause and delete a sync made."""

    __tablename__ = "schedule_changes"
    __table_args__ = (Index("ix_schedule_changes_schedule_at", "schedule_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(32))
    overlap: Mapped[str] = mapped_column(String(32))
    catchup_window_seconds: Mapped[float | None]
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]
    trigger: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The trigger written (cron or interval); None for deletes and older rows."""


class EventTypeRow(Base):
    """``event_types``: the event types definitions may listen to (from ``event-types/``)."""

    __tablename__ = "event_types"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    payload_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """JSON Schema of the payload, if the type has one."""
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(255))


class EmittedTaskRow(Base):
    """``emitted_tasks``: every task a run emitted, per issue sink, and what became of it."""

    __tablename__ = "emitted_tasks"

    task_id: Mapped[str] = mapped_column(String(768), primary_key=True)
    """``<run id>:<sink>:<task key>``."""
    run_id: Mapped[str] = mapped_column(String(255), index=True)
    sink: Mapped[str] = mapped_column(String(63))
    activity_id: Mapped[str] = mapped_column(String(36), index=True)
    activity_name: Mapped[str] = mapped_column(String(63))
    backend: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    labels: Mapped[list[Any]]
    state: Mapped[str] = mapped_column(String(16), index=True)
    issue_id: Mapped[str | None] = mapped_column(String(255))
    issue_url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class SinkCheckRow(Base):
    """``sink_checks``: the last contract check of each issue-core endpoint."""

    __tablename__ = "sink_checks"

    target: Mapped[str] = mapped_column(String(2000), primary_key=True)
    """Base URL checked (never carries a secret: definitions refuse those)."""
    sink: Mapped[str] = mapped_column(String(63))
    """Sink name the check was asked for."""
    passed: Mapped[bool]
    """Whether the last check passed."""
    fields: Mapped[list[Any]]
    """One ``{"field", "ok", "detail"}`` per checked point."""
    checked_at: Mapped[datetime]
    last_passed_at: Mapped[datetime | None]
    """When a check of this endpoint last passed (kept through later failures)."""
    updated_at: Mapped[datetime]


class MuteRow(Base):
    """``mutes``: pages held back for a definition (or ``*``: everything) for a while."""

    __tablename__ = "mutes"

    mute_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    target: Mapped[str] = mapped_column(String(63), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    ended_early_at: Mapped[datetime | None]


class BackfillPlanRow(Base):
    """``backfill_plans``: a backfill's fires and what it does with each (stored before
    anything starts; ``actcore backfill approve`` starts a ``planned`` one)."""

    __tablename__ = "backfill_plans"

    plan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(index=True)
    started_by: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None]
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The whole plan (:class:`activity_core.domain.backfill.BackfillPlan`) as JSON."""
