"""Task emission end to end: the null sink's dry run, filing at the reference issue-core,
the next day's run filing nothing new, a failure in the middle of a batch, rejections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryState, RunOutcome
from tests.helpers import Stack, assert_eventually


def _tasks(*keys: str) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "title": f"Follow up {key}",
            "body": f"why {key}",
            "labels": ["test"],
            "priority": "high" if i == 0 else "normal",
            "links": [{"kind": "work_item", "id": key.upper()}],
        }
        for i, key in enumerate(keys)
    ]


def _define(stack: Stack, name: str, keys: list[str], sink: dict[str, Any]) -> None:
    stack.define(
        name,
        params={"title": f"{name} report", "body": "b", "tasks": _tasks(*keys)},
        sinks=[{"type": "working_memory"}, {"type": "issue", **sink}],
    )


async def _delivered(stack: Stack, run_id: str) -> Any:
    handle = stack.delivery(run_id, "issues")
    await handle.result()
    return await stack.status(handle)


async def test_null_sink_files_nothing_and_shows_the_tasks_in_note_and_ledger(
    stack: Stack, hub: StateHub
) -> None:
    # No backend in the file, none in the environment: the default is the dry run.
    _define(
        stack, "dry", ["missing-estimate:t-1", "stale:t-2", "inconsistent:t-3"], {"url": hub.url}
    )
    result = await stack.run("dry")
    assert result.outcome == RunOutcome.RAN
    assert result.deliveries == []
    assert result.report_path is not None
    note = Path(result.report_path).read_text(encoding="utf-8")
    assert "## Tasks (dry run: the issue sink is null)" in note
    for key in ("missing-estimate:t-1", "stale:t-2", "inconsistent:t-3"):
        assert f"`{key}`" in note
    rows = await stack.ledger.tasks(run_id=result.run_id)
    assert sorted((r.key, r.state, r.backend) for r in rows) == [
        ("inconsistent:t-3", "dry_run", "null"),
        ("missing-estimate:t-1", "dry_run", "null"),
        ("stale:t-2", "dry_run", "null"),
    ]
    assert hub.store.issues.all() == []
    assert hub.stats.counts["post"] == 0
    # A second run emits the same keys: the table tells the two apart by run and time.
    again = await stack.run("dry")
    table = await stack.actcore("tasks", "list", "dry", columns=200)
    assert table.returncode == 0, table.stderr
    heading, *lines = table.stdout.splitlines()
    assert heading.split()[:4] == ["KEY", "STATE", "WHEN", "RUN"]
    stale = [x for x in lines if x.startswith("stale:t-2")]
    assert len(stale) == 2
    assert {result.run_id, again.run_id} == {x.split()[4] for x in stale}


async def test_issue_core_files_each_task_once_and_the_next_run_files_only_new_ones(
    stack: Stack, hub: StateHub
) -> None:
    keys = [f"stale:t-{n}" for n in range(5)]
    sink = {"url": hub.url, "backend": "issue_core", "labels": ["triage"]}
    _define(stack, "filer", keys, sink)
    first = await stack.run("filer")
    assert [d.sink for d in first.deliveries] == ["issues"]
    status = await _delivered(stack, first.run_id)
    assert (status.state, status.items_done, status.items_total) == (DeliveryState.DELIVERED, 5, 5)
    issues = hub.store.issues.all()
    assert sorted(i["key"] for i in issues) == sorted(keys)
    assert all(i["labels"][:2] == ["triage", "test"] for i in issues)
    assert hub.stats.counts["issues_created"] == 5

    # The next day, the same problems: nothing new is filed.
    second = await stack.run("filer")
    await _delivered(stack, second.run_id)
    assert len(hub.store.issues.all()) == 5
    assert hub.stats.counts["issues_existing"] == 5
    rows = await stack.ledger.tasks(run_id=second.run_id)
    assert {r.state for r in rows} == {"already_filed"}
    assert {r.issue_id for r in rows} == {i["id"] for i in issues}

    # A new problem files one issue.
    _define(stack, "filer", [*keys, "blocked-highest-cost:t-9"], sink)
    third = await stack.run("filer")
    await _delivered(stack, third.run_id)
    assert len(hub.store.issues.all()) == 6
    assert hub.stats.counts["issues_created"] == 6
    rows = await stack.ledger.tasks(run_id=third.run_id)
    assert sorted(r.key for r in rows if r.state == "filed") == ["blocked-highest-cost:t-9"]
    note = Path(str(third.report_path)).read_text(encoding="utf-8")
    assert "Tasks (filed at issue-core through `issues`" in note


async def test_a_failure_mid_batch_resumes_where_it_stopped_and_files_none_twice(
    stack: Stack, hub: StateHub
) -> None:
    keys = [f"stale:t-{n}" for n in range(8)]
    _define(stack, "midway", keys, {"url": hub.url, "backend": "issue_core"})
    hub.set_fault("503", after=3, path="/issues", retry_after=3600)
    result = await stack.run("midway")
    assert result.outcome == RunOutcome.RAN  # the run never waits for the sink
    handle = stack.delivery(result.run_id, "issues")

    async def waiting() -> None:
        status = await stack.status(handle)
        assert status.state == DeliveryState.WAITING
        assert (status.items_done, status.items_total) == (3, 8)
        assert status.last_error and "task 1/5" in status.last_error and "503" in status.last_error

    await assert_eventually(waiting)

    async def ledger_shows_partial() -> None:
        rows = await stack.ledger.tasks(run_id=result.run_id)
        states = sorted(r.state for r in rows)
        assert states == ["filed"] * 3 + ["pending"] * 5
        deliveries = await stack.ledger.deliveries(result.run_id)
        assert [(d.state, d.items_done, d.items_total) for d in deliveries] == [("waiting", 3, 8)]

    await assert_eventually(ledger_shows_partial)
    hub.set_fault("none")
    await handle.signal("retry_now")
    status = await _delivered(stack, result.run_id)
    assert (status.items_done, status.items_total) == (8, 8)
    assert sorted(i["key"] for i in hub.store.issues.all()) == sorted(keys)
    # Exactly one request reached the store per task: the three accepted first were
    # never sent again (a re-send would count as "existing").
    assert hub.stats.counts["issues_created"] == 8
    assert hub.stats.counts["issues_existing"] == 0

    async def ledger_filed() -> None:
        rows = await stack.ledger.tasks(run_id=result.run_id)
        assert {r.state for r in rows} == {"filed"}

    await assert_eventually(ledger_filed)


async def test_rejected_tasks_park_the_batch_dead_with_an_alert_and_retry_files_them(
    stack: Stack, hub: StateHub
) -> None:
    keys = [f"inconsistent:t-{n}" for n in range(5)]
    _define(stack, "refused", keys, {"url": hub.url, "backend": "issue_core"})
    hub.set_fault("400", after=2, path="/issues")
    result = await stack.run("refused")
    handle = stack.delivery(result.run_id, "issues")

    async def dead() -> None:
        status = await stack.status(handle)
        assert status.state == DeliveryState.DEAD
        assert (status.items_done, status.items_total) == (2, 5)
        assert status.last_error and "3 task(s) rejected" in status.last_error

    await assert_eventually(dead)
    # Rejections are per task: the sink was not given up on after the first one.
    assert hub.stats.counts["fault_400"] == 3

    async def one_alert_note() -> str:
        notes = stack.alert_notes()
        assert len(notes) == 1
        return notes[0].read_text()

    text = await assert_eventually(one_alert_note)
    assert "Tasks of refused not filed at issues (2 of 5 tasks filed, 3 rejected)" in text
    assert "rejected `inconsistent:t-2`" in text
    hub.set_fault("none")
    await handle.signal("retry_now")
    status = await _delivered(stack, result.run_id)
    assert (status.state, status.items_done) == (DeliveryState.DELIVERED, 5)
    assert len(hub.store.issues.all()) == 5
    assert hub.stats.counts["issues_created"] == 5


def _item(id: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": id,
        "title": f"item {id}",
        "workstream": "platform",
        "status": kw.pop("status", "todo"),
        "owner": "ana",
        "business_value": kw.pop("bv", 5),
        "time_criticality": 3,
        "risk_reduction": 2,
        "job_size": kw.pop("size", 5),
        "blocked": kw.pop("blocked", False),
        "updated_at": kw.pop("updated_at", datetime.now(UTC).isoformat()),
        "tags": [],
    }


async def test_triage_files_its_four_kinds_once_and_only_new_problems_later(
    stack: Stack, hub: StateHub
) -> None:
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    hub.store.tasks.put(
        [
            _item("T-1", blocked=True, status="blocked", bv=13),
            _item("T-2", blocked=True, status="blocked", bv=1),
            _item("T-3", size=None),  # missing estimate (and a loose end)
            _item("T-4", updated_at=old),  # stale
            _item("T-5"),  # healthy
        ]
    )
    stack.define(
        "triage-tasks",
        handler="wsjf_triage",
        resolvers=[
            {"name": "work_items", "url": hub.url},
            {"name": "consistency_sweep", "url": hub.url, "required": False},
        ],
        sinks=[{"type": "issue", "backend": "issue_core", "url": hub.url}],
    )
    first = await stack.run("triage-tasks")
    await _delivered(stack, first.run_id)
    keys = sorted(i["key"] for i in hub.store.issues.all())
    assert keys == [
        "blocked-highest-cost:t-1",  # the blocked item with the highest cost of delay only
        "inconsistent:t-3",
        "missing-estimate:t-3",
        "stale:t-4",
    ]
    # The next morning: the same problems, nothing new; a new stale item files one.
    second = await stack.run("triage-tasks")
    await _delivered(stack, second.run_id)
    assert len(hub.store.issues.all()) == 4
    hub.store.tasks.put([_item("T-6", updated_at=old)])
    third = await stack.run("triage-tasks")
    await _delivered(stack, third.run_id)
    assert sorted(i["key"] for i in hub.store.issues.all()) == sorted([*keys, "stale:t-6"])
    assert hub.stats.counts["issues_created"] == 5
