"""A definition's schedule reads on its own in the Web UI and the CLI: the note names the
definition first, and the schedule carries ActivityId and ActivityName (also a schedule
written before they existed, at the next sync)."""

from __future__ import annotations

import uuid

from temporalio.testing import WorkflowEnvironment

from activity_core.domain import ActivityDefinition, build_schedule
from activity_core.domain import search_attributes as sa
from activity_core.services.schedules import sync_schedules
from tests.helpers import assert_eventually


def _definition(name: str, cron: str) -> ActivityDefinition:
    return ActivityDefinition.model_validate(
        {
            "name": name,
            "handler": "static_report",
            "trigger_config": {
                "trigger_type": "cron",
                "cron_expression": cron,
                "timezone": "Europe/Berlin",
                "misfire_policy": "skip",
            },
        }
    )


async def test_the_schedule_names_its_definition_and_is_found_by_it(
    env: WorkflowEnvironment,
) -> None:
    client = env.client
    name = f"readable-{uuid.uuid4().hex[:6]}"
    definition = _definition(name, "0 6 * * *")
    desired = build_schedule(definition)
    # Written the old way: no search attributes, the note without the name.
    old = desired.schedule
    old.state.note = f"managed by activity-core sync; fingerprint {uuid.uuid4().hex[:16]}"
    await client.create_schedule(desired.schedule_id, old)
    handle = client.get_schedule_handle(desired.schedule_id)
    try:
        changes = await sync_schedules(client, [definition], prune=False)
        assert [c.action for c in changes] == ["update"]

        async def readable() -> None:
            # An update reaches the schedule's own workflow a moment after it is accepted.
            described = await handle.describe()
            assert (described.schedule.state.note or "").startswith(f"{name}: ")
            attrs = described.typed_search_attributes
            assert attrs.get(sa.ACTIVITY_NAME) == name
            assert attrs.get(sa.ACTIVITY_ID) == str(definition.id)

        await assert_eventually(readable, within=20)

        # Found by name, as the Web UI's Schedules page and `temporal schedule list` do.
        async def listed() -> None:
            found = [s.id async for s in await client.list_schedules(f"ActivityName = '{name}'")]
            assert found == [desired.schedule_id]

        await assert_eventually(listed, within=20)

        # Unchanged next time; a changed trigger keeps them.
        again = await sync_schedules(client, [definition], prune=False)
        assert [c.action for c in again] == ["unchanged"]
        changed = await sync_schedules(client, [_definition(name, "0 7 * * *")], prune=False)
        assert [c.action for c in changed] == ["update"]
        await assert_eventually(readable, within=20)
    finally:
        await handle.delete()
