"""The dev stack's demo: one manual run per demo definition and one event, each
described with where to look (note, deliveries, tasks, Web UI, State Hub)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.parse import quote

from pydantic import SecretStr
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.notes import read_front_matter
from activity_core.dev.stack import DEMO_DEFINITIONS, DEMO_EVENT, DevStack
from activity_core.domain import ActivityDefinition, DeliveryState, RunResult
from activity_core.domain.events import event_run_id, matching
from activity_core.events import connect_nats, publish_event
from activity_core.events.jetstream import new_envelope
from activity_core.loader import load_definitions
from activity_core.services.runs import start_manual_run
from activity_core.temporal_client import connect
from workflows.report_delivery import ReportDeliveryWorkflow


async def run_demo(stack: DevStack, name: str = DEMO_DEFINITIONS[0], within: float = 90.0) -> str:
    """Trigger one run of ``name``, wait for its report and delivery, describe them."""
    settings = stack.settings
    loaded = load_definitions(
        settings.definitions_dir, settings.activity_timeout_seconds, settings.egress_policy()
    )
    definition = loaded.by_name(name)
    client = await connect(stack.temporal_env())
    handle = await start_manual_run(client, definition)
    result: RunResult = await asyncio.wait_for(handle.result(), within)
    return await _describe(stack, client, definition, result)


async def run_event_demo(stack: DevStack, within: float = 60.0) -> str | None:
    """Publish the demo event; describe the run it started (None: nothing listens)."""
    settings = stack.settings
    loaded = load_definitions(
        settings.definitions_dir, settings.activity_timeout_seconds, settings.egress_policy()
    )
    event_type, payload = DEMO_EVENT
    envelope = new_envelope(event_type, payload, source="actcore-dev-demo", subject="user/42")
    listeners = matching(loaded.definitions, envelope)
    if not listeners:
        return None
    if stack.own_nats:
        settings = settings.model_copy(update={"nats_url": SecretStr(stack.nats_url)})
    nc = await connect_nats(settings, name="actcore-dev-demo")
    try:
        await publish_event(nc.jetstream(), envelope)
    finally:
        await nc.drain()
    client = await connect(stack.temporal_env())
    definition = listeners[0]
    handle = client.get_workflow_handle(
        event_run_id(definition, envelope.event_id), result_type=RunResult
    )
    deadline = time.monotonic() + within
    while True:
        try:
            result = await asyncio.wait_for(handle.result(), within)
            break
        except RPCError as exc:
            # Not started yet: the router picks the event up within a second or so.
            if exc.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
    head = f"Event            {event_type} {json.dumps(payload)} ({envelope.event_id})"
    return head + "\n" + await _describe(stack, client, definition, result)


async def _describe(
    stack: DevStack, client: Client, definition: ActivityDefinition, result: RunResult
) -> str:
    lines = [
        f"Run              {result.run_id} -> {result.outcome.value}",
        f"Report note      {result.report_path}",
    ]
    for d in result.deliveries:
        child = client.get_workflow_handle_for(ReportDeliveryWorkflow.run, d.workflow_id)
        state = "?"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = await child.query(ReportDeliveryWorkflow.status)
            state = f"{status.state.value} after {status.attempts} attempt(s)"
            if status.items_total is not None:
                state += f", {status.items_done} of {status.items_total} tasks filed"
            if status.state in (DeliveryState.DELIVERED, DeliveryState.DEAD):
                break
            await asyncio.sleep(0.3)
        lines.append(f"Delivery         {d.workflow_id}: {state}")
    tasks = _note_tasks(result.report_path)
    if tasks and definition.issue_sinks:
        filed = any(d.sink in {s.name for s in definition.issue_sinks} for d in result.deliveries)
        lines.append(
            f"Tasks            {tasks} in the note; "
            + (
                f"filed at {stack.hub_url}/issues/"
                if filed
                else "a dry run (ACTCORE_ISSUE_SINK_TYPE=null: nothing filed; `actcore tasks list`)"
            )
        )
    query = quote(f'ActivityId="{definition.id}"')
    lines += [
        f"Web UI, this run {await run_page(stack.ui_url, client, result.run_id)}",
        f"Web UI, all runs {stack.ui_url}/namespaces/default/workflows?query={query}",
        f"State Hub events {stack.hub_url}/progress/?event_type="
        + ",".join(getattr(s, "event_type", s.name) for s in definition.remote_sinks),
    ]
    return "\n".join(lines)


async def run_page(ui_url: str, client: Client, workflow_id: str) -> str:
    """The Web UI page of one workflow execution (its history)."""
    described = await client.get_workflow_handle(workflow_id).describe()
    return (
        f"{ui_url}/namespaces/{quote(client.namespace)}/workflows/"
        f"{quote(workflow_id, safe='')}/{described.run_id}/history"
    )


def _note_tasks(path: str | None) -> int:
    """How many tasks a report note lists (its front matter says)."""
    if not path or not Path(path).is_file():
        return 0
    count = read_front_matter(Path(path)).get("tasks", 0)
    return count if isinstance(count, int) else 0
