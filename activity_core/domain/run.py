"""Contracts of ActivityRunWorkflow and its activities: inputs, results, outcomes.

These shapes are recorded in workflow histories: add fields with defaults, never
rename or remove one (the replay tests hold old histories to this).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from activity_core.domain.definition import ActivityDefinition, ResolverConfig
from activity_core.domain.events import EventEnvelope
from activity_core.domain.tasks import MAX_TASKS, Task

TriggerKind = Literal["schedule", "manual", "event", "backfill"]


class RunInput(BaseModel):
    """Input of ActivityRunWorkflow."""

    activity_id: str | None = None
    """Definition id (schedules use this)."""
    activity_name: str | None = None
    """Definition name (manual triggers may use this instead of the id)."""
    trigger: TriggerKind = "schedule"
    """What started the run."""
    activity_task_queue: str | None = None
    """Task queue for this run's activities; default ``task-execution-tq``."""
    event: EventEnvelope | None = None
    """The event that started the run (``trigger: event``)."""
    nominal: datetime | None = None
    """``trigger: backfill``: the fire the run stands for (its nominal time)."""
    covers: list[datetime] = Field(default_factory=list)
    """``trigger: backfill``: earlier fires it stands for too (``catchup_latest``)."""


class LoadDefinitionInput(BaseModel):
    """Input of the ``load_definition`` activity."""

    activity_id: str | None = None
    """Definition id to look up."""
    activity_name: str | None = None
    """Definition name to look up when no id is given."""


class Report(BaseModel):
    """What a handler produced."""

    title: str
    """One line, used as the note heading and the event summary."""
    summary: str
    """Short human summary (one or two sentences)."""
    markdown: str
    """Report body for people."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Structured result for machines."""
    tasks: list[Task] = Field(default_factory=list, max_length=MAX_TASKS)
    """Follow-ups for an operator, filed through the definition's issue sink."""


class HandlerInput(BaseModel):
    """Input of the ``run_handler`` activity."""

    definition: ActivityDefinition
    """The definition being run."""
    run_id: str
    """``activity_core_run_id`` (the run's workflow id)."""
    scheduled_for: datetime
    """Nominal fire time (UTC)."""
    context: dict[str, Any] = Field(default_factory=dict)
    """Resolved context by resolver name."""
    degraded: list[str] = Field(default_factory=list)
    """Optional resolvers that were unavailable, with the reason."""
    event: EventEnvelope | None = None
    """The event that started the run, if an event did."""


class ResolveInput(BaseModel):
    """Input of the ``resolve_context`` activity."""

    resolver: ResolverConfig
    """Which resolver, with its params and timeouts."""


class ResolveResult(BaseModel):
    """Result of ``resolve_context``."""

    name: str
    """Resolver name."""
    items: list[dict[str, Any]]
    """What the resolver returned."""
    tries: int
    """HTTP tries it took."""


class PersistNoteInput(BaseModel):
    """Input of the ``persist_note`` activity."""

    run_id: str
    """``activity_core_run_id``."""
    definition: ActivityDefinition
    """The definition being run."""
    scheduled_for: datetime
    """Nominal fire time (UTC)."""
    generated_at: datetime
    """When the report was produced (workflow time)."""
    report: Report
    """The report to persist."""


class PersistNoteResult(BaseModel):
    """Result of ``persist_note``."""

    path: str
    """Absolute path of the note."""
    status: Literal["written", "exists"]
    """``exists`` when a note for the same run id was already there (kept as is)."""
    report_digest: str | None = None
    """sha256 of the report's markdown and data (for the ledger)."""


class HandlerNoteResult(BaseModel):
    """Result of ``run_handler_and_note``: the report, and its note unless the write
    failed (the run then retries the note on its own)."""

    report: Report
    generated_at: datetime
    """When the report was produced (the note's ``generated_at``)."""
    note: PersistNoteResult | None = None
    """The note, when it was written."""
    note_error: str | None = None
    """Why the note was not written."""


class DeliveryHandoff(BaseModel):
    """One delivery child handed over by a run."""

    sink: str
    """Sink name."""
    workflow_id: str
    """``delivery-<run id>-<sink>``."""
    status: Literal["started", "already_started"]
    """``already_started`` when a previous attempt of the run had started it."""


