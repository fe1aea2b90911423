"""The watchdog's judgement of sinks: every open delivery, whatever started its run (a
schedule, a person, an event, an alert), folded into one alert per sink and problem.

A sink that refuses for an hour makes many deliveries wait, one per run: that is one
problem, so it is one alert (a note while deliveries wait past their definition's
threshold, a page once one is dead), kept open while the problem lasts and closed by one
recovery notice in a later pass. Pure.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import BaseModel, Field

from activity_core.domain.constants import ALERT_DELIVERY_PREFIX
from activity_core.domain.watchdog import Advance, Alert, Severity, alert_id

SINK_ALERT_SUBJECT = "(sinks)"
"""``activity_id`` of the watchdog's alerts about sinks (``activity_name`` is the sink)."""
SINK_KINDS = ("sink_waiting", "sink_dead")
DEFAULT_ALERT_AFTER_S = 3600.0
"""Waiting threshold for deliveries of definitions the pass does not know (alerts' own)."""
ALERTS_LABEL = "watchdog alerts"
"""How a sink alert counts the deliveries of alerts (they carry the subject's name, a
definition's or a sink's, but are no run of it)."""


class OpenDelivery(BaseModel):
    """One running delivery that has not delivered (from visibility)."""

    workflow_id: str
    activity_id: str
    activity_name: str
    sink: str
    state: str
    """``pending``, ``waiting`` or ``dead``."""
    started_at: datetime

    @property
    def of_alert(self) -> bool:
        """A watchdog alert's delivery, not a run's."""
        return self.workflow_id.startswith(ALERT_DELIVERY_PREFIX)

    @property
    def label(self) -> str:
        """What a sink alert counts it under: its definition, or the watchdog's alerts."""
        return ALERTS_LABEL if self.of_alert else self.activity_name


class SinkProblem(BaseModel):
    """What is wrong at one sink now."""

    sink: str
    severity: Severity
    dead: dict[str, int] = Field(default_factory=dict)
    """Definition name (or ``watchdog alerts``) -> dead deliveries."""
    waiting: dict[str, int] = Field(default_factory=dict)
    """Definition name -> deliveries waiting past the definition's threshold."""
    oldest: datetime

    @property
    def kind(self) -> str:
        """``sink_dead`` (pages) or ``sink_waiting`` (a note)."""
        return "sink_dead" if self.dead else "sink_waiting"

    def describe(self, now: datetime) -> str:
        """One line: counts by state and definition, and the age of the oldest."""
        parts = []
        if self.dead:
            parts.append(f"{sum(self.dead.values())} dead ({_by_name(self.dead)})")
        if self.waiting:
            parts.append(f"{sum(self.waiting.values())} waiting ({_by_name(self.waiting)})")
        # Clocks of the server and this host differ a little: never "-0 s ago".
        age = max(0, round((now - self.oldest).total_seconds()))
        return f"{'; '.join(parts)}; oldest started {age} s ago"


def _by_name(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


def sink_problems(
    deliveries: list[OpenDelivery],
    thresholds: dict[str, float],
    now: datetime,
) -> dict[str, SinkProblem]:
    """Sink name -> its problem, for sinks with a dead delivery or one waiting longer than
    its definition's ``delivery_alert_after_seconds`` (``thresholds`` by definition id)."""
    dead: dict[str, Counter[str]] = {}
    waiting: dict[str, Counter[str]] = {}
    oldest: dict[str, datetime] = {}
    for d in deliveries:
        limit = thresholds.get(d.activity_id, DEFAULT_ALERT_AFTER_S)
        if d.state == "dead":
            dead.setdefault(d.sink, Counter())[d.label] += 1
        elif d.state in ("pending", "waiting") and (now - d.started_at).total_seconds() > limit:
            waiting.setdefault(d.sink, Counter())[d.label] += 1
        else:
            continue
        oldest[d.sink] = min(oldest.get(d.sink, d.started_at), d.started_at)
    return {
        sink: SinkProblem(
            sink=sink,
            severity=Severity.PAGE if sink in dead else Severity.NOTE,
            dead=dict(dead.get(sink, {})),
            waiting=dict(waiting.get(sink, {})),
            oldest=oldest[sink],
        )
        for sink in sorted(oldest)
    }


def advance_sinks(
    previous: dict[str, str],
    open_alerts: list[Alert],
    out: Advance,
    problems: dict[str, SinkProblem] | None,
    now: datetime,
) -> dict[str, str]:
    """Open, keep, escalate or close the sink alerts; returns sink -> open alert id.

    ``problems`` None: the pass did not look at sinks (its alerts stay as they are).
    A waiting note that turns dead is closed silently and a page opened (a new problem);
    a recovery notice goes out only from a later pass than the one that opened the alert.
    """
    current = {
        sink: alert
        for sink, aid in previous.items()
        if (alert := next((a for a in open_alerts if a.alert_id == aid), None)) is not None
    }
    if problems is None:
        return {sink: a.alert_id for sink, a in current.items()}
    kept: dict[str, str] = {}
    for sink, problem in problems.items():
        alert = current.pop(sink, None)
        detail = problem.describe(now)
        if alert is not None and alert.kind == problem.kind:
            alert.detail = detail
            if alert not in out.updated:
                out.updated.append(alert)
            kept[sink] = alert.alert_id
            continue
        if alert is not None:  # escalated from waiting to dead: the note is superseded
            open_alerts.remove(alert)
        new = Alert(
            alert_id=alert_id(sink, problem.kind, now.isoformat()),
            activity_id=SINK_ALERT_SUBJECT,
            activity_name=sink,
            kind=problem.kind,
            severity=problem.severity,
            opened_at=now,
            detail=detail,
        )
        open_alerts.append(new)
        out.raised.append(new)
        kept[sink] = new.alert_id
    for sink, alert in current.items():
        if alert.opened_at >= now:
            kept[sink] = alert.alert_id  # never open and close in the same pass
            continue
        open_alerts.remove(alert)
        out.recovered.append(
            alert.recovery(now, f"deliveries to {sink} are flowing again (was: {alert.detail})")
        )
    return kept


def per_definition(deliveries: list[OpenDelivery]) -> dict[str, Counter[str]]:
    """Definition id -> open deliveries of its runs by state (``status`` shows waiting and
    dead); alerts' deliveries are no run of the definition they are about."""
    out: dict[str, Counter[str]] = {}
    for d in deliveries:
        if d.of_alert:
            continue
        out.setdefault(d.activity_id, Counter())[d.state] += 1
    return out
