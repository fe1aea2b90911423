"""``actcore status``: one line per definition, judged live exactly as the watchdog does.

The verdicts are computed now (same code as a watchdog pass) and folded into the state
of the last completed pass, so the open alerts shown include problems the watchdog has
not alerted yet. Exit code 1 when any ``page`` alert is open or the watchdog is stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import Client

from activities.watchdog_judge import judge, last_pass
from activity_core.catalog import Catalog
from activity_core.domain import (
    ActivityDefinition,
    Alert,
    DefinitionSummary,
    EventTrigger,
    RunOutcome,
    Severity,
    WatchdogState,
)
from activity_core.domain.backfill import is_backfill_run
from activity_core.domain.ledger import RunRecord
from activity_core.domain.objective import Objective
from activity_core.domain.run import SUCCESS_OUTCOMES
from activity_core.domain.schedule_spec import is_scheduled
from activity_core.domain.service_level import WINDOW, Budget, budget
from activity_core.settings import Settings
from activity_core.store import Ledger
from activity_core.store.errors import STORE_ERRORS

STALE_AFTER_PASSES = 3
"""The watchdog counts as stale after this many missed pass intervals."""


@dataclass
class StatusReport:
    """What ``actcore status`` prints."""

    at: datetime
    last_pass_at: datetime | None
    interval_s: int
    summaries: list[DefinitionSummary]
    open_alerts: list[Alert]
    unraised: list[str] = field(default_factory=list)
    """Ids of open alerts the watchdog has not sent yet (it will on its next pass)."""
    recorded: dict[str, RunRecord] = field(default_factory=dict)
    """Definition id -> its latest run in the ledger (read first: it outlives retention)."""
    ledger: str = "off"
    """Where the ledger was read (the database URL without password), or why not."""
    others: list[ActivityDefinition] = field(default_factory=list)
    """The event and manual definitions (no fire to judge: their latest run answers)."""
    degraded: str | None = None
    """Why the definitions did not come from the registry (None: they did)."""
    live: bool = True
    """The verdicts were judged now (False: they are the last pass's)."""
    budgets: dict[str, Budget] = field(default_factory=dict)
    """Definition id -> its objective's error budget over 30 days (objectives only)."""

    @property
    def watchdog_stale(self) -> bool:
        """No completed pass for several intervals (the schedule or its worker is down)."""
        if self.interval_s <= 0 or self.last_pass_at is None:
            return False
        limit = timedelta(seconds=STALE_AFTER_PASSES * self.interval_s)
        return self.at - self.last_pass_at > limit

    def pages(self) -> list[Alert]:
        """Open page alerts that page: not those a mute holds back."""
        return [a for a in self.open_alerts if a.severity == Severity.PAGE and not a.muted]

    def exit_code(self) -> int:
        """1 when something pages (an open page alert, or a stale watchdog), else 0."""
        return 1 if self.pages() or self.watchdog_stale else 0

    def as_json(self) -> dict[str, Any]:
        """Machine-readable form of the report."""
        return {
            "at": self.at.isoformat(),
            "judged": "now" if self.live else "last pass",
            "watchdog": {
                "last_pass_at": self.last_pass_at.isoformat() if self.last_pass_at else None,
                "interval_seconds": self.interval_s,
                "stale": self.watchdog_stale,
            },
            "definitions": [
                {
                    **s.model_dump(mode="json", exclude={"problems"}),
                    "open_alerts": [
                        a.alert_id for a in self.open_alerts if a.activity_id == s.activity_id
                    ],
                    "last_recorded_run": (
                        self.recorded[s.activity_id].model_dump(mode="json")
                        if s.activity_id in self.recorded
                        else None
                    ),
                    "service_level": _budget_json(self.budgets.get(s.activity_id)),
                }
                for s in self.summaries
            ],
            "on_demand": [
                {
                    "activity_id": str(d.id),
                    "name": d.name,
                    "trigger": d.trigger_config.trigger_type,
                    "enabled": d.enabled,
                    "verdict": recorded_verdict(self.recorded.get(str(d.id)), scheduled=False),
                    "last_recorded_run": (
                        self.recorded[str(d.id)].model_dump(mode="json")
                        if str(d.id) in self.recorded
                        else None
                    ),
                }
                for d in self.others
            ],
            "ledger": self.ledger,
            "degraded": self.degraded,
            "open_alerts": [
                {**a.model_dump(mode="json"), "sent": a.alert_id not in self.unraised}
                for a in self.open_alerts
            ],
            "exit_code": self.exit_code(),
        }

    def render(self) -> str:
        """Lines for people."""
        out = [self._watchdog_line(), f"ledger: {self.ledger}"]
        if self.degraded:
            out.append(f"definitions: {self.degraded}")
        for s in self.summaries:
            out.append(self._line(s))
            out += [f"    ! {h}" for h in s.health]
        for d in self.others:
            out.append(self._other(d))
        if self.open_alerts:
            out.append("")
            out.append("open alerts:")
            for a in self.open_alerts:
                sent = "" if a.alert_id not in self.unraised else " (not sent yet)"
                title = a.title().removesuffix(f" [{a.severity.value}]")  # said once, in front
                held = f" (held: {a.muted})" if a.muted else ""
                out.append(f"  [{a.severity.value}] {title}{sent}{held}")
                out.append(f"         id {a.alert_id}")
        return "\n".join(out)

    def _watchdog_line(self) -> str:
        if self.last_pass_at is None:
            return "watchdog: no completed pass yet (verdicts below are computed now)"
        ago = int((self.at - self.last_pass_at).total_seconds())
        line = f"watchdog: last pass {self.last_pass_at:%Y-%m-%d %H:%M:%S} UTC ({ago} s ago)"
        if self.watchdog_stale:
            line += (
                f" STALE: more than {STALE_AFTER_PASSES} intervals of {self.interval_s} s; "
                "is a worker polling watchdog-tq?"
            )
        if not self.live:
            line += "; verdicts below are that pass's (`--live` judges now)"
        return line

    def _recorded(self, s: DefinitionSummary) -> str:
        r = self.recorded.get(s.activity_id)
        if r is None:
            return "ledger: no run recorded"
        when = local_time(r.scheduled_for, s.zone) if r.scheduled_for else "?"
        return f"ledger: {when} {r.state}" + (f"/{r.outcome}" if r.outcome else "")

    def _line(self, s: DefinitionSummary) -> str:
        """Two lines under 100 columns: the definition, then what became of it."""
        head = f"{s.name} ({s.policy}, {s.zone})"
        if not s.enabled:
            return f"{head}: disabled"
        last = s.last
        if last is None:
            row = self.recorded.get(s.activity_id)
            what = (
                "last: no fire judged yet"
                if row is None
                else f"last (ledger) {local_time(row.scheduled_for or row.updated_at, s.zone)} "
                f"{recorded_verdict(row, scheduled=True)}"
            )
        else:
            what = f"last {local_time(last.fire, s.zone)} {last.kind.value}"
            if is_backfill_run(last.run_id):
                what += " (by a backfill)"
            elif last.lateness_s:
                what += f" ({last.lateness_s:.0f} s late)"
        nxt = f"next {local_time(s.next_fire, s.zone)}" if s.next_fire else "next -"
        mine = [a for a in self.open_alerts if a.activity_id == s.activity_id]
        pages = sum(1 for a in mine if a.severity == Severity.PAGE)
        alerts = f"alerts {pages} page, {len(mine) - pages} note" if mine else "alerts none"
        deliveries = f"deliveries waiting {s.deliveries_waiting}, dead {s.deliveries_dead}"
        muted = f"\n    muted: {s.muted}" if s.muted else ""
        if s.activity_id in self.budgets:
            muted += f"\n    {self.budgets[s.activity_id].describe()}"
        return (
            f"{head}\n    {what} · {nxt} · {alerts}\n    {deliveries} · {self._recorded(s)}{muted}"
        )

    def _other(self, d: ActivityDefinition) -> str:
        """An event or manual definition: nothing is due, the latest run answers."""
        trig = d.trigger_config
        kind = f"event {trig.event_type}" if isinstance(trig, EventTrigger) else "manual"
        head = f"{d.name} ({kind}, {d.zone})"
        if not d.enabled:
            return f"{head}: disabled"
        row = self.recorded.get(str(d.id))
        mine = [a for a in self.open_alerts if a.activity_id == str(d.id)]
        alerts = f"alerts {len(mine)}" if mine else "alerts none"
        if row is None:
            return f"{head}\n    on demand · no run recorded · {alerts}"
        when = local_time(row.fired_at or row.updated_at, d.zone)
        return (
            f"{head}\n    on demand · last run {when} {recorded_verdict(row, scheduled=False)} "
            f"({row.run_id}) · {alerts}"
        )


def recorded_verdict(row: RunRecord | None, *, scheduled: bool) -> str:
    """The verdict of a definition's latest ledger run: what answers when no fire was
    judged in the look-back (the run is past Temporal's retention, or the definition is
    fired by events or by hand). The words are the watchdog's."""
    if row is None:
        return "not judged yet" if scheduled else "never run"
    if row.state == "running":
        return "running"
    outcome = row.outcome or ""
    if row.state == "completed" and outcome in {o.value for o in SUCCESS_OUTCOMES}:
        return "late" if outcome == RunOutcome.RAN_LATE.value else "ok"
    if row.state == "completed" and outcome in (
        RunOutcome.SKIPPED_MISSED.value,
        RunOutcome.SUPERSEDED.value,
    ):
        return "skipped_by_policy"
    if row.state == "completed" and outcome == RunOutcome.SKIPPED_TOO_LATE.value:
        return "skipped_too_late"
    return "failed"


def local_time(at: datetime, zone: str) -> str:
    """``2026-11-24 07:00 CET``: a time in the definition's zone, the zone named (seconds
    only when there are some)."""
    local = at.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M" + (":%S" if local.second else "") + " %Z")


def _budget_json(b: Budget | None) -> dict[str, Any] | None:
    if b is None:
        return None
    return {
        "objective_ratio": b.objective.target,
        "within_seconds": b.objective.within.total_seconds(),
        "good": b.good,
        "judged": b.total,
        "ratio": b.ratio,
        "budget_left": b.left,
        "window_days": 30,
    }


async def objective_budgets(
    ledger: Ledger | None, definitions: list[ActivityDefinition], now: datetime
) -> dict[str, Budget]:
    """Each objective's error budget over 30 days, from the ledger (none without one)."""
    if ledger is None or not definitions:
        return {}
    out: dict[str, Budget] = {}
    try:
        for d in definitions:
            assert d.watch.objective is not None
            runs = await ledger.runs(activity_id=str(d.id), since=now - WINDOW, limit=5000)
            deliveries = await ledger.deliveries_of([r.run_id for r in runs])
            out[str(d.id)] = budget(Objective.parse(d.watch.objective), runs, deliveries, now)
    except STORE_ERRORS:
        return out
    return out


async def _recorded(ledger: Ledger | None, ids: list[str]) -> tuple[dict[str, RunRecord], str]:
    if ledger is None:
        return {}, "off"
    try:
        latest = await ledger.latest_runs(ids)
    except STORE_ERRORS as exc:
        return {}, f"unavailable ({type(exc).__name__}); verdicts below come from Temporal"
    return latest, ledger.where


async def status_report(
    client: Client,
    settings: Settings,
    names: list[str] | None = None,
    ledger: Ledger | None = None,
    catalog: Catalog | None = None,
    *,
    live: bool = False,
) -> StatusReport:
    """Every (or the named) scheduled definition's verdicts, with each one's latest run
    from the ledger. ``catalog``: the definitions in force (default: over the ledger's
    store).

    Without ``names`` the verdicts are the last completed pass's (a handful of reads at
    any scale); ``live``, a name, or no pass yet judges now."""
    catalog = catalog or Catalog(settings, ledger.store if ledger is not None else None)
    previous = await last_pass(client)
    view = await catalog.view()
    if previous is not None and not live and not names:
        # The last pass plus the ledger: a few reads whatever the number of definitions.
        scheduled = {str(d.id) for d in view.definitions if is_scheduled(d)}
        summaries = [s for s in previous.summaries if s.activity_id in scheduled]
        open_alerts, unraised, now = previous.state.open_alerts, [], datetime.now(UTC)
    else:
        state = previous.state if previous is not None else WatchdogState()
        plan = await judge(
            client,
            settings,
            names=names or [],
            lookback_seconds=None,
            state=state,
            catalog=catalog,
        )
        summaries, now = plan.summaries, plan.now
        open_alerts = plan.advance.state.open_alerts
        unraised = [a.alert_id for a in plan.advance.raised]
    others = [d for d in view.definitions if not is_scheduled(d) and (not names or d.name in names)]
    wanted = {s.activity_id for s in summaries} | {str(d.id) for d in others}
    recorded, where = await _recorded(ledger, sorted(wanted))
    aimed = [d for d in view.definitions if d.watch.objective and str(d.id) in wanted]
    return StatusReport(
        budgets=await objective_budgets(ledger, aimed, now),
        at=now,
        last_pass_at=previous.at if previous is not None else None,
        interval_s=settings.watchdog_interval_seconds,
        summaries=summaries,
        # Alerts about sinks and the router concern every definition: shown unless names
        # narrow the report.
        open_alerts=[a for a in open_alerts if a.activity_id in wanted or not names],
        unraised=unraised,
        recorded=recorded,
        ledger=where,
        others=others,
        degraded=view.degraded,
        live=previous is None or live or bool(names),
    )
