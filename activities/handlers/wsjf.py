"""``wsjf_triage``: rank State Hub work items by weighted shortest job first.

WSJF = (business value + time criticality + risk reduction) / job size. Items without a
usable estimate are not ranked but listed; stale, blocked and inconsistent items are
flagged. Pure computation over the resolved context: the same input gives the same report.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from activity_core.domain import Report
from activity_core.domain.handler_params import WsjfTriageParams
from activity_core.domain.tasks import PRIORITIES, Task, TaskLink, task_key

if TYPE_CHECKING:
    from activities.handlers import HandlerContext

COST_FIELDS = ("business_value", "time_criticality", "risk_reduction")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def score(item: dict[str, Any]) -> float | None:
    """WSJF of an item, or None when an estimate is missing or the job size is not positive."""
    parts = [_number(item.get(f)) for f in COST_FIELDS]
    size = _number(item.get("job_size"))
    if any(p is None for p in parts) or size is None or size <= 0:
        return None
    return sum(p for p in parts if p is not None) / size


def _is_blocked(item: dict[str, Any]) -> bool:
    return bool(item.get("blocked")) or item.get("status") == "blocked"


def _is_stale(item: dict[str, Any], now: datetime, stale_days: float) -> bool:
    try:
        updated = datetime.fromisoformat(str(item.get("updated_at")))
    except ValueError:
        return True
    return now - updated > timedelta(days=stale_days)


def triage(
    items: list[dict[str, Any]],
    *,
    now: datetime,
    top_n: int = 10,
    stale_days: float = 14,
    loose_ends: list[dict[str, Any]] | None = None,
    recent: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The triage as data: overall ranking, per-workstream top N, and flags.

    Ties in WSJF are broken by cost of delay (higher first), then by id, so the order
    is deterministic.
    """
    open_items = [i for i in items if i.get("status") != "done"]
    ranked: list[dict[str, Any]] = []
    unestimated: list[dict[str, Any]] = []
    for item in open_items:
        wsjf = score(item)
        if wsjf is None:
            unestimated.append(item)
            continue
        cost = sum(_number(item.get(f)) or 0 for f in COST_FIELDS)
        flags = []
        if _is_blocked(item):
            flags.append("blocked")
        if _is_stale(item, now, stale_days):
            flags.append("stale")
        ranked.append(
            {
                "id": item["id"],
                "title": item.get("title", ""),
                "workstream": item.get("workstream") or "(none)",
                "owner": item.get("owner"),
                "status": item.get("status"),
                "wsjf": round(wsjf, 3),
                "cost_of_delay": cost,
                "job_size": item.get("job_size"),
                "flags": flags,
            }
        )
    ranked.sort(key=lambda r: (-r["wsjf"], -r["cost_of_delay"], str(r["id"])))
    for rank, row in enumerate(ranked, 1):
        row["rank"] = rank
    by_ws: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in ranked:
        by_ws[row["workstream"]].append(row)
    return {
        "top": ranked[:top_n],
        "by_workstream": {ws: rows[:top_n] for ws, rows in sorted(by_ws.items())},
        "ranked_count": len(ranked),
        "open_count": len(open_items),
        "blocked": sorted(i["id"] for i in open_items if _is_blocked(i)),
        "stale": sorted(i["id"] for i in open_items if _is_stale(i, now, stale_days)),
        "missing_estimates": sorted(i["id"] for i in unestimated),
        "loose_ends": sorted(loose_ends or [], key=lambda e: str(e.get("id"))),
        "recently_touched": sorted(str(i.get("id")) for i in (recent or [])),
        "params": {"top_n": top_n, "stale_days": stale_days},
    }


def _table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| # | WSJF | item | workstream | owner | flags |", "|---|---|---|---|---|---|"]
    out += [
        f"| {r['rank']} | {r['wsjf']:.2f} | {r['id']} {r['title']} | {r['workstream']} | "
        f"{r['owner'] or '-'} | {', '.join(r['flags']) or '-'} |"
        for r in rows
    ]
    return out


def render(data: dict[str, Any], *, run_id: str, degraded: list[str], when: datetime) -> str:
    """The markdown report for people."""
    lines = [f"# WSJF triage {when:%Y-%m-%d}", "", f"Run `{run_id}`.", ""]
    if degraded:
        lines += ["> **degraded**: " + "; ".join(degraded), ""]
    lines += [
        f"{data['ranked_count']} of {data['open_count']} open items ranked; "
        f"{len(data['blocked'])} blocked, {len(data['stale'])} stale, "
        f"{len(data['missing_estimates'])} missing estimates, "
        f"{len(data['loose_ends'])} loose ends.",
        "",
        f"## Top {data['params']['top_n']} overall",
        "",
        *_table(data["top"]),
    ]
    for ws, rows in data["by_workstream"].items():
        lines += ["", f"## {ws}", "", *_table(rows)]
    if data["missing_estimates"]:
        lines += ["", "## Missing estimates (not ranked)", "", ", ".join(data["missing_estimates"])]
    omitted = data.get("tasks", {}).get("omitted", 0)
    if omitted:
        lines += [
            "",
            f"> {omitted} more follow-up task(s) not emitted: raise `max_tasks` "
            f"(now {data['tasks']['max_tasks']}) to see them.",
        ]
    if data["loose_ends"]:
        lines += ["", "## Loose ends (consistency sweep)", ""]
        lines += [
            f"- {e['id']} {e.get('title') or ''}: {'; '.join(e['problems'])}"
            for e in data["loose_ends"]
        ]
    return "\n".join(lines) + "\n"


