"""`deliveries recover`: after an outage of two sinks, the window's dead deliveries are
woken once each, paced, oldest first, and the recover writes one summary note (a delivery
that goes dead again writes none of its own)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activity_core.dev.statehub import StateHub
from activity_core.domain import RunOutcome
from activity_core.domain.recover import RecoverResult
from activity_core.domain.report import delivery_workflow_id
from activity_core.services.backfill import start_recover
from tests.helpers import Stack, assert_eventually


async def test_recover_wakes_the_window_s_dead_deliveries_once_with_one_summary(
    stack: Stack,
) -> None:
    hubs = {name: StateHub().start() for name in ("hub-a", "hub-b", "hub-c")}
    try:
        since = datetime.now(UTC) - timedelta(seconds=1)
        for hub in hubs.values():
            hub.set_fault("400")  # a permanent refusal: each delivery is dead at once
        stack.define(
            "recovered",
            sinks=[
                {"type": "state_hub_progress", "name": n, "event_type": "r", "url": h.url}
                for n, h in hubs.items()
            ],
        )
        runs = [await stack.run("recovered") for _ in range(2)]
        assert all(r.outcome == RunOutcome.RAN for r in runs)
        ids = [delivery_workflow_id(r.run_id, n) for r in runs for n in hubs]

        async def all_dead() -> None:
            found = await start_recover(
                stack.client, stack.settings, since=since, until=None, sink=None, dry_run=True
            )
            assert sorted(found[0].delivery_ids) == sorted(ids)

        await assert_eventually(all_dead, within=30, interval=0.5)
        notes_before = sorted((stack.working_memory / "alerts").glob("alert-*.md"))
        hubs["hub-a"].set_fault("none")
        hubs["hub-b"].set_fault("none")  # hub-c stays broken

        # The CLI's dry run names them, oldest first, and wakes nothing.
        dry = await stack.actcore(
            "deliveries", "recover", "--since", since.isoformat(), "--dry-run"
        )
        assert dry.returncode == 0, dry.stderr
        assert "6 deliveries would be woken" in dry.stdout
        assert [line.strip() for line in dry.stdout.splitlines()[1:]] == ids  # oldest first
        assert hubs["hub-a"].events() == []

        inp, handle = await start_recover(
            stack.client,
            stack.settings,
            since=since,
            until=None,
            sink=None,
            settle_seconds=20,
            task_queue=stack.workflow_tq,
            activity_task_queue=stack.activity_tq,
        )
        assert handle is not None and inp.sinks == ["hub-a", "hub-b", "hub-c"]
        result = RecoverResult.model_validate(await handle.result())
        assert result.woken == 6
        assert sorted(result.states.values()) == ["dead", "dead"] + ["delivered"] * 4
        for name in ("hub-a", "hub-b"):
            keys = [e["idempotency_key"] for e in hubs[name].events()]
            assert len(keys) == len(set(keys)) == 2, f"{name}: each report once"
        assert hubs["hub-c"].events() == []

        notes = sorted((stack.working_memory / "alerts").glob("alert-*.md"))
        added = [n for n in notes if n not in notes_before]
        assert len(added) == 1, [n.name for n in added]  # the summary, nothing per delivery
        summary = added[0].read_text()
        assert added[0].name.startswith("alert-deliveries_recovered-")
        assert "6 deliveries woken, 2 dead, 4 delivered" in summary
        for d in ids:
            assert (f"`{d}`: dead" in summary) == d.endswith("hub-c")

        # What is left for the next recover: only hub-c's two.
        left, _ = await start_recover(
            stack.client, stack.settings, since=since, until=None, sink=None, dry_run=True
        )
        assert sorted(left.delivery_ids) == sorted(d for d in ids if d.endswith("hub-c"))
        only_a, _ = await start_recover(
            stack.client, stack.settings, since=since, until=None, sink="hub-a", dry_run=True
        )
        assert only_a.delivery_ids == []
    finally:
        for hub in hubs.values():
            hub.stop()
