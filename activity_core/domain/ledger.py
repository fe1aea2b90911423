"""Contracts of the run ledger: what a run and a delivery record about themselves.

The ledger is a projection of Temporal kept in SQL (``activity_core.store``) so it outlives
the namespace's retention. Workflows send these records to the ``record_run`` and
``record_delivery`` local activities; reconciliation builds the same records from
visibility. A record carries the time of the state it describes (``updated_at``): the
store keeps the latest state, whoever writes it and in whatever order. Pure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from activity_core.domain.run import RunResult

NOMINAL_TRIGGERS = frozenset({"schedule", "backfill"})
"""Runs that stand for a fire: their ledger row keeps its nominal time."""

RunState = Literal["running", "completed", "failed", "terminated", "canceled", "timed_out"]
"""Execution state of a run, as Temporal knows it."""


class RunRecord(BaseModel):
    """One row of ``activity_runs`` (the run id is the run's workflow id)."""

    run_id: str
    """``activity_core_run_id``: the run's workflow id."""
    activity_id: str
    """Definition id."""
    activity_name: str
    """Definition name."""
    trigger: str = "schedule"
    """``schedule``, ``manual``, ``event`` or ``backfill``."""
    state: RunState = "running"
    """Execution state."""
    outcome: str | None = None
    """``RunOutcome`` once the run has decided (ran, ran_late, skipped_missed, ...)."""
    nominal_fire: datetime | None = None
    """The fire the schedule started the run for (None for manual and event runs)."""
    scheduled_for: datetime | None = None
    """The fire the report is for (the latest due fire for ``ran_as_latest``)."""
    fired_at: datetime | None = None
    """When the server created the run."""
    started_at: datetime | None = None
    """When the run began executing (its first workflow task)."""
    finished_at: datetime | None = None
    """When the run closed."""
    lateness_seconds: float | None = None
    """How late the run started relative to its own nominal fire."""
    covered_fires: list[datetime] = Field(default_factory=list)
    """Nominal fires this run stands for."""
    note_path: str | None = None
    """The working-memory note."""
    report_digest: str | None = None
    """sha256 of the report (markdown and data)."""
    error: str | None = None
    """Why the run failed, when it did."""
    updated_at: datetime
    """Time of the state described (workflow time, or the close time from visibility)."""


class DeliveryRecord(BaseModel):
    """One row of ``report_deliveries``."""

    workflow_id: str
    """``delivery-<run id>-<sink>``."""
    run_id: str
    """The run (or alert) whose report is delivered."""
    activity_id: str
    """Definition id."""
    activity_name: str
    """Definition name."""
    sink: str
    """Sink name."""
    state: str
    """``DeliveryStatus``: pending, waiting, delivered, dead, given_up."""
    attempts: int = 0
    """Attempts made when the state was entered."""
    last_error: str | None = None
    """Last failure (already free of secrets)."""
    delivered_at: datetime | None = None
    """When delivered."""
    updated_at: datetime
    """Time of the state described."""
    items_total: int | None = None
    """Issue sink: tasks in the batch."""
    items_done: int | None = None
    """Issue sink: tasks filed so far."""


class LedgerWriteResult(BaseModel):
    """Result of a ledger write: never an error, at most ``written=False`` and why."""

    written: bool
    """The row is stored (or a newer state already was)."""
    error: str | None = None
    """Why not, when not (the database URL is never included)."""
    store_off: bool = False
    """The worker runs without a store (``ACTCORE_DB_URL=none``): nothing is pending."""

    @property
    def pending(self) -> bool:
        """A row is missing that reconciliation should fill in."""
        return not self.written and not self.store_off


class ScheduleChange(BaseModel):
    """One entry of the ``schedule_changes`` journal: a write a sync made to a schedule."""

    schedule_id: str
    """``activity-schedule-<definition id>`` or ``activity-core-watchdog``."""
    label: str
    """Definition name (or ``(watchdog)``, ``(no definition)`` for a pruned schedule)."""
    action: Literal["create", "update", "pause", "unpause", "delete"]
    """What the sync did."""
    fingerprint: str = ""
    """The desired state written (empty for a delete)."""
    policy: str = ""
    """Misfire policy in force from now on."""
    overlap: str = ""
    """Overlap policy in force from now on."""
    catchup_window_seconds: float | None = None
    """Catchup window in force from now on."""
    actor: str
    """Who synced: ``actcore sync`` with the user, or the worker's host."""
    at: datetime
    """When."""
    trigger: dict[str, Any] | None = None
    """The trigger written (cron or interval, as in the definition): the watchdog computes
    the fires of the time it was in force."""


def started_record(
    *,
    run_id: str,
    activity_id: str,
    activity_name: str,
    trigger: str,
    nominal_fire: datetime | None,
    scheduled_for: datetime,
    fired_at: datetime,
    started_at: datetime,
) -> RunRecord:
    """The ledger row of a run that has loaded its definition and decided to go on."""
    return RunRecord(
        run_id=run_id,
        activity_id=activity_id,
        activity_name=activity_name,
        trigger=trigger,
        state="running",
        nominal_fire=nominal_fire if trigger in NOMINAL_TRIGGERS else None,
        scheduled_for=scheduled_for,
        fired_at=fired_at,
        started_at=started_at,
        updated_at=started_at,
    )


def finished_record(
    result: RunResult,
    *,
    fired_at: datetime,
    started_at: datetime,
    finished_at: datetime,
    report_digest: str | None = None,
) -> RunRecord:
    """The ledger row of a run that completed (ran, skipped, superseded, could not run)."""
    return RunRecord(
        run_id=result.run_id,
        activity_id=result.activity_id,
        activity_name=result.activity_name,
        trigger=result.trigger,
        state="completed",
        outcome=result.outcome.value,
        nominal_fire=result.nominal_fire if result.trigger in NOMINAL_TRIGGERS else None,
        scheduled_for=result.scheduled_for,
        fired_at=fired_at,
        started_at=started_at,
        finished_at=finished_at,
        lateness_seconds=result.lateness_seconds,
        covered_fires=result.covered_fires,
        note_path=result.report_path,
        report_digest=report_digest,
        updated_at=finished_at,
    )
