"""The watchdog's workflow and activity inputs and results: what a pass is asked, what
its observe activity hands back, and what the next pass reads. Pure; no I/O."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from activity_core.domain.sinks import DeliveryPolicy, RemoteSink
from activity_core.domain.watchdog import (
    Advance,
    Alert,
    DefinitionStatus,
    FireVerdict,
    Severity,
    WatchdogState,
)


class WatchdogInput(BaseModel):
    """Input of MissedFireWatchdogWorkflow (the schedule passes the defaults)."""

    names: list[str] = Field(default_factory=list)
    """Only these definitions (default: every enabled scheduled definition)."""
    lookback_seconds: float | None = None
    """Shortest look-back; default ``ACTCORE_WATCHDOG_LOOKBACK_SECONDS``."""


class ObserveInput(BaseModel):
    """Input of the ``watchdog_observe`` activity."""

    names: list[str] = Field(default_factory=list)
    lookback_seconds: float | None = None
    pass_id: str
    """The pass's workflow id (excluded when looking for the previous pass)."""


class DefinitionSummary(BaseModel):
    """One definition's line in a pass result and in ``actcore status``."""

    activity_id: str
    name: str
    policy: str
    enabled: bool
    zone: str = "UTC"
    last: FireVerdict | None = None
    """The latest judged fire."""
    counts: dict[str, int] = Field(default_factory=dict)
    """Fires in the look-back by kind."""
    problems: list[FireVerdict] = Field(default_factory=list)
    """Fires with a severity, oldest first."""
    health: list[str] = Field(default_factory=list)
    next_fire: datetime | None = None
    deliveries_waiting: int = 0
    deliveries_dead: int = 0
    """Open deliveries of the definition's runs, whatever started them."""
    muted: str | None = None
    """Why the definition's pages are held back now (a mute or maintenance window)."""

    @classmethod
    def of(cls, status: DefinitionStatus) -> DefinitionSummary:
        """Summarise a status (drops quiet verdicts other than the last one)."""
        counts: dict[str, int] = {}
        for v in status.verdicts:
            counts[v.kind.value] = counts.get(v.kind.value, 0) + 1
        return cls(
            activity_id=status.activity_id,
            name=status.name,
            policy=status.policy,
            enabled=status.enabled,
            zone=status.zone,
            last=status.last_judged(),
            counts=counts,
            problems=[v for v in status.verdicts if v.severity is not None],
            health=status.health,
            next_fire=status.next_fire,
            deliveries_waiting=status.deliveries_waiting,
            deliveries_dead=status.deliveries_dead,
        )


class AlertSinks(BaseModel):
    """Where alerts go beyond the working-memory note (from ``alerts:`` settings)."""

    sinks: list[RemoteSink] = Field(default_factory=list)
    policy: DeliveryPolicy = Field(default_factory=DeliveryPolicy)


class WatchdogPlan(BaseModel):
    """Result of ``watchdog_observe``: verdicts, the new state, what to send."""

    now: datetime
    summaries: list[DefinitionSummary]
    advance: Advance
    alerts: AlertSinks
    verdicts: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Definition name -> verdict -> fires judged for the first time in this pass (for
    ``activity_core_fire_verdicts_total``)."""
    pauses: dict[str, str] = Field(default_factory=dict)
    """Schedule id -> the note to pause it with (``watch.pause_after`` reached)."""


class WatchdogPassResult(BaseModel):
    """Result of MissedFireWatchdogWorkflow; the next pass reads its ``state``."""

    at: datetime
    state: WatchdogState
    summaries: list[DefinitionSummary]
    raised: list[str] = Field(default_factory=list)
    """Ids of alerts raised by this pass."""
    recovered: list[str] = Field(default_factory=list)
    """Ids of alerts this pass closed with a recovery notice."""
    pinged: bool | None = None
    """Dead-man ping: True sent, False failed, None not configured."""

    def open_pages(self) -> list[Alert]:
        """Open page-severity alerts after this pass."""
        return [a for a in self.state.open_alerts if a.severity == Severity.PAGE]


class PingInput(BaseModel):
    """Input of the ``watchdog_ping`` activity (the URL is read by the worker)."""

    summary: str
