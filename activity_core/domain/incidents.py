"""Incidents by cause: one alert for a problem many definitions share, instead of one
page per definition. Today's causes: a task queue no worker polls (the definitions'
``pending_unclaimed`` alerts join it), a sink that is down (one alert per sink,
:mod:`activity_core.domain.sink_alerts`), the event router and the watchdog's own
sight (:mod:`activity_core.domain.judge`). Pure."""

from __future__ import annotations

from datetime import datetime

from activity_core.domain.watchdog import Advance, Alert, FireKind, Severity, alert_id

MIN_AFFECTED = 2
"""An incident opens when this many definitions share the cause (it stays open while
any is still affected)."""
QUEUE_PREFIX = "queue:"
"""``activity_id`` of a task queue's incident (``queue:<name>``)."""


def advance_queues(
    current: dict[str, str],
    open_alerts: list[Alert],
    out: Advance,
    problems: dict[str, list[str]] | None,
    names: dict[str, str],
    now: datetime,
    joined_before: set[str] | None = None,
) -> dict[str, str]:
    """Open, update or close one incident per task queue that no worker polls, and let
    the affected definitions' ``pending_unclaimed`` alerts join it instead of paging.

    Args:
        current: Task queue -> its open incident's id (from the previous pass).
        open_alerts: Every open alert (changed in place).
        out: This pass's result (joined alerts move from ``raised`` to ``held``; their
            recovery notices too: the incident's own recovery says it once).
        problems: Task queue -> ids of the definitions whose runs wait on it, for each
            queue with no poller now (None: queues were not checked; nothing changes).
        names: Definition id -> name.
        now: Pass time.
        joined_before: Ids of alerts that had joined an incident at the previous pass
            (their recovery notices stay quiet too).

    Returns:
        Task queue -> open incident id, after this pass.
    """
    if problems is None:
        return dict(current)
    kept: dict[str, str] = {}
    by_id = {a.alert_id: a for a in open_alerts}
    for queue, affected in sorted(problems.items()):
        listed = ", ".join(sorted(names.get(a, a) for a in affected))
        detail = (
            f"no worker polls it (down, or all busy); {len(affected)} definition(s) wait: {listed}"
        )
        incident = by_id.get(current.get(queue, ""))
        if incident is None and len(affected) < MIN_AFFECTED:
            continue  # one definition: its own pending_unclaimed alert says it all
        if incident is None:
            incident = Alert(
                alert_id=alert_id(f"{QUEUE_PREFIX}{queue}", "no_pollers", now.isoformat()),
                activity_id=f"{QUEUE_PREFIX}{queue}",
                activity_name=queue,
                kind="no_pollers",
                severity=Severity.PAGE,
                opened_at=now,
                detail=detail,
            )
            open_alerts.append(incident)
            out.raised.append(incident)
        else:
            incident.detail = detail
        kept[queue] = incident.alert_id
        for alert in open_alerts:
            if alert.activity_id in affected and alert.incident is None and _unclaimed(alert):
                alert.incident = incident.alert_id
                if alert in out.raised:
                    out.raised.remove(alert)
                    out.held.append(alert)
    for queue, was in current.items():
        if queue in kept:
            continue
        incident = by_id.get(was)
        if incident is not None:
            open_alerts.remove(incident)
            out.recovered.append(incident.recovery(now, f"a worker polls task queue {queue} again"))
    joined = {a.alert_id for a in open_alerts if a.incident is not None} | (joined_before or set())
    for notice in list(out.recovered):
        if notice.resolves in joined:
            out.recovered.remove(notice)
            out.held.append(notice)
    return kept


def _unclaimed(alert: Alert) -> bool:
    return alert.kind == FireKind.PENDING_UNCLAIMED.value
