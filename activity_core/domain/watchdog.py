"""The missed-fire watchdog's records: what a pass observes, the verdict on each fire,
alerts, the state one pass hands to the next, and the pass's inputs and results.

Pure; no I/O. The observation is gathered by :mod:`activities.watchdog_observe`, the
judgement is :mod:`activity_core.domain.judge`, the words of an alert are
:mod:`activity_core.domain.alert_text`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class FireKind(StrEnum):
    """What happened to one expected fire."""

    OK = "ok"
    """A run started within the tolerance and completed."""
    LATE = "late"
    """A run completed, but started later than the tolerance."""
    COVERED = "covered"
    """No run of its own: a ``catchup_latest`` run stood for it (by policy)."""
    SKIPPED_BY_POLICY = "skipped_by_policy"
    """Not run, as the misfire or overlap policy says (the run recorded why)."""
    SKIPPED_TOO_LATE = "skipped_too_late"
    """Not run: it would have started later than the trigger's ``max_lateness_seconds``."""
    NO_EVENTS = "no_events"
    """Event-triggered: no matching event (no run) within ``watch.expect_within_seconds``."""
    TOO_FAST = "too_fast"
    """The run completed in less than the definition's ``min_runtime_seconds``."""
    PENDING_UNCLAIMED = "pending_unclaimed"
    """The run exists but no worker has picked it up: the worker is down."""
    RUNNING_TOO_LONG = "running_too_long"
    """The run has been open longer than the definition's ``max_runtime_seconds``."""
    FAILED = "failed"
    """The run failed, timed out, was terminated, or could not run."""
    MISSING = "missing"
    """No run at all: schedule paused or deleted, or the server could not act in time."""
    DELIVERY_WAITING = "delivery_waiting"
    """The run is fine but its report has not reached a sink past the threshold."""
    DELIVERY_DEAD = "delivery_dead"
    """The run is fine but a delivery of its report was parked as dead."""
    UNKNOWN = "unknown"
    """The pass could not see this definition (a visibility or describe call failed):
    never ``missing``; judged again by the next pass that sees it."""
    RUNNING = "running"
    """In progress, within its limits (not judged yet)."""
    DUE = "due"
    """Too recent to judge (within the tolerance), or buffered behind a running fire."""


class Severity(StrEnum):
    """How urgently a person must look."""

    PAGE = "page"
    """Act now: an unintended miss, a failure, a dead delivery, a paused/missing schedule."""
    NOTE = "note"
    """Read at the next working session: skips by policy, short lateness, slow delivery."""


#: Kinds that say a fire is not judged yet.
UNJUDGED = frozenset({FireKind.RUNNING, FireKind.DUE, FireKind.UNKNOWN})
#: Kinds that are never alerted (the fire is fine, or not judged yet).
QUIET = frozenset({FireKind.OK, FireKind.COVERED, FireKind.RUNNING, FireKind.DUE, FireKind.UNKNOWN})
#: Kinds that count as "ran ok" and close an open alert group.
RECOVERED_BY = frozenset({FireKind.OK})
#: Kinds that always page (an unintended miss, a failure, a dead delivery).
PAGE_KINDS = frozenset(
    {
        FireKind.PENDING_UNCLAIMED,
        FireKind.RUNNING_TOO_LONG,
        FireKind.FAILED,
        FireKind.MISSING,
        FireKind.DELIVERY_DEAD,
        FireKind.TOO_FAST,
        FireKind.NO_EVENTS,
    }
)
SETTLE_S = 5.0
"""Grace after the tolerance before a fire without a run is judged (server start-up lag)."""
UNRUN_GRACE_S = 60.0
"""How long after a pass first sees a fire without a run (and nothing later started) it
waits for the server before judging the fire missing."""


# --------------------------------------------------------------------------------------
# Observation (gathered by watchdog_observe)
# --------------------------------------------------------------------------------------


