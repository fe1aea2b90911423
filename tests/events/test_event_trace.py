"""The envelope's trace id joins the router's span and the run's workflow spans."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import nats
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activity_core.catalog import Catalog
from activity_core.events import Router
from activity_core.events.sources import DefinitionSource
from activity_core.tracing import interceptor
from tests.events.conftest import NatsServer, define_event_type
from tests.events.test_router import envelope, listen, runs_of
from tests.helpers import assert_eventually, running_stack, span_exporter


async def test_route_span_carries_the_envelope_trace_into_the_run(
    env: WorkflowEnvironment, tmp_path: Path, nats_server: NatsServer
) -> None:
    exporter = span_exporter()
    config = env.client.config()
    config["interceptors"] = [*config["interceptors"], interceptor()]
    client = Client(**config)
    async with running_stack(env, client, tmp_path / "w") as stack:
        define_event_type(stack, "user.created")
        name = f"traced-{uuid.uuid4().hex[:6]}"
        listen(stack, name)
        nc = await nats.connect(nats_server.url)
        router = Router(
            client,
            nc.jetstream(),
            DefinitionSource(stack.settings, Catalog(stack.settings, None)),
            stack.settings,
            task_queue=stack.workflow_tq,
            activity_task_queue=stack.activity_tq,
        )
        await router.setup()
        event = envelope()
        await nc.jetstream().publish("activity.user.created", json.dumps(event).encode())
        msgs = await router._sub.fetch(1, timeout=5)  # type: ignore[union-attr]
        await router.handle(msgs[0])

        async def started() -> str:
            ids = await runs_of(stack, name)
            assert len(ids) == 1, ids
            return ids[0]

        run_id = await assert_eventually(started)
        await client.get_workflow_handle(run_id).result()
        await nc.close()

    want = int(event["trace_id"].replace("-", ""), 16)

    def spans_in_trace() -> set[str]:
        names = {sp.name for sp in exporter.get_finished_spans() if sp.context.trace_id == want}
        assert {"route event", "StartWorkflow:ActivityRunWorkflow"} <= names, names
        assert "RunWorkflow:ActivityRunWorkflow" in names, names
        return names

    async def check() -> None:
        spans_in_trace()

    await assert_eventually(check, within=10)
    route = next(sp for sp in exporter.get_finished_spans() if sp.name == "route event")
    assert route.attributes is not None
    assert route.attributes["activity_core.event_id"] == event["event_id"]
