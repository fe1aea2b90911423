"""CLI tables in a 100-column terminal: everything fits, the id stays whole, the reason
for a waiting delivery is shown; ``--wide`` shows every column unshortened."""

from __future__ import annotations

import json

from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryState
from tests.helpers import Stack, assert_eventually


async def test_deliveries_list_fits_100_columns_and_says_why_a_delivery_waits(
    stack: Stack, hub: StateHub
) -> None:
    name = "a-definition-with-a-long-enough-name-to-crowd-the-table"
    stack.define(name, sinks=[{"type": "state_hub_progress", "event_type": "t", "url": hub.url}])
    hub.set_fault("refuse")
    with stack.env.with_time_skipping_disabled():
        result = await (await stack.start_run(name)).result()
    delivery = stack.delivery(result.run_id, "state_hub")

    async def waiting() -> list[dict[str, object]]:
        assert (await stack.status(delivery)).state == DeliveryState.WAITING
        listed = await stack.actcore("deliveries", "list", "--activity", name, "--json")
        assert listed.returncode == 0, listed.stderr
        rows: list[dict[str, object]] = json.loads(listed.stdout)
        assert [r["status"] for r in rows] == ["waiting"]
        return rows

    (row,) = await assert_eventually(waiting, within=30)
    assert "connection refused" in str(row["last_error"])

    narrow = await stack.actcore("deliveries", "list", "--activity", name)
    assert narrow.returncode == 0, narrow.stderr
    lines = narrow.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines), narrow.stdout
    assert lines[0].split() == ["ID", "STATUS", "TRIES", "NEXT", "(UTC)", "LAST", "ERROR"]
    assert "connection refused" in narrow.stdout
    assert "None" not in narrow.stdout
    # The id wraps rather than being cut: its pieces, read down the first column, are whole.
    width = lines[0].index("STATUS")
    folded = "".join(line[:width].strip() for line in lines[1:])
    assert folded == delivery.id

    wide = await stack.actcore("deliveries", "list", "--activity", name, "--wide", columns=60)
    (line,) = [x for x in wide.stdout.splitlines() if x.startswith(delivery.id)]
    for column in (name, "state_hub", "waiting", "running", "connection refused"):
        assert column in line

    bad = await stack.actcore("deliveries", "list", "--activity", "x' OR '1'='1")
    assert bad.returncode == 2 and "is not a definition name" in bad.stderr


async def test_a_delivered_delivery_shows_how_many_tries_it_took(
    stack: Stack, hub: StateHub
) -> None:
    name = "tries-after-delivery"
    stack.define(name, sinks=[{"type": "state_hub_progress", "event_type": "t", "url": hub.url}])
    hub.set_fault("503", after=0)
    with stack.env.with_time_skipping_disabled():
        result = await (await stack.start_run(name)).result()
        delivery = stack.delivery(result.run_id, "state_hub")

        async def waiting() -> None:
            assert (await stack.status(delivery)).state == DeliveryState.WAITING

        await assert_eventually(waiting, within=30)
        hub.set_fault("none")
        await delivery.signal("retry_now")
        await delivery.result()
    listed = await stack.actcore("deliveries", "list", "--activity", name, "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    table = await stack.actcore("deliveries", "list", "--activity", name)
    (line,) = [x for x in table.stdout.splitlines() if "delivered" in x]
    assert line.split()[2] == "2", table.stdout