class RunSeen(BaseModel):
    """One ActivityRunWorkflow of a definition, as visibility and describe show it."""

    workflow_id: str
    nominal: datetime | None
    """``TemporalScheduledStartTime`` (None for manual runs)."""
    scheduled_for: datetime | None = None
    """``ScheduledFor``: the fire the report is for."""
    outcome: str | None = None
    """``RunOutcome`` once the run has decided."""
    status: str
    """Execution status, lower case: running, completed, failed, terminated, ..."""
    started_at: datetime
    """When the server created the run."""
    closed_at: datetime | None = None
    unclaimed_since: datetime | None = None
    """A workflow or activity task of this run waits for a worker since then."""
    failing: str | None = None
    """A step of this open run that keeps failing (its activity, attempt and last error),
    e.g. a note that cannot be written to a full disk."""
    lateness_s: float | None = None
    """From the run's result, for late runs."""
    covered_fires: list[datetime] = Field(default_factory=list)
    """From the run's result, for ``ran_as_latest`` runs."""
    task_queue: str | None = None
    """The run's workflow task queue (where a worker must poll for it to proceed)."""


class DeliverySeen(BaseModel):
    """One ReportDeliveryWorkflow of a run."""

    workflow_id: str
    run_id: str
    sink: str
    state: str
    """``DeliveryStatus``: pending, waiting, delivered, dead, given_up."""
    started_at: datetime


class ScheduleSeen(BaseModel):
    """The definition's schedule as the server has it."""

    exists: bool
    paused: bool = False
    overlap: str | None = None
    catchup_window_s: float | None = None
    up_to_date: bool = True
    """The note carries the fingerprint of the definition's desired schedule."""
    buffered: int = 0
    """Fires buffered behind a running one (BUFFER_ALL)."""
    missed_catchup_window: int = 0
    """Server counter: fires it could not start within the catchup window (lifetime)."""
    missed_catchup_before: int | None = None
    """The same counter at the previous pass (None: no previous pass saw it)."""
    buffer_dropped: int = 0
    """Server counter: starts dropped because the buffer of pending starts (1,000) was full."""
    buffer_dropped_before: int | None = None
    """The same counter at the previous pass (None: no previous pass saw it)."""
    next_fire: datetime | None = None
    since: datetime | None = None
    """Created or last changed: fires before this are not expected of this schedule."""
    fires_from: Literal["server", "local"] = "server"
    """Where the expected fires came from (local when the schedule is gone)."""


class DefinitionSeen(BaseModel):
    """Everything the watchdog knows about one definition in one pass."""

    activity_id: str
    name: str
    policy: str
    enabled: bool
    zone: str = "UTC"
    """The definition's time zone (times are shown in it)."""
    overlap: str
    """Desired overlap policy (from the definition)."""
    catchup_window_s: float
    """Desired catchup window."""
    tolerance_s: float
    """Lateness still on time (with :attr:`queue_allowance_s`)."""
    queue_allowance_s: float = 0.0
    """Part of the tolerance granted for the burst of definitions sharing a fire."""
    page_late_s: float
    max_runtime_s: float
    delivery_alert_s: float
    window_start: datetime
    expected_fires: list[datetime]
    runs: list[RunSeen] = Field(default_factory=list)
    deliveries: list[DeliverySeen] = Field(default_factory=list)
    schedule: ScheduleSeen
    recover_after: int = 1
    """Fires that must run ok, after the last problem, before an alert recovers."""
    alert_after: int = 1
    """Consecutive problem fires before a page."""
    pause_after: int | None = None
    """Failed fires in a row after which the watchdog pauses the schedule."""
    min_runtime_s: float | None = None
    """A completed run shorter than this is ``too_fast``."""
    paused_by_hand: list[tuple[datetime, datetime]] = Field(default_factory=list)
    """Stretches the journal shows the schedule was paused by hand (a sync unpaused it
    with no sync pause before): the cause of their fires that did not run."""
    unrun_grace_until: datetime | None = None
    """Until then, a fire without a run (and no later fire with one) is not judged yet:
    the server may just be back and about to act on it."""
    blind: str | None = None
    """Why the pass could not see this definition (its fires are ``unknown``)."""


# --------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------


