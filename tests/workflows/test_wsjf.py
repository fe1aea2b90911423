"""WSJF triage: ranking, flags, determinism; resolvers against the reference hub's faults;
degraded and could-not-run runs end to end."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.context import ContextActivities
from activities.handlers.wsjf import score, triage
from activities.notes import read_front_matter
from activity_core.dev.statehub import StateHub
from activity_core.domain import (
    ActivityDefinition,
    DeliveryState,
    ResolveInput,
    ResolverConfig,
    RunOutcome,
)
from activity_core.domain.budget import budget_error
from activity_core.settings import Settings
from tests.helpers import Stack, assert_eventually

NOW = datetime(2026, 11, 23, 6, 20, tzinfo=UTC)


def item(
    id: str, bv: Any = 5, tc: Any = 3, rr: Any = 2, size: Any = 5, **kw: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "title": f"item {id}",
        "workstream": kw.pop("ws", "platform"),
        "status": kw.pop("status", "todo"),
        "owner": kw.pop("owner", "ana"),
        "business_value": bv,
        "time_criticality": tc,
        "risk_reduction": rr,
        "job_size": size,
        "blocked": kw.pop("blocked", False),
        "updated_at": kw.pop("updated_at", NOW.isoformat()),
        "tags": [],
    }


def test_score_is_cost_of_delay_over_job_size() -> None:
    assert score(item("a", 8, 5, 3, 4)) == 4.0
    assert score(item("b", size=0)) is None
    assert score(item("c", size=None)) is None
    assert score(item("d", bv=None)) is None
    assert score(item("e", size=-2)) is None


def test_ranking_ties_flags_and_missing_estimates() -> None:
    items = [
        item("T-3", 4, 4, 4, 4),  # 3.0, cost 12
        item("T-1", 2, 2, 2, 2),  # 3.0, cost 6 -> after T-3 (lower cost of delay)
        item("T-2", 2, 2, 2, 2),  # 3.0, cost 6 -> after T-1 (id)
        item("T-4", 13, 8, 5, 2, ws="billing", blocked=True),  # 13.0
        item("T-5", size=0),  # missing estimate
        item("T-6", status="done"),  # done: not ranked
        item("T-7", 1, 1, 1, 13, updated_at=(NOW - timedelta(days=30)).isoformat()),
    ]
    data = triage(items, now=NOW, top_n=3, stale_days=14)
    assert [r["id"] for r in data["top"]] == ["T-4", "T-3", "T-1"]
    assert data["top"][0]["flags"] == ["blocked"]
    assert data["ranked_count"] == 5
    assert data["missing_estimates"] == ["T-5"]
    assert data["blocked"] == ["T-4"]
    assert data["stale"] == ["T-7"]
    assert [r["id"] for r in data["by_workstream"]["platform"]] == ["T-3", "T-1", "T-2"]
    assert [r["id"] for r in data["by_workstream"]["billing"]] == ["T-4"]
    # Deterministic: input order does not matter.
    assert triage(list(reversed(items)), now=NOW, top_n=3, stale_days=14) == data


def _resolver(hub: StateHub, name: str = "work_items", **kw: Any) -> ResolverConfig:
    return ResolverConfig.model_validate({"name": name, "url": hub.url, **kw})


async def _resolve(cfg: ResolverConfig) -> Any:
    async with httpx.AsyncClient() as http:
        acts = ContextActivities(http, Settings())
        return await ActivityEnvironment().run(acts.resolve_context, ResolveInput(resolver=cfg))


async def test_resolvers_return_the_hub_s_items() -> None:
    hub = StateHub(seed_demo=True).start()
    try:
        items = await _resolve(_resolver(hub))
        assert len(items.items) == 36
        recent = await _resolve(
            _resolver(hub, "recently_on_scope", params={"scope": "billing", "days": 7})
        )
        assert recent.items and all(i["workstream"] == "billing" for i in recent.items)
        sweep = await _resolve(_resolver(hub, "consistency_sweep"))
        assert any("done but still blocked" in e["problems"] for e in sweep.items)
    finally:
        hub.stop()


async def test_refused_resolver_gives_one_clear_diagnostic(hub: StateHub) -> None:
    hub.set_fault("refuse")
    with pytest.raises(ApplicationError) as info:
        await _resolve(_resolver(hub, "recently_on_scope", tries=3))
    err = info.value
    assert err.type == "ResolverUnavailable"
    msg = str(err)
    assert "resolver recently_on_scope unavailable" in msg
    assert f"{hub.url}/resolvers/recently_on_scope" in msg
    assert "failed 3 time(s)" in msg
    assert "last error: connection refused" in msg
    assert "docs/runbook.md#state-hub-resolvers-failing" in msg


async def test_503_with_retry_after_is_retried_then_succeeds(hub: StateHub) -> None:
    hub.store.tasks.put([item("T-1")])
    hub.set_fault("503", retry_after=1)
    started = time.monotonic()

    async def heal() -> None:
        import asyncio

        await asyncio.sleep(0.5)
        hub.set_fault("none")

    import asyncio

    healer = asyncio.create_task(heal())
    result = await _resolve(_resolver(hub, tries=4))
    await healer
    assert [i["id"] for i in result.items] == ["T-1"]
    assert result.tries == 2
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured


async def test_slow_hub_beyond_the_timeout_is_a_timeout(hub: StateHub) -> None:
    hub.set_fault("slow", delay=2)
    with pytest.raises(ApplicationError, match=r"failed 2 time\(s\).*timed out"):
        await _resolve(_resolver(hub, tries=2, timeout_seconds=0.3))


async def test_4xx_is_rejected_without_retry(hub: StateHub) -> None:
    hub.set_fault("400")
    with pytest.raises(ApplicationError) as info:
        await _resolve(_resolver(hub, tries=5))
    assert info.value.type == "ResolverRejected"
    assert info.value.non_retryable
    assert hub.stats.counts["fault_400"] == 1


def test_timeout_budget_is_checked_with_the_arithmetic() -> None:
    d = ActivityDefinition.model_validate(
        {
            "name": "slow-triage",
            "handler": "wsjf_triage",
            "trigger_config": {"trigger_type": "manual"},
            "resolvers": [{"name": "work_items", "timeout_seconds": 60, "tries": 5}],
        }
    )
    message = budget_error(d, 900)
    assert message is not None
    assert "work_items 3 x (5 tries x 2 x 60 s + waits)" in message
    assert "over ACTIVITY_TIMEOUT_SECONDS=900" in message
    assert budget_error(d, 5000) is None


def _triage_definition(stack: Stack, hub: StateHub, name: str, **resolvers: bool) -> None:
    stack.define(
        name,
        handler="wsjf_triage",
        params={"top_n": 5},
        resolvers=[
            {"name": r, "required": req, "url": hub.url, "tries": 2, "timeout_seconds": 2}
            for r, req in resolvers.items()
        ],
        sinks=[
            {"type": "working_memory"},
            {"type": "state_hub_progress", "event_type": "daily_triage", "url": hub.url},
        ],
    )


async def test_triage_run_ranks_demo_data_and_posts_the_same_run_id(stack: Stack) -> None:
    hub = StateHub(seed_demo=True).start()
    try:
        _triage_definition(stack, hub, "triage-ok", work_items=True, consistency_sweep=False)
        result = await stack.run("triage-ok")
        assert result.outcome == RunOutcome.RAN
        note = Path(result.report_path or "").read_text()
        assert "# WSJF triage" in note and "## Top 5 overall" in note
        assert "Loose ends (consistency sweep)" in note
        await stack.delivery(result.run_id, "state_hub").result()
        (event,) = hub.events("daily_triage")
        assert event["detail"]["activity_core_run_id"] == result.run_id
        assert event["detail"]["data"]["top"][0]["rank"] == 1
    finally:
        hub.stop()


async def test_optional_resolver_down_gives_a_degraded_report(stack: Stack, hub: StateHub) -> None:
    hub.store.tasks.put([item("T-1"), item("T-2", 8, 8, 8, 1)])
    stack.define(
        "triage-degraded",
        handler="wsjf_triage",
        resolvers=[
            {"name": "work_items", "url": hub.url, "tries": 1},
            {
                "name": "consistency_sweep",
                "required": False,
                "tries": 1,
                "url": "http://127.0.0.1:9",
            },
        ],
    )
    result = await stack.run("triage-degraded")
    assert result.outcome == RunOutcome.RAN
    note = Path(result.report_path or "").read_text()
    assert "**degraded**: resolver consistency_sweep unavailable" in note
    assert "T-2" in note


async def test_required_resolver_down_could_not_run_then_event_arrives(
    stack: Stack, hub: StateHub
) -> None:
    _triage_definition(stack, hub, "triage-down", work_items=True)
    hub.set_fault("refuse")
    result = await stack.run("triage-down")  # time skipping covers the resolver retries
    assert result.outcome == RunOutcome.COULD_NOT_RUN
    front = read_front_matter(Path(result.report_path or ""))
    assert front["activity_core_run_id"] == result.run_id
    assert "could not run; operator review required" in front["title"]
    note = Path(result.report_path or "").read_text()
    assert "resolver work_items unavailable" in note
    assert "last error: connection refused" in note

    child = stack.delivery(result.run_id, "state_hub")

    async def waiting() -> None:
        assert (await stack.status(child)).state == DeliveryState.WAITING

    await assert_eventually(waiting)
    hub.set_fault("none")
    await child.signal("retry_now")
    final = await child.result()
    assert final.state == DeliveryState.DELIVERED
    (event,) = hub.events("daily_triage")
    assert event["summary"].startswith("triage-down: could not run; operator review required")
    assert event["detail"]["activity_core_run_id"] == result.run_id
