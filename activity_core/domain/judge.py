"""The missed-fire watchdog's judgement. Pure; no I/O, so a watchdog pass and
``actcore status`` judge with the same code.

1. :func:`~activity_core.domain.classify.classify` turns what the server says (expected
   fires, runs, deliveries, schedule) into one :class:`FireVerdict` per fire.
2. :func:`advance` compares the verdicts with the alerts already raised (the previous
   pass's :class:`WatchdogState`) and returns the new state plus the alerts and recovery
   notices to send. Each problem fire is alerted once; consecutive problems of one
   definition go into one alert until the definition next runs ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from activity_core.domain.events import ROUTER_ALERT_SUBJECT
from activity_core.domain.incidents import advance_queues
from activity_core.domain.mute import hold_muted
from activity_core.domain.sink_alerts import SinkProblem, advance_sinks
from activity_core.domain.watchdog import (
    RECOVERED_BY,
    Advance,
    Alert,
    DefinitionStatus,
    FireKind,
    FireVerdict,
    Severity,
    WatchdogState,
    alert_id,
)

_RANK = {Severity.NOTE: 0, Severity.PAGE: 1}
_GOOD = frozenset({*RECOVERED_BY, FireKind.LATE, FireKind.COVERED})
"""Fires that ran: they end a streak of problem fires (``watch.alert_after``)."""


def _same_fire(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 1.0


def _recovery(
    verdicts: list[FireVerdict], last_problem: datetime, needed: int = 1
) -> FireVerdict | None:
    """The ``needed``-th fire after ``last_problem`` that ran ok, with nothing in progress
    before it and no fire after ``last_problem`` still unjudged (None: not recovered yet).

    A fire still ``due`` after the ok one counts too: back from an outage, the fire the
    server skipped behind its catch-up run is judged a pass or two after that run, and it
    belongs to the same alert, not to a second one after a recovery notice.
    """
    later = sorted((v for v in verdicts if v.fire > last_problem), key=lambda v: v.fire)
    if any(v.kind == FireKind.DUE for v in later):
        return None
    ok = 0
    for v in later:
        if v.kind == FireKind.RUNNING:
            return None
        if v.kind in RECOVERED_BY:
            ok += 1
            if ok >= needed:
                return v
    return None


def advance(
    state: WatchdogState,
    statuses: list[DefinitionStatus],
    now: datetime,
    window_start: dict[str, datetime] | None = None,
    *,
    complete: bool = True,
    router_problem: str | None = None,
    sink_problems: dict[str, SinkProblem] | None = None,
    blind_problem: str | None = None,
    muted: dict[str, str] | None = None,
    names: dict[str, str] | None = None,
    queue_problems: dict[str, list[str]] | None = None,
) -> Advance:
    """Fold one pass's verdicts into the alert state.

    Args:
        state: The previous pass's state.
        statuses: This pass's verdicts per definition.
        now: Pass time.
        window_start: Definition id -> start of its look-back (older accounted fires are
            forgotten).
        complete: ``statuses`` covers every definition (alerts of definitions not in it
            are closed silently: the definition was removed or disabled).
        router_problem: What is wrong with the event router now (None: nothing). One page
            is raised when a problem starts and one recovery notice sent when it ends,
            however its numbers change in between.
        sink_problems: Sink name -> what is wrong there now, over every open delivery
            (None: sinks were not looked at; their alerts stay as they are).
        blind_problem: What the watchdog has been unable to see for too long (None:
            nothing); one page while it lasts, one recovery notice when it ends.
        muted: Mute key (definition id, or ``*`` for everything) -> why its pages are
            held back now (None: mutes were not read; spans stay as they are). Held
            alerts stay open; each mute that ended sends one summary.
        names: Definition id -> name, for the mute summaries and incidents.
        queue_problems: Task queue -> ids of the definitions whose runs wait on it, for
            each queue no worker polls (None: not checked). One incident per queue; the
            definitions' ``pending_unclaimed`` alerts join it instead of paging.
    """
    open_alerts = [a.model_copy(deep=True) for a in state.open_alerts]
    accounted = {k: list(v) for k, v in state.accounted.items()}
    drift = dict(state.drift_alerted)
    out = Advance(state=WatchdogState())
    seen_ids = {s.activity_id for s in statuses}

    for status in statuses:
        aid = status.activity_id
        done = accounted.setdefault(aid, [])
        if window_start and aid in window_start:
            done[:] = [f for f in done if f >= window_start[aid]]
        held: list[FireVerdict] = []  # page fires short of alert_after in a row
        streak = 0
        for verdict in status.verdicts:
            if verdict.kind in _GOOD:
                streak = 0
                held.clear()
            elif verdict.severity == Severity.PAGE:
                streak += 1
            if verdict.severity is None or any(_same_fire(verdict.fire, f) for f in done):
                continue
            entry = verdict.model_copy()
            # Join the definition's open alert unless that would hide a page in a note.
            group = next(
                (
                    a
                    for a in open_alerts
                    if a.activity_id == aid
                    and _RANK[a.severity] >= _RANK[verdict.severity]
                    # An alert inside an incident takes only more of the same: a failure
                    # must not hide in it.
                    and (a.incident is None or verdict.kind == FireKind.PENDING_UNCLAIMED)
                ),
                None,
            )
            if group is not None:
                done.append(verdict.fire)
                group.fires.append(entry)
                if group not in out.raised and group not in out.updated:
                    out.updated.append(group)
                continue
            if verdict.severity == Severity.PAGE and streak < status.alert_after:
                held.append(entry)  # not accounted: judged again until the streak ends
                continue
            fires = [*held, entry] if verdict.severity == Severity.PAGE else [entry]
            held.clear()
            done.extend(f.fire for f in fires)
            first = fires[0]
            alert = Alert(
                alert_id=alert_id(status.name, first.kind.value, first.fire.isoformat()),
                activity_id=aid,
                activity_name=status.name,
                kind=first.kind.value,
                severity=verdict.severity,
                fires=fires,
                opened_at=now,
            )
            open_alerts.append(alert)
            out.raised.append(alert)
        # Recovery: a fire after the group's last problem ran ok, and every fire between
        # them has been judged (a fire still due may yet join the group).
        for alert in [a for a in open_alerts if a.activity_id == aid]:
            if alert.opened_at >= now:
                continue  # a page and its recovery never leave in the same pass
            ok = _recovery(status.verdicts, alert.last_fire, status.recover_after)
            if ok is None:
                continue
            open_alerts.remove(alert)
            if alert.severity == Severity.PAGE:
                out.recovered.append(alert.recovery(now, recovered_by=ok))
        # Drift: once per distinct drift text.
        drift_text = "; ".join(h for h in status.health if h.startswith("drift"))
        if drift_text and drift.get(aid) != drift_text:
            drift[aid] = drift_text
            out.raised.append(
                Alert(
                    alert_id=alert_id(status.name, "schedule_drift", drift_text),
                    activity_id=aid,
                    activity_name=status.name,
                    kind="schedule_drift",
                    severity=Severity.NOTE,
                    opened_at=now,
                    detail=drift_text,
                )
            )
        elif not drift_text:
            drift.pop(aid, None)

    router_alert = _advance_cause(
        _ROUTER, state.router_alert, open_alerts, out, router_problem, now, complete
    )
    blind_alert = _advance_cause(
        _BLIND, state.blind_alert, open_alerts, out, blind_problem, now, complete
    )
    sink_alerts = advance_sinks(state.sink_alerts, open_alerts, out, sink_problems, now)
    joined_before = {a.alert_id for a in state.open_alerts if a.incident is not None}
    queue_alerts = advance_queues(
        state.queue_alerts,
        open_alerts,
        out,
        queue_problems if complete else None,
        names or {},
        now,
        joined_before,
    )
    spans = state.mute_spans
    if muted is not None and complete:
        spans = hold_muted(out, open_alerts, state.mute_spans, muted, names or {}, now)
    if complete:
        keep = {router_alert, blind_alert, *sink_alerts.values(), *queue_alerts.values()}
        open_alerts = [a for a in open_alerts if a.activity_id in seen_ids or a.alert_id in keep]
        accounted = {k: v for k, v in accounted.items() if k in seen_ids}
    out.state = WatchdogState(
        open_alerts=open_alerts,
        accounted=accounted,
        drift_alerted=drift,
        last_pass_at=now,
        router_alert=router_alert,
        blind_alert=blind_alert,
        blind_since=dict(state.blind_since),
        mute_spans=spans,
        queue_alerts=queue_alerts,
        sink_alerts=sink_alerts,
        missed_catchup=dict(state.missed_catchup),
        buffer_dropped=dict(state.buffer_dropped),
    )
    return out


@dataclass(frozen=True)
class _Cause:
    """A problem outside any one definition: one page while it lasts."""

    subject: str
    kind: str
    recovered: str
    """The recovery notice's text (``{was}``: what the problem was)."""


