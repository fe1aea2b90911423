"""The status board's view: one row per definition from the last watchdog pass, the
ledger and the registry, so the page costs a few reads and no judging."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from temporalio.client import Client

from activities.watchdog_judge import fire_verdicts, last_pass
from activity_core.catalog import Catalog
from activity_core.domain import Alert, DefinitionSummary, DeliveryRecord, RunRecord, Severity
from activity_core.domain import search_attributes as sa
from activity_core.domain.alert_text import runbook_section, what_to_do
from activity_core.domain.backfill import DEFAULT_ONLY, PlanItem, plan_items
from activity_core.domain.definition import CronTrigger, IntervalTrigger
from activity_core.domain.misfire import largest_gap_seconds
from activity_core.domain.schedule_spec import describe_trigger, is_scheduled
from activity_core.domain.service_level import Budget
from activity_core.services.status import STALE_AFTER_PASSES, objective_budgets, recorded_verdict
from activity_core.settings import Settings
from activity_core.store import Ledger
from activity_core.store.errors import STORE_ERRORS

VERDICT_TONE = {
    "ok": "good",
    "covered": "good",
    "running": "info",
    "due": "info",
    "late": "warn",
    "skipped_by_policy": "warn",
    "delivery_waiting": "warn",
    "pending_unclaimed": "bad",
    "running_too_long": "bad",
    "failed": "bad",
    "missing": "bad",
    "delivery_dead": "bad",
}
_RANK = {"good": 0, "info": 1, "warn": 2, "bad": 3}
# Verdicts of a fire still in progress: a newer ledger record of the same fire wins.
_IN_PROGRESS = frozenset({"running", "due", "pending_unclaimed", "running_too_long"})
_DEFINITION_KINDS_WITHOUT_ROW = frozenset(
    {"sink_dead", "sink_waiting", "event_router", "watchdog_blind", "no_pollers"}
)


def ago(at: datetime | None, now: datetime) -> str:
    """How far ``at`` is from ``now`` in words: ``3 min ago``, ``in 2 h``, ``just now``."""
    if at is None:
        return ""
    seconds = (now - at).total_seconds()
    span = abs(seconds)
    if span < 45:
        return "just now"
    if span < 90 * 60:
        words = f"{round(span / 60)} min"
    elif span < 36 * 3600:
        words = f"{span / 3600:.0f} h"
    else:
        words = f"{span / 86400:.0f} d"
    return f"{words} ago" if seconds > 0 else f"in {words}"


@dataclass
class BoardAlert:
    """One open alert as the board shows it: what, since when, what it affects, and the
    next step (the command, the runbook section, the run in the Web UI)."""

    alert_id: str
    severity: str
    kind: str
    title: str
    since: datetime
    since_ago: str
    affects: str
    """The definition, sink or component the alert is about."""
    definition: str | None
    """The definition's name when the alert is about one (its board page links here)."""
    what_to_do: str | None
    runbook: str
    """Link to the runbook section."""
    run_links: list[tuple[str, str]]
    """(run id, Web UI link) of the fires it lists."""
    deliveries_link: str | None
    """The Web UI's list of the definition's (or sink's) dead or waiting deliveries."""


@dataclass
class BoardRow:
    """One definition on the board."""

    activity_id: str
    name: str
    trigger: str
    policy: str
    enabled: bool
    verdict: str
    """The last fire's verdict: the watchdog's, or the ledger's when it knows more."""
    state: str
    """The definition's one state: the worst of its verdict, its deliveries and its
    alerts (a definition with dead deliveries is not ``ok``)."""
    tone: str
    """good, info, warn or bad: the row's colour, always with the state in words."""
    last_fire: datetime | None
    lateness_s: float | None
    next_fire: datetime | None
    waiting: int
    dead: int
    pages: int
    notes: int
    health: list[str]
    last_run: RunRecord | None
    last_fire_ago: str = ""
    next_fire_in: str = ""
    last_run_ago: str = ""


@dataclass
class BoardView:
    """Everything the board shows."""

    at: datetime
    rows: list[BoardRow]
    alerts: list[BoardAlert]
    last_pass_at: datetime | None
    watchdog_stale: bool
    web_ui: str | None
    ledger: str
    workflows: str = ""
    """The Web UI's workflow list of the client's namespace (a run's page is ``/<id>``)."""
    problems: list[str] = field(default_factory=list)
    last_pass_ago: str = ""

    @property
    def worst(self) -> str:
        """The board's overall tone."""
        tones = [r.tone for r in self.rows] + [
            "bad" if a.severity == Severity.PAGE.value else "warn" for a in self.alerts
        ]
        return max(tones, key=_RANK.__getitem__, default="good")


def row_state(verdict: str, dead: int, waiting: int, page_kinds: list[str]) -> tuple[str, str]:
    """(state, tone) of a definition: its verdict unless its deliveries or an open page
    say worse."""
    candidates = [(verdict, VERDICT_TONE.get(verdict, "info"))]
    candidates += [(kind, "bad") for kind in page_kinds]
    if dead:
        candidates.append(("delivery_dead", "bad"))
    if waiting:
        candidates.append(("delivery_waiting", "warn"))
    return max(candidates, key=lambda c: _RANK[c[1]])