class FireVerdict(BaseModel):
    """What happened to one expected fire, and why."""

    fire: datetime
    kind: FireKind
    severity: Severity | None = None
    """None for quiet kinds."""
    run_id: str | None = None
    lateness_s: float | None = None
    detail: str = ""


class DefinitionStatus(BaseModel):
    """One definition's verdicts and schedule health in one pass."""

    activity_id: str
    name: str
    policy: str
    enabled: bool
    zone: str = "UTC"
    verdicts: list[FireVerdict]
    health: list[str] = Field(default_factory=list)
    """Schedule problems: missing, paused while enabled, drift."""
    next_fire: datetime | None = None
    deliveries_waiting: int = 0
    deliveries_dead: int = 0
    recover_after: int = 1
    """Fires that must run ok, after the last problem, before an alert recovers."""
    alert_after: int = 1
    """Consecutive problem fires before a page (fewer are held: recorded, not paged)."""
    blind: str | None = None
    """Why the pass could not see this definition (its fires are ``unknown``)."""
    unclaimed_queues: dict[str, datetime] = Field(default_factory=dict)
    """Task queue -> since when a run of this definition waits on it for a worker
    (checked for pollers by the pass)."""

    def last_judged(self) -> FireVerdict | None:
        """The latest fire that has a verdict other than ``due``."""
        judged = [v for v in self.verdicts if v.kind != FireKind.DUE]
        return judged[-1] if judged else None


# --------------------------------------------------------------------------------------
# Alerts
# --------------------------------------------------------------------------------------


class Alert(BaseModel):
    """One alert (or recovery notice): what went wrong with which fires of a definition."""

    alert_id: str
    """Deterministic: definition + first fire + kind (``+recovered`` for the notice)."""
    activity_id: str
    activity_name: str
    kind: str
    """The first fire's kind, ``schedule_drift``, or ``recovered``."""
    severity: Severity
    fires: list[FireVerdict] = Field(default_factory=list)
    opened_at: datetime
    resolves: str | None = None
    """For a recovery notice: the alert it closes."""
    recovered_by: FireVerdict | None = None
    """For a recovery notice: the fire that ran ok."""
    detail: str = ""
    """For schedule drift: what differs."""
    muted: str | None = None
    """Why this alert is held back (a mute or maintenance window in force): it is open
    and recorded but not sent; the mute's end summary reports it."""
    incident: str | None = None
    """The incident (one alert for a shared cause) this alert joined instead of paging."""

    def recovery(
        self, now: datetime, detail: str = "", recovered_by: FireVerdict | None = None
    ) -> Alert:
        """The notice that closes this alert (``<id>-recovered``, kind ``recovered``)."""
        return Alert(
            alert_id=f"{self.alert_id}-recovered",
            activity_id=self.activity_id,
            activity_name=self.activity_name,
            kind="recovered",
            severity=Severity.NOTE,
            fires=self.fires,
            opened_at=now,
            resolves=self.alert_id,
            recovered_by=recovered_by,
            detail=detail,
        )

    @property
    def last_fire(self) -> datetime:
        """The latest fire listed (the opening time when none is)."""
        return max((f.fire for f in self.fires), default=self.opened_at)

    def title(self) -> str:
        """One line for the note heading and the event summary."""
        if self.kind == "recovered" and self.recovered_by is None:
            return f"{self.activity_name}: recovered"
        if self.kind == "recovered":
            return f"{self.activity_name}: recovered ({len(self.fires)} fires were affected)"
        if self.kind == "schedule_drift":
            return f"{self.activity_name}: schedule drift"
        if self.kind == "event_router":
            return f"event router: {self.detail} [{self.severity.value}]"
        if self.kind == "paused_after_failures":
            return f"{self.activity_name}: {self.detail} [{self.severity.value}]"
        if self.kind == "no_pollers":
            return f"task queue {self.activity_name}: {self.detail} [{self.severity.value}]"
        if self.kind == "watchdog_gap":
            return f"watchdog away: {self.detail} [{self.severity.value}]"
        if self.kind == "watchdog_blind":
            return f"watchdog blind: {self.detail} [{self.severity.value}]"
        if self.kind in ("sink_dead", "sink_waiting"):
            return f"sink {self.activity_name}: {self.detail} [{self.severity.value}]"
        if self.kind == "mute_ended":
            return f"{self.activity_name}: mute ended, {self.detail} [{self.severity.value}]"
        if not self.fires:
            return f"{self.activity_name}: {self.kind} [{self.severity.value}]"
        first = self.fires[0].fire.strftime("%Y-%m-%d %H:%M:%S UTC")
        more = f" and {len(self.fires) - 1} more" if len(self.fires) > 1 else ""
        return f"{self.activity_name}: {self.kind} at {first}{more} [{self.severity.value}]"


