"""The missed-fire watchdog's judgement: what happened to each expected fire, and which
alerts that calls for. Pure; no I/O (the observation is gathered by
:mod:`activity_core.watchdog_observe`), so workflow code and the CLI share it.

A pass looks at every enabled scheduled definition:

1. :func:`classify` turns what the server says (expected fires, runs, deliveries,
   schedule) into one :class:`FireVerdict` per fire.
2. :func:`advance` compares the verdicts with the alerts already raised (the previous
   pass's :class:`WatchdogState`) and returns the new state plus the alerts and recovery
   notices to send. Each problem fire is alerted once; consecutive problems of one
   definition go into one alert until the definition next runs ``ok``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from activity_core.models import DeliveryPolicy, ProgressEvent, RemoteSink, RunOutcome


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


#: Kinds that are never alerted (the fire is fine, or not judged yet).
QUIET = frozenset({FireKind.OK, FireKind.COVERED, FireKind.RUNNING, FireKind.DUE})
#: Kinds that count as "ran ok" and close an open alert group.
RECOVERED_BY = frozenset({FireKind.OK})
_PAGE_KINDS = frozenset(
    {
        FireKind.PENDING_UNCLAIMED,
        FireKind.RUNNING_TOO_LONG,
        FireKind.FAILED,
        FireKind.MISSING,
        FireKind.DELIVERY_DEAD,
    }
)
SETTLE_S = 5.0
"""Grace after the tolerance before a fire without a run is judged (server start-up lag)."""
OVERLAP_SLACK_S = 2.0
"""The scheduler learns of a run's end about a second late; fires that close count as overlap."""


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
    lateness_s: float | None = None
    """From the run's result, for late runs."""
    covered_fires: list[datetime] = Field(default_factory=list)
    """From the run's result, for ``ran_as_latest`` runs."""


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
    """Server counter: fires it could not start within the catchup window."""
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
    overlap: str
    """Desired overlap policy (from the definition)."""
    catchup_window_s: float
    """Desired catchup window."""
    tolerance_s: float
    page_late_s: float
    max_runtime_s: float
    delivery_alert_s: float
    window_start: datetime
    expected_fires: list[datetime]
    runs: list[RunSeen] = Field(default_factory=list)
    deliveries: list[DeliverySeen] = Field(default_factory=list)
    schedule: ScheduleSeen


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
    verdicts: list[FireVerdict]
    health: list[str] = Field(default_factory=list)
    """Schedule problems: missing, paused while enabled, drift."""
    next_fire: datetime | None = None
    deliveries_waiting: int = 0

    def last_judged(self) -> FireVerdict | None:
        """The latest fire that has a verdict other than ``due``."""
        judged = [v for v in self.verdicts if v.kind != FireKind.DUE]
        return judged[-1] if judged else None


def severity_of(kind: FireKind, lateness_s: float | None, page_late_s: float) -> Severity | None:
    """Page for unintended misses and failures; note for policy skips and short lateness."""
    if kind in QUIET:
        return None
    if kind in _PAGE_KINDS:
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


def _delivery_verdict(
    seen: DefinitionSeen, verdict: FireVerdict, now: datetime
) -> FireVerdict | None:
    """A delivery problem of an otherwise fine run, if any."""
    mine = [d for d in seen.deliveries if d.run_id == verdict.run_id]
    dead = [d for d in mine if d.state == "dead"]
    if dead:
        sinks = ", ".join(sorted(d.sink for d in dead))
        return verdict.model_copy(
            update={"kind": FireKind.DELIVERY_DEAD, "detail": f"delivery to {sinks} is dead"}
        )
    slow = [
        d
        for d in mine
        if d.state in ("pending", "waiting")
        and (now - d.started_at).total_seconds() > seen.delivery_alert_s
    ]
    if slow:
        oldest = min(d.started_at for d in slow)
        sinks = ", ".join(sorted(d.sink for d in slow))
        return verdict.model_copy(
            update={
                "kind": FireKind.DELIVERY_WAITING,
                "detail": f"report not delivered to {sinks} for "
                f"{(now - oldest).total_seconds():.0f} s (retrying durably)",
            }
        )
    return None