def freshest_verdict(
    judged: str | None, fire: datetime | None, run: RunRecord | None, *, scheduled: bool
) -> str:
    """The watchdog's verdict of the last fire, unless the ledger has since recorded that
    fire's end or a newer fire (the pass may be minutes old)."""
    recorded = recorded_verdict(run, scheduled=scheduled)
    if judged is None:
        return recorded
    if run is None:
        return judged
    run_fire = run.scheduled_for or run.nominal_fire
    if run_fire is not None and fire is not None and run_fire > fire:
        return recorded
    if judged in _IN_PROGRESS and run.state != "running" and run_fire == fire:
        return recorded
    return judged


def workflows_url(settings: Settings, namespace: str) -> str:
    """The Web UI's workflow list of ``namespace`` ("" without a Web UI address)."""
    ui = (settings.web_ui_url or "").rstrip("/")
    return f"{ui}/namespaces/{quote(namespace, safe='')}/workflows" if ui else ""


def board_alert(alert: Alert, now: datetime, settings: Settings, namespace: str) -> BoardAlert:
    """An open alert with its next step and links."""
    base = workflows_url(settings, namespace)
    runbook = f"{settings.runbook_url or 'runbook'}#{runbook_section(alert.kind)}"
    about_definition = alert.kind not in _DEFINITION_KINDS_WITHOUT_ROW
    runs = [(f.run_id, f"{base}/{f.run_id}" if base else "") for f in alert.fires if f.run_id]
    deliveries = None
    if base and (alert.kind.startswith("delivery_") or alert.kind.startswith("sink_")):
        key = sa.ACTIVITY_NAME.name if about_definition else sa.DELIVERY_SINK.name
        query = (
            f'WorkflowType="ReportDeliveryWorkflow" AND {key}="{alert.activity_name}" '
            f'AND ExecutionStatus="Running"'
        )
        deliveries = f"{base}?query={quote(query)}"
    if alert.kind == "event_router":
        affects = "the event router"
    elif alert.kind == "watchdog_blind":
        affects = "the watchdog's view of the definitions it names"
    elif alert.kind == "no_pollers":
        affects = f"task queue {alert.activity_name}: {alert.detail}"
    elif about_definition:
        affects = f"definition {alert.activity_name}"
    else:
        affects = f"sink {alert.activity_name}"
    return BoardAlert(
        alert_id=alert.alert_id,
        severity=alert.severity.value,
        kind=alert.kind,
        title=alert.title(),
        since=alert.opened_at,
        since_ago=ago(alert.opened_at, now),
        affects=affects,
        definition=alert.activity_name if about_definition else None,
        what_to_do=what_to_do(alert),
        runbook=runbook,
        run_links=runs[:5],
        deliveries_link=deliveries,
    )


