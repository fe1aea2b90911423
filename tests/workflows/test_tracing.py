"""Traces: run -> delivery child -> HTTP call to the sink, in one trace."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activity_core.dev.statehub import StateHub
from activity_core.tracing import interceptor
from tests.helpers import running_stack, span_exporter


async def test_span_tree_run_to_delivery_to_http(
    env: WorkflowEnvironment, tmp_path: Path, hub: StateHub
) -> None:
    exporter = span_exporter()
    config = env.client.config()
    config["interceptors"] = [*config["interceptors"], interceptor()]
    client = Client(**config)

    async with running_stack(env, client, tmp_path) as stack:
        stack.define(
            "traced",
            sinks=[{"type": "state_hub_progress", "event_type": "t", "url": hub.url}],
        )
        result = await stack.run("traced")
        await stack.delivery(result.run_id, "state_hub").result()

    spans = exporter.get_finished_spans()
    by_id = {sp.context.span_id: sp for sp in spans}
    (http,) = [sp for sp in spans if sp.name == "POST state_hub"]
    assert http.attributes is not None
    assert http.attributes["http.response.status_code"] == 201

    def chain(span):  # type: ignore[no-untyped-def]
        names = []
        while span is not None:
            names.append(span.name)
            span = by_id.get(span.parent.span_id) if span.parent else None
        return names

    assert chain(http) == [
        "POST state_hub",
        "RunActivity:deliver",
        "StartActivity:deliver",
        "StartChildWorkflow:ReportDeliveryWorkflow",
        "StartWorkflow:ActivityRunWorkflow",
    ]
    trace_id = http.context.trace_id
    in_trace = {sp.name for sp in spans if sp.context.trace_id == trace_id}
    assert {"RunWorkflow:ActivityRunWorkflow", "RunWorkflow:ReportDeliveryWorkflow"} <= in_trace