def _link(item: dict[str, Any]) -> TaskLink:
    title = item.get("title")
    return TaskLink(
        kind="work_item",
        id=str(item["id"])[:200],
        title=str(title)[:300] if title else None,
    )


def _name(item: dict[str, Any]) -> str:
    return f"{item['id']} {item.get('title') or ''}".strip()[:200]


def follow_ups(
    items: list[dict[str, Any]],
    data: dict[str, Any],
    *,
    stale_days: float,
    max_tasks: int,
) -> tuple[list[Task], int]:
    """The triage's tasks for an operator, most urgent first, and how many were cut.

    Four kinds, each keyed by reason and item so the same problem tomorrow is the same
    task: the blocked item with the highest cost of delay, items the consistency sweep
    found, items without a usable estimate, and stale items.
    """
    by_id = {str(i.get("id")): i for i in items if i.get("status") != "done"}
    tasks: list[Task] = []
    blocked = [by_id[b] for b in map(str, data["blocked"]) if b in by_id]
    if blocked:
        top = max(
            blocked,
            key=lambda i: (sum(_number(i.get(f)) or 0 for f in COST_FIELDS), str(i["id"])),
        )
        cost = sum(_number(top.get(f)) or 0 for f in COST_FIELDS)
        tasks.append(
            Task(
                key=task_key("blocked-highest-cost", str(top["id"])),
                title=f"Unblock {_name(top)}"[:300],
                body=(
                    f"Of the {len(blocked)} blocked open items, {top['id']} has the highest "
                    f"cost of delay ({cost:g}: business value + time criticality + risk "
                    "reduction). Find what blocks it and who can clear it."
                ),
                labels=["triage", "blocked"],
                priority="high",
                links=[_link(top)],
            )
        )
    for end in data["loose_ends"]:
        problems = "; ".join(str(p) for p in end.get("problems", []))
        tasks.append(
            Task(
                key=task_key("inconsistent", str(end["id"])),
                title=f"Fix inconsistent fields of {_name(end)}"[:300],
                body=f"The consistency sweep found: {problems}."[:4000],
                labels=["triage", "inconsistent"],
                priority="normal",
                links=[_link(end)],
            )
        )
    for item_id in data["missing_estimates"]:
        item = by_id.get(str(item_id), {"id": item_id})
        missing = [f for f in (*COST_FIELDS, "job_size") if _number(item.get(f)) is None]
        tasks.append(
            Task(
                key=task_key("missing-estimate", str(item_id)),
                title=f"Estimate {_name(item)}"[:300],
                body=(
                    "The WSJF triage cannot rank this item: "
                    + (f"{', '.join(missing)} missing" if missing else "job size is not positive")
                    + ". Add the estimate in State Hub."
                ),
                labels=["triage", "missing-estimate"],
                priority="normal",
                links=[_link(item)],
            )
        )
    for item_id in data["stale"]:
        item = by_id.get(str(item_id), {"id": item_id})
        tasks.append(
            Task(
                key=task_key("stale", str(item_id)),
                title=f"Review stale item {_name(item)}"[:300],
                body=(
                    f"Not updated since {item.get('updated_at') or 'an unknown date'} (more "
                    f"than {stale_days:g} days): close it, park it, or move it on."
                ),
                labels=["triage", "stale"],
                priority="low",
                links=[_link(item)],
            )
        )
    tasks.sort(key=lambda t: PRIORITIES.index(t.priority))  # stable: kinds keep their order
    return tasks[:max_tasks], max(0, len(tasks) - max_tasks)


async def wsjf_triage(ctx: HandlerContext) -> Report:
    """Rank the resolved work items (params: ``top_n``, ``stale_days``)."""
    inp = ctx.input
    params = WsjfTriageParams.model_validate(inp.definition.params)
    top_n, stale_days = params.top_n, params.stale_days
    if top_n < 1 or stale_days <= 0:
        raise ValueError("top_n must be >= 1 and stale_days > 0")
    items = inp.context.get("work_items")
    if items is None:
        raise ValueError("wsjf_triage needs the work_items resolver (add it to 'resolvers')")
    data = triage(
        items,
        now=inp.scheduled_for,
        top_n=top_n,
        stale_days=stale_days,
        loose_ends=inp.context.get("consistency_sweep"),
        recent=inp.context.get("recently_on_scope"),
    )
    data["activity_core_run_id"] = inp.run_id
    data["degraded"] = inp.degraded
    tasks, omitted = follow_ups(items, data, stale_days=stale_days, max_tasks=params.max_tasks)
    data["tasks"] = {"emitted": len(tasks), "omitted": omitted, "max_tasks": params.max_tasks}
    top = data["top"][0] if data["top"] else None
    summary = (
        f"{data['ranked_count']} items ranked"
        + (f"; top: {top['id']} {top['title']} (WSJF {top['wsjf']:.2f})" if top else "")
        + (f"; degraded ({len(inp.degraded)} resolver(s) unavailable)" if inp.degraded else "")
    )
    return Report(
        title=f"WSJF triage {inp.scheduled_for:%Y-%m-%d}",
        summary=summary,
        markdown=render(data, run_id=inp.run_id, degraded=inp.degraded, when=inp.scheduled_for),
        data=data,
        tasks=tasks,
    )