def alert_id(activity_name: str, kind: str, key: str) -> str:
    """``alert-<definition>-<kind>-<12 hex>``: the same inputs always give the same id."""
    digest = hashlib.sha256(f"{activity_name}|{kind}|{key}".encode()).hexdigest()[:12]
    return f"alert-{activity_name}-{kind.replace('_', '-')}-{digest}"


class MuteSpan(BaseModel):
    """A mute in force, as the passes saw it: what it held back so far."""

    since: datetime
    reason: str
    name: str
    """The definition, or ``everything``."""
    held: list[str] = Field(default_factory=list)
    """Titles of the alerts and notices held back."""
    held_ids: list[str] = Field(default_factory=list)
    """Ids of the alerts held back (still open ones are listed in the summary)."""


class WatchdogState(BaseModel):
    """What a pass hands to the next one (its result carries it)."""

    open_alerts: list[Alert] = Field(default_factory=list)
    accounted: dict[str, list[datetime]] = Field(default_factory=dict)
    """Definition id -> problem fires already in an alert (pruned to the look-back)."""
    drift_alerted: dict[str, str] = Field(default_factory=dict)
    """Definition id -> the drift already alerted (text)."""
    last_pass_at: datetime | None = None
    router_alert: str | None = None
    """Id of the open alert about the event router, if one is open."""
    sink_alerts: dict[str, str] = Field(default_factory=dict)
    """Sink name -> id of its open alert (one per sink and problem)."""
    unrun_since: dict[str, datetime] = Field(default_factory=dict)
    """Definition id -> when a pass first saw one of its fires without a run that the
    server may still act on (the grace counts from there)."""
    buffer_dropped: dict[str, int] = Field(default_factory=dict)
    """Definition id -> the server's buffer-dropped counter before the current outage."""
    blind_since: dict[str, datetime] = Field(default_factory=dict)
    """Definition id -> since when passes could not see it (while they cannot)."""
    blind_alert: str | None = None
    """Id of the open "watchdog blind" alert, if one is open."""
    counted_through: dict[str, datetime] = Field(default_factory=dict)
    """Definition id -> the last fire whose verdict was counted (every earlier fire too)."""
    event_watch_since: dict[str, datetime] = Field(default_factory=dict)
    """Event definition id -> when passes started expecting its events (a definition
    that never had a run is judged from there)."""
    queue_alerts: dict[str, str] = Field(default_factory=dict)
    """Task queue -> id of its open "no worker polls" incident."""
    mute_spans: dict[str, MuteSpan] = Field(default_factory=dict)
    """Mute key (definition id, or ``*``) -> the mute in force and what it held back."""
    missed_catchup: dict[str, int] = Field(default_factory=dict)
    """Definition id -> the server's missed-catchup counter at this pass (so the next pass
    reports how many this outage missed, not the schedule's lifetime count)."""


class Advance(BaseModel):
    """Result of :func:`advance`."""

    state: WatchdogState
    raised: list[Alert] = Field(default_factory=list)
    """New alerts to send."""
    updated: list[Alert] = Field(default_factory=list)
    """Open alerts that gained fires this pass (listed in status; not sent again)."""
    recovered: list[Alert] = Field(default_factory=list)
    """Notices to send: recoveries (page alerts only; note alerts close silently) and the
    summary of a mute that ended."""
    held: list[Alert] = Field(default_factory=list)
    """Alerts and notices a mute holds back this pass (recorded, not sent)."""