class RunOutcome(StrEnum):
    """What a run did (search attribute ``RunOutcome``)."""

    RAN = "ran"
    RAN_LATE = "ran_late"
    RAN_AS_LATEST = "ran_as_latest"
    SKIPPED_MISSED = "skipped_missed"
    SKIPPED_TOO_LATE = "skipped_too_late"
    """Later than the trigger's ``max_lateness_seconds``: recorded, not run (by choice)."""
    SUPERSEDED = "superseded"
    """catchup_latest: a later fire has its own run, which stands for this one."""
    COULD_NOT_RUN = "could_not_run"


SUCCESS_OUTCOMES = frozenset({RunOutcome.RAN, RunOutcome.RAN_LATE, RunOutcome.RAN_AS_LATEST})
"""Outcomes of a run that did its work (verify passes, the last-success time moves)."""


class PlanFireInput(BaseModel):
    """Input of the ``plan_fire`` activity (scheduled runs only)."""

    definition: ActivityDefinition
    """The definition being run (cron or interval trigger)."""
    schedule_id: str | None
    """The schedule that started the run (``TemporalScheduledById``)."""
    nominal: datetime
    """The run's nominal fire time."""


class FirePlan(BaseModel):
    """What the misfire guard needs to decide (result of ``plan_fire``)."""

    window_s: float
    """Catchup window plus jitter: how late a fire may still run."""
    tolerance_s: float
    """Lateness still counted as on time."""
    later_fires: list[datetime] = Field(default_factory=list)
    """Fires after the nominal one up to now, as the server computes them (asked only for
    ``catchup_latest``, the one policy that uses them)."""
    fires_with_own_run: list[datetime] = Field(default_factory=list)
    """Later fires for which the schedule already started a run of their own."""
    unstarted_before: list[datetime] = Field(default_factory=list)
    """Fires between the schedule's previous action and this one that it never started
    (the server was down past their catchup window): a ``catchup_latest`` run covers them."""
    aligned: int = 1
    """Enabled scheduled definitions sharing this fire (the burst the run is part of)."""
    queue_allowance_s: float = 0.0
    """Added to the window and the tolerance for that burst's queue."""


class RunResult(BaseModel):
    """Result of ActivityRunWorkflow: report persisted, deliveries handed over."""

    run_id: str
    """``activity_core_run_id`` (the workflow id)."""
    activity_id: str
    """Definition id."""
    activity_name: str
    """Definition name."""
    outcome: RunOutcome
    """What the run did."""
    scheduled_for: datetime
    """Nominal fire time (UTC)."""
    report_path: str | None
    """Working-memory note path."""
    note_status: Literal["written", "exists"] | None
    """Whether the note was written now or already existed."""
    deliveries: list[DeliveryHandoff] = Field(default_factory=list)
    """Delivery children handed over (never awaited)."""
    trigger: TriggerKind = "schedule"
    """What started the run."""
    nominal_fire: datetime | None = None
    """The run's own nominal fire time (differs from ``scheduled_for`` for ran_as_latest)."""
    lateness_seconds: float = 0.0
    """How late the run started relative to its own nominal fire."""
    covered_fires: list[datetime] = Field(default_factory=list)
    """Nominal fires this run stands for (several for ``ran_as_latest``)."""
    ledger_pending: bool = False
    """A ledger write failed; reconciliation fills the row in later."""


class AlertNoteInput(BaseModel):
    """Input of the ``write_alert_note`` activity."""

    kind: str
    """E.g. ``delivery_dead``."""
    run_id: str
    """Run the alert is about."""
    activity_id: str
    """Definition id."""
    activity_name: str
    """Definition name."""
    title: str
    """One line."""
    body: str
    """Markdown body: what happened and what to do."""
    key: str
    """Deterministic alert id; the note is written once per key."""


class AlertNoteResult(BaseModel):
    """Result of ``write_alert_note``."""

    path: str
    """Absolute path of the alert note."""
    status: Literal["written", "exists"]
    """``exists`` when the same alert was already written."""