_ROUTER = _Cause(
    ROUTER_ALERT_SUBJECT, "event_router", "the event router is keeping up again (was: {was})"
)
_BLIND = _Cause(
    "watchdog", "watchdog_blind", "the watchdog sees every definition again (was: {was})"
)


def _advance_cause(
    cause: _Cause,
    current_id: str | None,
    open_alerts: list[Alert],
    out: Advance,
    problem: str | None,
    now: datetime,
    complete: bool,
) -> str | None:
    """Open, keep or close the alert of one cause; returns the id of the one left open."""
    current = next((a for a in open_alerts if a.alert_id == current_id), None)
    if problem is not None:
        if current is not None:
            current.detail = problem
            return current.alert_id
        alert = Alert(
            alert_id=alert_id(cause.subject, cause.kind, now.isoformat()),
            activity_id=cause.subject,
            activity_name=cause.subject,
            kind=cause.kind,
            severity=Severity.PAGE,
            opened_at=now,
            detail=problem,
        )
        open_alerts.append(alert)
        out.raised.append(alert)
        return alert.alert_id
    if current is None:
        return None
    if not complete:  # a pass over some definitions only says nothing about the cause
        return current.alert_id
    open_alerts.remove(current)
    out.recovered.append(current.recovery(now, cause.recovered.format(was=current.detail)))
    return None
