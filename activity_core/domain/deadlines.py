"""Deadlines for event-triggered definitions (``watch.expect_within_seconds``): no
matching event for that long is a ``no_events`` verdict. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from activity_core.domain.definition import ActivityDefinition, EventTrigger
from activity_core.domain.watchdog import (
    DefinitionStatus,
    FireKind,
    FireVerdict,
    Severity,
)


def expects_events(d: ActivityDefinition) -> bool:
    """Whether the watchdog holds ``d`` to a deadline for its events."""
    return (
        d.enabled
        and isinstance(d.trigger_config, EventTrigger)
        and d.watch.expect_within_seconds is not None
    )


def _what(trigger: EventTrigger) -> str:
    shown = " and ".join(f"{k}={v}" for k, v in sorted(trigger.filters.items()))
    return trigger.event_type + (f" with {shown}" if shown else "")


def event_status(
    d: ActivityDefinition, last_run: datetime | None, watched_since: datetime, now: datetime
) -> DefinitionStatus:
    """One verdict for an event definition: ``no_events`` at the deadline that passed,
    else ``ok`` at its latest run (which closes an open ``no_events`` alert).

    Args:
        d: The definition (event trigger, ``expect_within_seconds`` set).
        last_run: When its latest run started (None: none is known).
        watched_since: When passes started expecting its events.
        now: Pass time.
    """
    trig = d.trigger_config
    assert isinstance(trig, EventTrigger) and d.watch.expect_within_seconds is not None
    within = timedelta(seconds=d.watch.expect_within_seconds)
    since = max(last_run, watched_since) if last_run is not None else watched_since
    verdicts: list[FireVerdict] = []
    if now - since > within:
        seen = f"since {since:%Y-%m-%d %H:%M} UTC" if last_run else "since the watchdog began"
        verdicts.append(
            FireVerdict(
                fire=since + within,
                kind=FireKind.NO_EVENTS,
                severity=Severity.PAGE,
                detail=f"no {_what(trig)} {seen} ({_span(within)} expected at most)",
            )
        )
    if last_run is not None:  # an event came: it closes an earlier no_events alert
        verdicts.insert(0, FireVerdict(fire=last_run, kind=FireKind.OK, detail="an event ran"))
    return DefinitionStatus(
        activity_id=str(d.id),
        name=d.name,
        policy="event",
        enabled=d.enabled,
        zone=d.zone,
        verdicts=verdicts,
        recover_after=d.watch.recover_after,
    )


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