def _missing_cause(seen: DefinitionSeen) -> str:
    s = seen.schedule
    if not s.exists:
        return "schedule deleted (run `actcore sync`)"
    if s.paused:
        return "schedule paused"
    extra = (
        f"; the server counts {s.missed_catchup_window} fires missed past the catchup window"
        if s.missed_catchup_window
        else ""
    )
    return (
        "not started by the server (down or unable to act within the catchup window of "
        f"{seen.catchup_window_s:.0f} s){extra}"
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
            verdict = _run_verdict(seen, fire, run, now)
            if verdict.kind in (FireKind.OK, FireKind.LATE, FireKind.COVERED):
                verdict = _delivery_verdict(seen, verdict, now) or verdict
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
        else:
            verdict = FireVerdict(fire=fire, kind=FireKind.MISSING, detail=_missing_cause(seen))
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

    @property
    def last_fire(self) -> datetime:
        """The latest fire listed (the opening time when none is)."""
        return max((f.fire for f in self.fires), default=self.opened_at)

    def title(self) -> str:
        """One line for the note heading and the event summary."""
        if self.kind == "recovered":
            return f"{self.activity_name}: recovered ({len(self.fires)} fires were affected)"
        if self.kind == "schedule_drift":
            return f"{self.activity_name}: schedule drift"
        first = self.fires[0].fire.strftime("%Y-%m-%d %H:%M:%S UTC")
        more = f" and {len(self.fires) - 1} more" if len(self.fires) > 1 else ""
        return f"{self.activity_name}: {self.kind} at {first}{more} [{self.severity.value}]"


def alert_id(activity_name: str, kind: str, key: str) -> str:
    """``alert-<definition>-<kind>-<12 hex>``: the same inputs always give the same id."""
    digest = hashlib.sha256(f"{activity_name}|{kind}|{key}".encode()).hexdigest()[:12]
    return f"alert-{activity_name}-{kind.replace('_', '-')}-{digest}"


class WatchdogState(BaseModel):
    """What a pass hands to the next one (its result carries it)."""

    open_alerts: list[Alert] = Field(default_factory=list)
    accounted: dict[str, list[datetime]] = Field(default_factory=dict)
    """Definition id -> problem fires already in an alert (pruned to the look-back)."""
    drift_alerted: dict[str, str] = Field(default_factory=dict)
    """Definition id -> the drift already alerted (text)."""
    last_pass_at: datetime | None = None


class Advance(BaseModel):
    """Result of :func:`advance`."""

    state: WatchdogState
    raised: list[Alert] = Field(default_factory=list)
    """New alerts to send."""
    updated: list[Alert] = Field(default_factory=list)
    """Open alerts that gained fires this pass (listed in status; not sent again)."""
    recovered: list[Alert] = Field(default_factory=list)
    """Recovery notices to send (page alerts only); note alerts close silently."""


_RANK = {Severity.NOTE: 0, Severity.PAGE: 1}


def _same_fire(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 1.0


def _recovery(verdicts: list[FireVerdict], last_problem: datetime) -> FireVerdict | None:
    """The first fire after ``last_problem`` that ran ok with nothing unjudged before it."""
    for v in sorted(verdicts, key=lambda v: v.fire):
        if v.fire <= last_problem:
            continue
        if v.kind in (FireKind.DUE, FireKind.RUNNING):
            return None
        if v.kind in RECOVERED_BY:
            return v
    return None


def advance(
    state: WatchdogState,
    statuses: list[DefinitionStatus],
    now: datetime,
    window_start: dict[str, datetime] | None = None,
    *,
    complete: bool = True,
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
            ok = _recovery(status.verdicts, alert.last_fire)
            if ok is None:
                continue
            open_alerts.remove(alert)
            if alert.severity == Severity.PAGE:
                out.recovered.append(
                    Alert(
                        alert_id=f"{alert.alert_id}-recovered",
                        activity_id=aid,
                        activity_name=alert.activity_name,
                        kind="recovered",
                        severity=Severity.NOTE,
                        fires=alert.fires,
                        opened_at=now,
                        resolves=alert.alert_id,
                        recovered_by=ok,
                    )
                )
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

    if complete:
        open_alerts = [a for a in open_alerts if a.activity_id in seen_ids]
        accounted = {k: v for k, v in accounted.items() if k in seen_ids}
    out.state = WatchdogState(
        open_alerts=open_alerts, accounted=accounted, drift_alerted=drift, last_pass_at=now
    )
    return out


# --------------------------------------------------------------------------------------
# Workflow and activity I/O
# --------------------------------------------------------------------------------------


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
    last: FireVerdict | None = None
    """The latest judged fire."""
    counts: dict[str, int] = Field(default_factory=dict)
    """Fires in the look-back by kind."""
    problems: list[FireVerdict] = Field(default_factory=list)
    """Fires with a severity, oldest first."""
    health: list[str] = Field(default_factory=list)
    next_fire: datetime | None = None
    deliveries_waiting: int = 0

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
            last=status.last_judged(),
            counts=counts,
            problems=[v for v in status.verdicts if v.severity is not None],
            health=status.health,
            next_fire=status.next_fire,
            deliveries_waiting=status.deliveries_waiting,
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


# --------------------------------------------------------------------------------------
# Rendering (notes and events)
# --------------------------------------------------------------------------------------

RUNBOOK = "docs/runbook.md#alerting-and-failure-modes"
_WHAT_TO_DO: dict[str, str] = {
    "pending_unclaimed": "No worker is polling: check `actcore dev status` or the worker "
    "deployment; runs start as soon as a worker is back (their misfire policy then applies).",
    "running_too_long": "Open the run in the Web UI: a pending activity shows where it is stuck.",
    "failed": "Open the run in the Web UI (or its note for `could not run`), fix the cause, "
    "then `actcore trigger NAME` if the report is still wanted.",
    "missing": "Check the schedule (`temporal schedule describe --schedule-id ...`): unpause "
    "it or run `actcore sync`; if the server was down, its catchup window was shorter than "
    "the outage. `actcore trigger NAME` runs the job now.",
    "delivery_dead": "`actcore deliveries list --status dead`, fix the sink, then "
    "`actcore deliveries retry --all`.",
    "delivery_waiting": "The report is safe in working memory and is being retried; "
    "`actcore deliveries list --status waiting` shows why.",
    "late": "The worker or server was slow or down around fire time; nothing was lost.",
    "skipped_by_policy": "The misfire policy chose not to run these fires; "
    "`actcore trigger NAME` runs the job now if needed.",
    "schedule_drift": "Run `actcore sync` to put the schedule back as the definition says.",
}


def alert_markdown(alert: Alert) -> str:
    """Body of an alert note (or recovery notice)."""
    lines: list[str] = []
    if alert.kind == "recovered":
        assert alert.recovered_by is not None
        lines.append(
            f"`{alert.activity_name}` ran ok again for the fire at "
            f"**{alert.recovered_by.fire.isoformat()}** (run `{alert.recovered_by.run_id}`). "
            f"This closes alert `{alert.resolves}`, which covered:"
        )
    elif alert.kind == "schedule_drift":
        lines.append(f"The schedule of `{alert.activity_name}` differs: {alert.detail}.")
    else:
        lines.append(
            f"Severity **{alert.severity.value}**. Fires of `{alert.activity_name}` "
            "that did not run as expected:"
        )
    if alert.fires:
        lines.append("")
        lines.append("| fire (UTC) | what happened | run | why |")
        lines.append("| --- | --- | --- | --- |")
        for f in alert.fires:
            run = f"`{f.run_id}`" if f.run_id else "-"
            lines.append(f"| {f.fire.isoformat()} | {f.kind.value} | {run} | {f.detail} |")
    todo = _WHAT_TO_DO.get(alert.kind)
    if todo:
        lines += ["", f"**What to do:** {todo}"]
    lines += ["", f"- alert id: `{alert.alert_id}`", f"- runbook: {RUNBOOK}"]
    return "\n".join(lines) + "\n"


def alert_event(alert: Alert, note_path: str | None) -> ProgressEvent:
    """The ``activity_alert`` event sent to State Hub and webhook sinks."""
    return ProgressEvent(
        event_type="activity_alert",
        summary=alert.title(),
        detail={
            "activity_core_run_id": alert.alert_id,
            "alert_id": alert.alert_id,
            "alert_kind": alert.kind,
            "severity": alert.severity.value,
            "activity_id": alert.activity_id,
            "activity_name": alert.activity_name,
            "resolves": alert.resolves,
            "fires": [f.model_dump(mode="json") for f in alert.fires],
            "detail": alert.detail,
            "note_path": note_path,
            "report_markdown": alert_markdown(alert),
            "runbook": RUNBOOK,
        },
    )
