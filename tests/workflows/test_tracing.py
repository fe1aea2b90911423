"""Traces: run -> delivery child -> HTTP call to the sink, in one trace."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activity_core.dev.statehub import StateHub
from activity_core.domain import RunInput
from activity_core.tracing import interceptor
from tests.helpers import running_stack, span_exporter
from workflows.activity_run import ActivityRunWorkflow


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


async def test_a_run_started_without_a_trace_is_one_trace_under_its_own_root(
    env: WorkflowEnvironment, tmp_path: Path, hub: StateHub
) -> None:
    """A schedule, the CLI or the Web UI start a run with no caller's span: the worker
    still puts the run's workflow, every activity, the delivery child and its HTTP call
    into one trace, under a root span named for the run; another run is another trace."""
    exporter = span_exporter()
    config = env.client.config()
    config["interceptors"] = [*config["interceptors"], interceptor()]
    traced_worker = Client(**config)

    async with running_stack(env, traced_worker, tmp_path) as stack:
        stack.define(
            "untraced-start",
            sinks=[{"type": "state_hub_progress", "event_type": "u", "url": hub.url}],
        )
        ids = []
        for n in range(2):
            # The starting client has no tracing interceptor: no context in the start.
            handle = await env.client.start_workflow(
                ActivityRunWorkflow.run,
                RunInput(
                    activity_name="untraced-start",
                    trigger="manual",
                    activity_task_queue=stack.activity_tq,
                ),
                id=f"run-untraced-{n}-{uuid.uuid4().hex[:6]}",
                task_queue=stack.workflow_tq,
            )
            result = await handle.result()
            await stack.delivery(result.run_id, "state_hub").result()
            ids.append(handle.id)

    spans = exporter.get_finished_spans()
    traces = []
    for workflow_id in ids:
        (root,) = [sp for sp in spans if sp.name == f"Run:ActivityRunWorkflow {workflow_id}"]
        assert root.parent is None
        trace_id = root.context.trace_id
        mine = [sp for sp in spans if sp.context.trace_id == trace_id]
        names = {sp.name for sp in mine}
        assert {
            "RunWorkflow:ActivityRunWorkflow",
            "StartChildWorkflow:ReportDeliveryWorkflow",
            "RunWorkflow:ReportDeliveryWorkflow",
            "RunActivity:deliver",
            "POST state_hub",
        } <= names, names
        assert sum(sp.name.startswith("RunActivity:") for sp in mine) >= 3
        # Every span of the run chains up to the root.
        by_id = {sp.context.span_id: sp for sp in mine}
        for sp in mine:
            top = sp
            while top.parent is not None:
                top = by_id[top.parent.span_id]
            assert top is root, (sp.name, top.name)
        traces.append(trace_id)
    assert traces[0] != traces[1]
    # Nothing of these runs started a trace of its own.
    run_spans = [
        sp
        for sp in spans
        if sp.attributes and sp.attributes.get("temporalWorkflowID", "").startswith("run-untraced")
    ]
    assert {sp.context.trace_id for sp in run_spans} <= set(traces)
