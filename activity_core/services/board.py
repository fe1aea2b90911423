"""The status board's view: one row per definition from the last watchdog pass, the
ledger and the registry, so the page costs a few reads and no judging."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from activities.watchdog_judge import last_pass
from activity_core.catalog import Catalog
from activity_core.domain import Alert, DefinitionSummary, RunRecord, Severity
from activity_core.domain.definition import CronTrigger, IntervalTrigger
from activity_core.domain.schedule_spec import describe_trigger, is_scheduled
from activity_core.services.status import STALE_AFTER_PASSES, recorded_verdict
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


@dataclass
class BoardRow:
    """One definition on the board."""

    activity_id: str
    name: str
    trigger: str
    policy: str
    enabled: bool
    verdict: str
    """The last judged fire's verdict (or ``not judged yet``)."""
    tone: str
    """good, info, warn or bad: the row's colour, always with the verdict in words."""
    last_fire: datetime | None
    lateness_s: float | None
    next_fire: datetime | None
    waiting: int
    dead: int
    pages: int
    notes: int
    health: list[str]
    last_run: RunRecord | None


@dataclass
class BoardView:
    """Everything the board shows."""

    at: datetime
    rows: list[BoardRow]
    alerts: list[Alert]
    last_pass_at: datetime | None
    watchdog_stale: bool
    web_ui: str | None
    ledger: str
    problems: list[str] = field(default_factory=list)


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
    where = store.label if store is not None else "off"
    if store is not None:
        ledger = Ledger(store)
        try:
            latest = await ledger.latest_runs(ids)
            counts = await ledger.delivery_counts(["pending", "waiting", "dead"])
        except STORE_ERRORS as exc:
            where = f"{store.label} unavailable ({type(exc).__name__})"
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
        # No fire judged in the last pass's look-back (past retention, or event and
        # manual definitions): the latest run in the ledger answers, as in `actcore status`.
        verdict = (
            last.kind.value
            if last is not None
            else recorded_verdict(latest.get(aid), scheduled=is_scheduled(d))
        )
        trig = d.trigger_config
        mine = [a for a in alerts if a.activity_id == aid]
        pages = sum(1 for a in mine if a.severity == Severity.PAGE)
        row_counts = counts.get(aid, {})
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
                tone="bad" if pages else VERDICT_TONE.get(verdict, "info"),
                last_fire=last.fire if last is not None else None,
                lateness_s=last.lateness_s if last is not None else None,
                next_fire=summary.next_fire if summary is not None else None,
                waiting=row_counts.get("pending", 0) + row_counts.get("waiting", 0),
                dead=row_counts.get("dead", 0),
                pages=pages,
                notes=len(mine) - pages,
                health=summary.health if summary is not None else [],
                last_run=latest.get(aid),
            )
        )
    return BoardView(
        at=now,
        rows=rows,
        alerts=alerts,
        last_pass_at=passed.at if passed is not None else None,
        watchdog_stale=stale,
        web_ui=settings.web_ui_url,
        ledger=where,
        problems=problems,
    )


async def definition_runs(
    catalog: Catalog, key: str, limit: int = 30
) -> tuple[str, list[RunRecord]]:
    """A definition's name and its last ``limit`` fires from the ledger.

    Raises:
        DefinitionNotFound: No definition in force has that id or name.
    """
    name = (await catalog.entry(key)).name
    if catalog.store is None:
        return name, []
    return name, await Ledger(catalog.store).runs(activity_name=name, limit=limit)
