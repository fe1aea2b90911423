"""Contracts of ReportDeliveryWorkflow, SinkMonitorWorkflow and their activities.

These shapes are recorded in workflow histories: add fields with defaults, never
rename or remove one (the replay tests hold old histories to this).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from activity_core.domain.sinks import DeliveryPolicy, DeliverySink, IssueSink, RemoteSink
from activity_core.domain.tasks import FiledTask, Task


class ProgressEvent(BaseModel):
    """Body sent to a remote sink (State Hub progress event or webhook)."""

    event_type: str
    """E.g. ``daily_digest``."""
    summary: str
    """One-line summary."""
    detail: dict[str, Any]
    """Always carries ``activity_core_run_id``; plus report markdown and data."""


class DeliveryState(StrEnum):
    """Search attribute ``DeliveryStatus``."""

    PENDING = "pending"
    WAITING = "waiting"
    DELIVERED = "delivered"
    DEAD = "dead"
    GIVEN_UP = "given_up"


class AttemptOutcome(StrEnum):
    """Classification of one delivery attempt."""

    DELIVERED = "delivered"
    """2xx."""
    DUPLICATE = "duplicate"
    """409: the sink already has this idempotency key; counts as delivered."""
    TRANSIENT = "transient"
    """Connection refused/reset, timeout, 408, 425, 429, 5xx but 501/505: try again later."""
    PERMANENT = "permanent"
    """Other 4xx, 501, 505 and 3xx: retrying will not help; park as dead."""


class DeliveryInput(BaseModel):
    """Input of ReportDeliveryWorkflow (stable across continue-as-new)."""

    run_id: str
    """``activity_core_run_id`` of the run that produced the report."""
    activity_id: str
    """Definition id."""
    activity_name: str
    """Definition name."""
    sink: DeliverySink
    """Where to deliver."""
    event: ProgressEvent | None = None
    """What to deliver to a report sink (None for an issue sink)."""
    policy: DeliveryPolicy = Field(default_factory=DeliveryPolicy)
    """Backoff schedule and horizon."""
    note_path: str | None = None
    """The working-memory note carrying the same report."""
    alert_after_seconds: float | None = None
    """The definition's ``watch.delivery_alert_after_seconds`` (shown in the Web UI; the
    watchdog alerts on it)."""
    activity_task_queue: str | None = None
    """Task queue for delivery activities; default ``task-execution-tq``."""
    carried: DeliveryProgress | None = None
    """Progress carried over continue-as-new; ``None`` on first start."""
    tasks: list[Task] = Field(default_factory=list)
    """What to file at an issue sink, one issue per task."""

    @property
    def idempotency_key(self) -> str:
        """Sent on every attempt so the sink can deduplicate."""
        return f"{self.run_id}:{self.sink.name}"


class DeliveryProgress(BaseModel):
    """All state of a delivery that survives continue-as-new."""

    state: DeliveryState = DeliveryState.PENDING
    """Current state."""
    attempts: int = 0
    """Attempts made so far (all episodes)."""
    episode_failures: int = 0
    """Consecutive failures since the episode started (drives the backoff index)."""
    episode_started_at: datetime | None = None
    """Start of the current episode; the horizon counts from here."""
    last_error: str | None = None
    """Last failure, human readable."""
    last_status_code: int | None = None
    """HTTP status of the last attempt, if any."""
    next_attempt_at: datetime | None = None
    """When the next automatic attempt is due (``None`` when not waiting)."""
    delivered_at: datetime | None = None
    """When it was delivered."""
    retry_requested: bool = False
    """A ``retry_now`` signal arrived and has not been acted on yet."""
    recovered_by: str | None = None
    """The recover whose ``retry_now`` that was (its summary note reports the attempt)."""
    give_up_requested: bool = False
    """A ``give_up`` signal arrived."""
    continued: int = 0
    """How many times this delivery has continued-as-new."""
    monitor_registered: bool = False
    """This delivery is registered as waiting with its sink's recovery monitor."""
    not_before: datetime | None = None
    """The sink's last ``Retry-After``, as a time: nothing wakes the delivery earlier."""
    filed: dict[str, FiledTask] = Field(default_factory=dict)
    """Issue sink: tasks issue-core accepted, by key (never sent again)."""
    rejected: dict[str, str] = Field(default_factory=dict)
    """Issue sink: tasks issue-core refused, by key, with why (sent again on ``retry_now``)."""


class DeliveryStatus(BaseModel):
    """Answer of the ``status`` query and result of ReportDeliveryWorkflow."""

    run_id: str
    """``activity_core_run_id``."""
    sink: str
    """Sink name."""
    state: DeliveryState
    """Current state."""
    attempts: int
    """Attempts made so far."""
    last_error: str | None
    """Last failure."""
    next_attempt_at: datetime | None
    """Next automatic attempt (UTC)."""
    delivered_at: datetime | None
    """When delivered (UTC)."""
    items_total: int | None = None
    """Issue sink: tasks in the batch."""
    items_done: int | None = None
    """Issue sink: tasks filed so far (new or already there)."""


