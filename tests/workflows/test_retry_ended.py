"""`deliveries retry ID` on a delivery that has ended says so (delivered: exit 0), instead
of "no delivery"; the API answers 409 for it and 404 only for an id that never existed."""

from __future__ import annotations

import httpx

from activity_core.api import create_app
from activity_core.dev.statehub import StateHub
from activity_core.domain.report import delivery_workflow_id
from activity_core.settings import Settings
from tests.helpers import Stack

TOKEN = "write-token-0123456789"


async def test_retrying_a_delivered_delivery_says_it_is_delivered(
    stack: Stack, hub: StateHub
) -> None:
    stack.define(
        "retried-late",
        sinks=[{"type": "state_hub_progress", "event_type": "r", "url": hub.url}],
    )
    run = await stack.run("retried-late")
    await stack.delivery(run.run_id, "state_hub").result()
    delivery = delivery_workflow_id(run.run_id, "state_hub")
    again = await stack.actcore("deliveries", "retry", delivery)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{delivery} is already delivered: nothing to retry" in again.stdout
    unknown = await stack.actcore("deliveries", "retry", "delivery-nope-state_hub")
    assert unknown.returncode == 1 and "no delivery 'delivery-nope-state_hub'" in unknown.stderr
    app = create_app(
        Settings(home=stack.settings.home, definitions_dir=stack.definitions_dir, api_token=TOKEN),
        store=stack.store,
        client=stack.client,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            http.headers["Authorization"] = f"Bearer {TOKEN}"
            ended = await http.post(f"/deliveries/{delivery}/retry")
            assert ended.status_code == 409 and "(delivered)" in ended.json()["detail"]
            missing = await http.post("/deliveries/delivery-nope-state_hub/retry")
            assert missing.status_code == 404
