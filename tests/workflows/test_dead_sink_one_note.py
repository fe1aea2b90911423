"""One broken sink is one problem: the deliveries that go dead behind it (from several
runs and definitions, and again after a retry while it is still broken) leave one alert
note for the sink and day, not one each."""

from __future__ import annotations

from activities.notes import read_front_matter
from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryState
from tests.helpers import Stack, assert_eventually


async def test_deliveries_dead_behind_one_sink_leave_one_note(stack: Stack, hub: StateHub) -> None:
    sink = [{"type": "state_hub_progress", "event_type": "dead", "url": hub.url}]
    stack.define("dead-a", sinks=sink)
    stack.define("dead-b", sinks=sink)
    hub.set_fault("400")  # permanent: each delivery goes dead at its first attempt
    with stack.env.with_time_skipping_disabled():
        runs = [await stack.run(name) for name in ("dead-a", "dead-a", "dead-b")]
        children = [stack.delivery(r.run_id, "state_hub") for r in runs]

        async def all_dead() -> None:
            for child in children:
                assert (await stack.status(child)).state == DeliveryState.DEAD

        await assert_eventually(all_dead, within=60)
        assert hub.stats.counts["fault_400"] == 3
        notes = stack.alert_notes()
        assert len(notes) == 1, [n.name for n in notes]
        front = read_front_matter(notes[0])
        assert front["alert_kind"] == "delivery_dead"
        assert str(front["alert_key"]).startswith("delivery_dead:state_hub:")
        assert "Further deliveries to `state_hub` that go dead today" in notes[0].read_text()

        # Woken while the sink is still broken: dead again, and still the one note.
        for child in children:
            await child.signal("retry_now")

        async def tried_again() -> None:
            assert hub.stats.counts["fault_400"] == 6
            for child in children:
                assert (await stack.status(child)).state == DeliveryState.DEAD

        await assert_eventually(tried_again, within=60)
        assert len(stack.alert_notes()) == 1