class DeliveryAttemptInput(BaseModel):
    """Input of the ``deliver`` activity."""

    sink: RemoteSink
    """Where to deliver."""
    event: ProgressEvent
    """What to deliver."""
    idempotency_key: str
    """``<run id>:<sink>``."""
    attempt: int
    """1-based attempt number (sent as a header for the sink's logs)."""
    fail_visibly: bool = False
    """Raise a failed attempt as a non-retryable error carrying this result (the workflow
    asks for it when it can read it back; the Web UI then shows the attempt failed)."""


class DeliveryAttemptResult(BaseModel):
    """Result of one ``deliver`` activity call (never raised: classified)."""

    outcome: AttemptOutcome
    """What happened."""
    status_code: int | None = None
    """HTTP status, if a response arrived."""
    error: str | None = None
    """Human-readable failure (no secrets)."""
    retry_after_seconds: float | None = None
    """The sink's ``Retry-After``, if sent."""
    warning: str | None = None
    """Delivered, but something an operator should know (``duplicate_on_first_attempt``)."""
    filed: list[FiledTask] = Field(default_factory=list)
    """Issue sink: tasks accepted by this attempt."""
    rejected: dict[str, str] = Field(default_factory=dict)
    """Issue sink: tasks refused by this attempt, with why."""


class FileTasksInput(BaseModel):
    """Input of the ``file_tasks`` activity: the tasks of a batch not accepted yet."""

    sink: IssueSink
    """Where to file (backend ``issue_core``)."""
    run_id: str
    """The run whose report carries the tasks."""
    activity_id: str
    """Definition id (part of each task's idempotency key)."""
    activity_name: str
    """Definition name."""
    tasks: list[Task]
    """Tasks still to file, in order."""
    attempt: int
    """1-based attempt number of the delivery (sent as a header)."""
    fail_visibly: bool = False
    """As :attr:`DeliveryAttemptInput.fail_visibly`."""


_INSTANT = TypeAdapter(datetime)


def signal_time(value: datetime | str) -> datetime:
    """A time received in a signal, as an aware datetime.

    The SDK decodes a signal's arguments by the handler's types only when the sender
    passes every parameter; a sender that leaves an optional one out (an older worker,
    ``temporal workflow signal --input``) delivers ISO text instead. Text without a zone
    is UTC. Raises ``ValueError`` for anything that is not a time.
    """
    moment = _INSTANT.validate_python(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class MonitorInput(BaseModel):
    """Input of SinkMonitorWorkflow (stable across continue-as-new)."""

    sink: DeliverySink
    """The sink watched (its URL decides which health endpoint is probed)."""
    activity_task_queue: str | None = None
    """Task queue for the monitor's activities."""
    waiting: dict[str, datetime] = Field(default_factory=dict)
    """Delivery workflow id -> when it started waiting (carried over continue-as-new)."""
    not_before: dict[str, datetime] = Field(default_factory=dict)
    """Delivery workflow id -> its sink's Retry-After as a time (carried over)."""
    probe_backoff_seconds: list[float] = Field(default_factory=lambda: [2.0, 4.0, 8.0, 10.0])
    """Waits between health probes while the sink is down (the last one repeats)."""
    sink_up: bool | None = None
    """The sink's state as the last execution saw it (carried over continue-as-new; None:
    not probed yet)."""


class RegisterWaitingInput(BaseModel):
    """Input of the ``register_waiting`` activity (signal-with-start of the monitor)."""

    monitor_id: str
    """Workflow id of the sink's monitor."""
    delivery_id: str
    """The delivery that started waiting."""
    since: datetime
    """When it started waiting."""
    monitor: MonitorInput
    """Start input, used when no monitor runs yet."""
    workflow_task_queue: str
    """Task queue the monitor workflow runs on (the delivery's own)."""
    not_before: datetime | None = None
    """The sink asked not to be called before this (``Retry-After``): no wake-up earlier."""


class WakeInput(BaseModel):
    """Input of the ``wake_deliveries`` activity."""

    delivery_ids: list[str]
    """Deliveries to signal ``retry_now``, in order (oldest first)."""
    rate_per_second: float | None = None
    """Pace; default is the worker's ``ACTCORE_WAKE_RATE``."""
    recovered_by: str | None = None
    """A recover's id: sent with each ``retry_now`` (its summary note reports them)."""


DeliveryInput.model_rebuild()


def fire_of(event: ProgressEvent | None) -> datetime | None:
    """The run's nominal fire (``scheduled_for``) an event carries, if it parses."""
    raw = event.detail.get("scheduled_for") if event is not None else None
    if not isinstance(raw, str):
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None