async def board_view(client: Client, catalog: Catalog, settings: Settings) -> BoardView:
    """Gather the board: the catalogue, last watchdog pass, ledger (latest runs,
    deliveries)."""
    now = datetime.now(UTC)
    view = await catalog.view()
    problems: list[str] = [view.degraded] if view.degraded else []
    store = catalog.store
    ids = [str(d.id) for d in view.definitions]
    latest: dict[str, RunRecord] = {}
    counts: dict[str, dict[str, int]] = {}
    budgets: dict[str, Budget] = {}
    where = store.label if store is not None else "off"
    if store is not None:
        ledger = Ledger(store)
        try:
            latest = await ledger.latest_runs(ids)
            counts = await ledger.delivery_counts(["pending", "waiting", "dead"])
        except STORE_ERRORS as exc:
            where = f"{store.label} unavailable ({type(exc).__name__})"
        aimed = [d for d in view.definitions if d.watch.objective]
        budgets = await objective_budgets(ledger, aimed, now)
    try:
        passed = await last_pass(client)
    except Exception as exc:
        passed = None
        problems.append(f"Temporal unreachable ({type(exc).__name__})")
    summaries: dict[str, DefinitionSummary] = (
        {s.activity_id: s for s in passed.summaries} if passed is not None else {}
    )
    alerts = passed.state.open_alerts if passed is not None else []
    interval = settings.watchdog_interval_seconds
    stale = passed is None or (
        interval > 0 and now - passed.at > timedelta(seconds=STALE_AFTER_PASSES * interval)
    )
    rows = []
    for d in view.definitions:
        aid = str(d.id)
        summary = summaries.get(aid)
        last = summary.last if summary is not None else None
        run = latest.get(aid)
        # No fire judged in the last pass's look-back (past retention, or event and
        # manual definitions): the latest run in the ledger answers, as in `actcore status`.
        verdict = freshest_verdict(
            last.kind.value if last is not None else None,
            last.fire if last is not None else None,
            run,
            scheduled=is_scheduled(d),
        )
        trig = d.trigger_config
        mine = [a for a in alerts if a.activity_id == aid]
        page_kinds = [a.kind for a in mine if a.severity == Severity.PAGE]
        row_counts = counts.get(aid, {})
        waiting = row_counts.get("pending", 0) + row_counts.get("waiting", 0)
        dead = row_counts.get("dead", 0)
        state, tone = row_state(verdict, dead, waiting, page_kinds)
        next_fire = summary.next_fire if summary is not None else None
        rows.append(
            BoardRow(
                activity_id=aid,
                name=d.name,
                trigger=describe_trigger(d).replace("`", ""),
                policy=trig.misfire_policy.value
                if isinstance(trig, CronTrigger | IntervalTrigger)
                else "-",
                enabled=d.enabled,
                verdict=verdict,
                state=state,
                tone=tone,
                last_fire=last.fire if last is not None else None,
                lateness_s=last.lateness_s if last is not None else None,
                next_fire=next_fire,
                waiting=waiting,
                dead=dead,
                pages=len(page_kinds),
                notes=len(mine) - len(page_kinds),
                health=(summary.health if summary is not None else [])
                + ([f"pages held back: {summary.muted}"] if summary and summary.muted else [])
                + ([budgets[aid].describe()] if aid in budgets else []),
                last_run=run,
                last_fire_ago=ago(last.fire if last is not None else None, now),
                next_fire_in=ago(next_fire, now),
                last_run_ago=ago(_run_time(run), now),
            )
        )
    # Pages first, then notes; the newest first within each.
    ordered = sorted(alerts, key=lambda a: (a.severity != Severity.PAGE, -a.opened_at.timestamp()))
    return BoardView(
        at=now,
        rows=rows,
        alerts=[board_alert(a, now, settings, client.namespace) for a in ordered],
        last_pass_at=passed.at if passed is not None else None,
        watchdog_stale=stale,
        web_ui=settings.web_ui_url,
        ledger=where,
        workflows=workflows_url(settings, client.namespace),
        problems=problems,
        last_pass_ago=ago(passed.at if passed is not None else None, now),
    )


def _run_time(run: RunRecord | None) -> datetime | None:
    if run is None:
        return None
    return run.finished_at or run.started_at or run.scheduled_for or run.fired_at


@dataclass
class DefinitionRun:
    """A fire on the definition's page, with its deliveries."""

    run: RunRecord
    deliveries: list[DeliveryRecord]
    ago: str


async def definition_runs(
    catalog: Catalog, key: str, limit: int = 30
) -> tuple[str, list[DefinitionRun]]:
    """A definition's name and its last ``limit`` fires from the ledger, each with its
    deliveries.

    Raises:
        DefinitionNotFound: No definition in force has that id or name.
    """
    name = (await catalog.entry(key)).name
    if catalog.store is None:
        return name, []
    ledger = Ledger(catalog.store)
    runs = await ledger.runs(activity_name=name, limit=limit)
    by_run = await ledger.deliveries_of([r.run_id for r in runs])
    now = datetime.now(UTC)
    return name, [
        DefinitionRun(run=r, deliveries=by_run.get(r.run_id, []), ago=ago(_run_time(r), now))
        for r in runs
    ]


FIRES_DAYS = 7
FIRES_SHOWN = 200


@dataclass
class RecentFires:
    """A definition's fires of the last 7 days with their verdicts, and the dry-run
    backfill command for those that need it (None when none does)."""

    fires: list[PlanItem] = field(default_factory=list)
    command: str | None = None
    total: int = 0
    unavailable: str | None = None
    """Why the fires could not be judged (Temporal unreachable), if so."""


async def recent_fires(client: Client, catalog: Catalog, key: str) -> RecentFires:
    """The fires of the last 7 days as the watchdog judges them, newest first, each with
    what a backfill would do (the same plan ``actcore backfill`` makes)."""
    definition = await catalog.find(key)
    if not is_scheduled(definition):
        return RecentFires()
    now = datetime.now(UTC)
    # 7 days, or the last FIRES_SHOWN fires of a frequent definition (one every minute).
    gap = largest_gap_seconds(definition.trigger_config)  # type: ignore[arg-type]
    span = min(timedelta(days=FIRES_DAYS), timedelta(seconds=gap * FIRES_SHOWN))
    verdicts = await fire_verdicts(client, catalog.store, definition, now - span)
    items = plan_items(definition, verdicts, only=DEFAULT_ONLY, every=False, force=False, now=now)
    to_run = [i for i in items if i.action == "run"]
    command = None
    if to_run:
        first = min(i.fire for i in to_run) - timedelta(seconds=1)
        command = f"actcore backfill {definition.name} --since {first:%Y-%m-%dT%H:%M:%SZ} --dry-run"
    shown = sorted(items, key=lambda i: i.fire, reverse=True)[:FIRES_SHOWN]
    return RecentFires(fires=shown, command=command, total=len(items))
