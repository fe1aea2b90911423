"""The missed-fire watchdog's judgement. Pure; no I/O, so a watchdog pass and
``actcore status`` judge with the same code.

1. :func:`classify` turns what the server says (expected fires, runs, deliveries,
   schedule) into one :class:`FireVerdict` per fire.
2. :func:`advance` compares the verdicts with the alerts already raised (the previous
   pass's :class:`WatchdogState`) and returns the new state plus the alerts and recovery
   notices to send. Each problem fire is alerted once; consecutive problems of one
   definition go into one alert until the definition next runs ``ok``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from activity_core.domain.events import ROUTER_ALERT_SUBJECT
from activity_core.domain.run import RunOutcome
from activity_core.domain.sink_alerts import SinkProblem, advance_sinks
from activity_core.domain.watchdog import (
    PAGE_KINDS,
    QUIET,
    RECOVERED_BY,
    SETTLE_S,
    Advance,
    Alert,
    DefinitionSeen,
    DefinitionStatus,
    FireKind,
    FireVerdict,
    RunSeen,
    Severity,
    WatchdogState,
    alert_id,
)

AWAITING_SERVER = "not started yet; the server may still act on it (just back from an outage?)"
"""Detail of a fire left unjudged for the grace (the next pass keeps the grace's start)."""
OVERLAP_SLACK_S = 2.0
"""The scheduler learns of a run's end about a second late; fires that close count as overlap."""


def severity_of(kind: FireKind, lateness_s: float | None, page_late_s: float) -> Severity | None:
    """Page for unintended misses and failures; note for policy skips and short lateness."""
    if kind in QUIET:
        return None
    if kind in PAGE_KINDS:
        return Severity.PAGE
    if kind == FireKind.LATE and (lateness_s or 0.0) > page_late_s:
        return Severity.PAGE
    return Severity.NOTE


def _closed_ok(run: RunSeen) -> bool:
    return run.status == "completed"


def _match_run(fire: datetime, runs: list[RunSeen]) -> RunSeen | None:
    for run in runs:
        if run.nominal is not None and abs((run.nominal - fire).total_seconds()) < 1.0:
            return run
    return None


def _covering_run(fire: datetime, runs: list[RunSeen]) -> RunSeen | None:
    """A ``ran_as_latest`` run whose covered fires include ``fire``."""
    for run in runs:
        if run.outcome != RunOutcome.RAN_AS_LATEST.value:
            continue
        if any(abs((c - fire).total_seconds()) < 1.0 for c in run.covered_fires):
            return run
        if (
            not run.covered_fires
            and run.nominal is not None
            and run.scheduled_for is not None
            and run.nominal <= fire <= run.scheduled_for
        ):
            return run
    return None


def _blocking_run(fire: datetime, runs: list[RunSeen], now: datetime) -> RunSeen | None:
    """A run of an earlier fire that was still open when ``fire`` came (overlap)."""
    for run in runs:
        if run.nominal is None or run.nominal >= fire:
            continue
        end = run.closed_at or now
        if run.started_at <= fire and end >= fire - timedelta(seconds=OVERLAP_SLACK_S):
            return run
    return None


def _catchup_overlap(fire: datetime, runs: list[RunSeen], window_s: float) -> RunSeen | None:
    """The catch-up run of an earlier fire that the server started *after* ``fire``, while
    ``fire`` was still within its catchup window: back from an outage, the server started
    the earlier fire and skipped this one as an overlap (SKIP) behind it."""
    for run in runs:
        if run.nominal is None or run.nominal >= fire:
            continue
        if fire < run.started_at <= fire + timedelta(seconds=window_s + OVERLAP_SLACK_S):
            return run
    return None


def _server_may_act(
    seen: DefinitionSeen, fire: datetime, runs: list[RunSeen], now: datetime
) -> str:
    """Why a fire without a run is not judged yet ("" when it can be judged now).

    Back from an outage, the server's scheduler takes a few seconds to act, then starts
    (or buffers) what its policy says; a ``catchup_latest`` run covers the fires it stands
    for only once it completes. So a fire is not missing while a run of a later fire is
    still open, nor, before any later fire has a run, within the grace after the watchdog
    first saw it unstarted.
    """
    s = seen.schedule
    if not s.exists or s.paused:
        return ""  # the cause is known: judge now
    later = sorted((r for r in runs if r.nominal is not None and r.nominal > fire), key=_nominal)
    if seen.policy == "catchup_latest" and later and later[0].status == "running":
        return "the next fire's run is still open (as the latest due fire it may cover this one)"
    if not later and seen.unrun_grace_until is not None and now < seen.unrun_grace_until:
        return AWAITING_SERVER
    return ""


def _run_verdict(seen: DefinitionSeen, fire: datetime, run: RunSeen, now: datetime) -> FireVerdict:
    rid = run.workflow_id
    if run.status == "running":
        if run.unclaimed_since is not None:
            waited = (now - run.unclaimed_since).total_seconds()
            if waited > seen.tolerance_s:
                return FireVerdict(
                    fire=fire,
                    kind=FireKind.PENDING_UNCLAIMED,
                    run_id=rid,
                    detail=f"no worker has picked the run up for {waited:.0f} s",
                )
        age = (now - run.started_at).total_seconds()
        if age > seen.max_runtime_s:
            return FireVerdict(
                fire=fire,
                kind=FireKind.RUNNING_TOO_LONG,
                run_id=rid,
                detail=f"open for {age:.0f} s (max_runtime_seconds {seen.max_runtime_s:.0f})",
            )
        return FireVerdict(fire=fire, kind=FireKind.RUNNING, run_id=rid, detail="in progress")
    if not _closed_ok(run):
        return FireVerdict(fire=fire, kind=FireKind.FAILED, run_id=rid, detail=f"run {run.status}")
    outcome = run.outcome or ""
    if outcome == RunOutcome.COULD_NOT_RUN.value:
        return FireVerdict(
            fire=fire, kind=FireKind.FAILED, run_id=rid, detail="could not run (see its note)"
        )
    if outcome == RunOutcome.SKIPPED_MISSED.value:
        return FireVerdict(
            fire=fire,
            kind=FireKind.SKIPPED_BY_POLICY,
            run_id=rid,
            lateness_s=run.lateness_s,
            detail=f"started beyond the catchup window; skipped by policy {seen.policy}",
        )
    if outcome == RunOutcome.SUPERSEDED.value:
        return FireVerdict(
            fire=fire, kind=FireKind.COVERED, run_id=rid, detail="a later fire has its own run"
        )
    if outcome == RunOutcome.RAN_AS_LATEST.value:
        covering = run.scheduled_for.isoformat() if run.scheduled_for else "a later fire"
        return FireVerdict(
            fire=fire, kind=FireKind.COVERED, run_id=rid, detail=f"ran as the latest ({covering})"
        )
    if outcome == RunOutcome.RAN_LATE.value:
        late = run.lateness_s
        return FireVerdict(
            fire=fire,
            kind=FireKind.LATE,
            run_id=rid,
            lateness_s=late,
            detail=f"started {late:.0f} s late" if late is not None else "started late",
        )
    return FireVerdict(fire=fire, kind=FireKind.OK, run_id=rid, lateness_s=run.lateness_s)


def _counted(now: int, before: int | None, what: str) -> str:
    """``; the server counts N <what> since the previous pass`` ("" when none)."""
    n = now - (before or 0)
    if n <= 0:
        return ""
    when = "in the schedule's lifetime" if before is None else "since the previous pass"
    return f"; the server counts {n} {what} {when}"


def _missing_cause(seen: DefinitionSeen, fire: datetime) -> str:
    s = seen.schedule
    if not s.exists:
        return "schedule deleted (run `actcore sync`)"
    if s.paused:
        return "schedule paused"
    for lo, until in seen.paused_by_hand:
        if lo <= fire < until:
            return (
                f"schedule paused by hand until {until:%Y-%m-%d %H:%M:%S} UTC, when "
                "`actcore sync` unpaused it (the definition is enabled)"
            )
    dropped = _counted(s.buffer_dropped, s.buffer_dropped_before, "starts dropped")
    if dropped:
        return (
            "dropped by the server: its buffer of pending starts (at most 1,000) was full"
            f"{dropped}; replay them with `temporal schedule backfill` (see "
            "docs/misfire-policies.md)"
        )
    missed = _counted(
        s.missed_catchup_window, s.missed_catchup_before, "fires missed past the catchup window"
    )
    return (
        "not started by the server (down or unable to act within the catchup window of "
        f"{seen.catchup_window_s:.0f} s){missed}"
    )


def classify(seen: DefinitionSeen, now: datetime) -> DefinitionStatus:
    """One verdict per expected fire of a definition, plus its schedule health."""
    scheduled = sorted((r for r in seen.runs if r.nominal is not None), key=_nominal)
    verdicts: list[FireVerdict] = []
    for fire in sorted(seen.expected_fires):
        if fire > now:
            continue
        run = _match_run(fire, scheduled)
        if run is not None:
            # Deliveries are judged per sink (activity_core.domain.sink_alerts), not per
            # fire: one sink outage is one alert, whatever started the runs.
            verdict = _run_verdict(seen, fire, run, now)
        elif (cover := _covering_run(fire, scheduled)) is not None:
            verdict = FireVerdict(
                fire=fire,
                kind=FireKind.COVERED,
                run_id=cover.workflow_id,
                detail="covered by a catchup_latest run",
            )
        elif (now - fire).total_seconds() <= seen.tolerance_s + SETTLE_S:
            verdict = FireVerdict(fire=fire, kind=FireKind.DUE, detail="just due")
        elif (block := _blocking_run(fire, scheduled, now)) is not None:
            verdict = _overlap_verdict(seen, fire, block, now)
        elif seen.overlap == "SKIP" and (
            catchup := _catchup_overlap(fire, scheduled, seen.catchup_window_s)
        ):
            verdict = FireVerdict(
                fire=fire,
                kind=FireKind.SKIPPED_BY_POLICY,
                run_id=catchup.workflow_id,
                detail="not started: back from an outage, the server was running the catch-up "
                f"of the fire at {_nominal(catchup):%H:%M:%S} UTC (overlap policy SKIP)",
            )
        elif why := _server_may_act(seen, fire, scheduled, now):
            verdict = FireVerdict(fire=fire, kind=FireKind.DUE, detail=why)
        else:
            verdict = FireVerdict(
                fire=fire, kind=FireKind.MISSING, detail=_missing_cause(seen, fire)
            )
        verdict.severity = severity_of(verdict.kind, verdict.lateness_s, seen.page_late_s)
        verdicts.append(verdict)
    return DefinitionStatus(
        activity_id=seen.activity_id,
        name=seen.name,
        policy=seen.policy,
        enabled=seen.enabled,
        verdicts=verdicts,
        health=schedule_health(seen),
        next_fire=seen.schedule.next_fire,
        deliveries_waiting=sum(1 for d in seen.deliveries if d.state in ("pending", "waiting")),
        deliveries_dead=sum(1 for d in seen.deliveries if d.state == "dead"),
        recover_after=seen.recover_after,
    )


def _nominal(run: RunSeen) -> datetime:
    assert run.nominal is not None
    return run.nominal


def _overlap_verdict(
    seen: DefinitionSeen, fire: datetime, block: RunSeen, now: datetime
) -> FireVerdict:
    rid = block.workflow_id
    if block.status == "running" and block.unclaimed_since is not None:
        return FireVerdict(
            fire=fire,
            kind=FireKind.PENDING_UNCLAIMED,
            run_id=rid,
            detail="not started: the run of an earlier fire still waits for a worker",
        )
    if seen.overlap == "BUFFER_ALL" and block.status == "running":
        return FireVerdict(fire=fire, kind=FireKind.DUE, run_id=rid, detail="buffered")
    if seen.overlap == "BUFFER_ALL" and seen.schedule.buffered:
        return FireVerdict(fire=fire, kind=FireKind.DUE, detail="buffered")
    return FireVerdict(
        fire=fire,
        kind=FireKind.SKIPPED_BY_POLICY,
        run_id=rid,
        detail="not started: the run of an earlier fire was still open (overlap policy SKIP)",
    )


def schedule_health(seen: DefinitionSeen) -> list[str]:
    """Schedule problems: missing, paused while enabled (or not while disabled), drift."""
    s = seen.schedule
    if not s.exists:
        return ["schedule missing: run `actcore sync`"]
    out: list[str] = []
    if s.paused and seen.enabled:
        out.append("schedule paused but the definition is enabled")
    if not s.paused and not seen.enabled:
        out.append("schedule running but the definition is disabled")
    if s.overlap is not None and s.overlap != seen.overlap:
        out.append(f"drift: overlap policy {s.overlap}, definition wants {seen.overlap}")
    if s.catchup_window_s is not None and abs(s.catchup_window_s - seen.catchup_window_s) > 0.5:
        out.append(
            f"drift: catchup window {s.catchup_window_s:.0f} s, "
            f"definition wants {seen.catchup_window_s:.0f} s"
        )
    if not s.up_to_date:
        # Pausing by hand also replaces the note: shown, but not alerted as drift.
        out.append("unsynced: the schedule's note lacks this definition's sync fingerprint")
    return out


_RANK = {Severity.NOTE: 0, Severity.PAGE: 1}


def _same_fire(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 1.0


def _recovery(
    verdicts: list[FireVerdict], last_problem: datetime, needed: int = 1
) -> FireVerdict | None:
    """The ``needed``-th fire after ``last_problem`` that ran ok, with nothing unjudged
    before it (None: not recovered yet)."""
    ok = 0
    for v in sorted(verdicts, key=lambda v: v.fire):
        if v.fire <= last_problem:
            continue
        if v.kind in (FireKind.DUE, FireKind.RUNNING):
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
        for verdict in status.verdicts:
            if verdict.severity is None or any(_same_fire(verdict.fire, f) for f in done):
                continue
            done.append(verdict.fire)
            entry = verdict.model_copy()
            # Join the definition's open alert unless that would hide a page in a note.
            group = next(
                (
                    a
                    for a in open_alerts
                    if a.activity_id == aid and _RANK[a.severity] >= _RANK[verdict.severity]
                ),
                None,
            )
            if group is not None:
                group.fires.append(entry)
                if group not in out.raised and group not in out.updated:
                    out.updated.append(group)
                continue
            alert = Alert(
                alert_id=alert_id(status.name, verdict.kind.value, verdict.fire.isoformat()),
                activity_id=aid,
                activity_name=status.name,
                kind=verdict.kind.value,
                severity=verdict.severity,
                fires=[entry],
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

    router_alert = _advance_router(state, open_alerts, out, router_problem, now, complete)
    sink_alerts = advance_sinks(state.sink_alerts, open_alerts, out, sink_problems, now)
    if complete:
        keep = {router_alert, *sink_alerts.values()}
        open_alerts = [a for a in open_alerts if a.activity_id in seen_ids or a.alert_id in keep]
        accounted = {k: v for k, v in accounted.items() if k in seen_ids}
    out.state = WatchdogState(
        open_alerts=open_alerts,
        accounted=accounted,
        drift_alerted=drift,
        last_pass_at=now,
        router_alert=router_alert,
        sink_alerts=sink_alerts,
        missed_catchup=dict(state.missed_catchup),
        buffer_dropped=dict(state.buffer_dropped),
    )
    return out


def _advance_router(
    state: WatchdogState,
    open_alerts: list[Alert],
    out: Advance,
    problem: str | None,
    now: datetime,
    complete: bool,
) -> str | None:
    """Open, keep or close the router alert; returns the id of the one left open."""
    current = next((a for a in open_alerts if a.alert_id == state.router_alert), None)
    if problem is not None:
        if current is not None:
            current.detail = problem
            return current.alert_id
        alert = Alert(
            alert_id=alert_id(ROUTER_ALERT_SUBJECT, "event_router", now.isoformat()),
            activity_id=ROUTER_ALERT_SUBJECT,
            activity_name=ROUTER_ALERT_SUBJECT,
            kind="event_router",
            severity=Severity.PAGE,
            opened_at=now,
            detail=problem,
        )
        open_alerts.append(alert)
        out.raised.append(alert)
        return alert.alert_id
    if current is None:
        return None
    if not complete:  # a pass over some definitions only says nothing about the router
        return current.alert_id
    open_alerts.remove(current)
    out.recovered.append(
        current.recovery(now, f"the event router is keeping up again (was: {current.detail})")
    )
    return None
