"""PROMETHEUS_BIND_ADDR: the worker serves Temporal's and activity-core's own metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment

from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryState, WatchdogInput
from activity_core.telemetry import poll_gauges, prometheus_runtime
from activity_core.worker import build_workers
from tests.helpers import Stack, assert_eventually, free_port, running_stack
from workflows.report_delivery import ReportDeliveryWorkflow
from workflows.watchdog import MissedFireWatchdogWorkflow


async def metered_client(env: WorkflowEnvironment) -> tuple[Client, Runtime, int]:
    """A client whose runtime serves Prometheus metrics on a free port."""
    port = free_port()
    runtime = prometheus_runtime(f"127.0.0.1:{port}")
    assert runtime is not None
    client = await Client.connect(
        env.client.service_client.config.target_host,
        runtime=runtime,
        data_converter=pydantic_data_converter,
    )
    return client, runtime, port


async def test_metrics_endpoint_has_runs_attempts_alerts_and_gauges(
    env: WorkflowEnvironment, tmp_path: Path, hub: StateHub
) -> None:
    client, runtime, port = await metered_client(env)
    async with running_stack(env, client, tmp_path) as stack:
        stack.define(
            "metered",
            sinks=[{"type": "state_hub_progress", "event_type": "m", "url": hub.url}],
        )
        gauges = asyncio.create_task(poll_gauges(client, runtime, 0.5, stack.ledger.last_successes))
        try:
            await _exercise_and_scrape(stack, hub, port)
        finally:
            gauges.cancel()


async def _exercise_and_scrape(stack: Stack, hub: StateHub, port: int) -> None:
    """A delivered and a dead delivery, then every series on the endpoint."""
    delivered = (await stack.run("metered")).run_id
    await stack.delivery(delivered, "state_hub").result()
    hub.set_fault("400")
    dead = (await stack.run("metered")).run_id
    dead_child = stack.delivery(dead, "state_hub")

    async def is_dead() -> None:
        status = await dead_child.query(ReportDeliveryWorkflow.status)
        assert status.state == DeliveryState.DEAD

    await assert_eventually(is_dead)

    async def scraped() -> None:
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        lines = text.splitlines()

        def has(name: str, *labels: str) -> bool:
            return any(
                line.startswith(name) and all(lbl in line for lbl in labels) for line in lines
            )

        assert has("activity_core_runs_total", 'activity="metered"', 'outcome="ran"')
        assert has("activity_core_delivery_attempts_total", 'result="delivered"')
        assert has("activity_core_delivery_attempts_total", 'result="permanent"')
        assert has("activity_core_delivery_transitions_total", 'state="dead"')
        assert has("activity_core_alerts_total", 'activity="metered"', 'kind="delivery_dead"')
        assert has("temporal_workflow_completed")  # the SDK own metrics are there too
        # Parsed as Prometheus parses it: no constant service_name label on every series,
        # durations in seconds with the unit in the name.
        families = {f.name: f for f in text_string_to_metric_families(text)}
        labels = {k for f in families.values() for smp in f.samples for k in smp.labels}
        assert "service_name" not in labels
        latency = families["temporal_activity_execution_latency_seconds"]
        assert latency.type == "histogram"
        buckets = [smp for smp in latency.samples if smp.name.endswith("_bucket")]
        assert any(float(smp.labels["le"]) < 1 for smp in buckets), "buckets in seconds"
        assert "temporal_activity_execution_latency" not in families

        def sample(family: str, name: str, **labels: str) -> float:
            assert family in families, f"no {family} yet"
            found = [
                smp.value
                for smp in families[family].samples
                if smp.name == name and labels.items() <= smp.labels.items()
            ]
            assert len(found) == 1, (name, labels, families[family].samples)
            return found[0]

        # Our own: durations, deliveries per sink, the last success per definition.
        runs = families["activity_core_run_duration_seconds"]
        assert runs.type == "histogram"
        assert sample(runs.name, f"{runs.name}_count", activity="metered", outcome="ran") == 2
        took = families["activity_core_delivery_duration_seconds"]
        assert sample(took.name, f"{took.name}_count", sink="state_hub", state="delivered") == 1
        assert sample(took.name, f"{took.name}_count", sink="state_hub", state="dead") == 1
        gauge = "activity_core_deliveries"
        assert sample(gauge, gauge, state="dead", sink="state_hub") >= 1
        last = "activity_core_last_success_timestamp_seconds"
        finished = await stack.ledger.last_successes()
        assert sample(last, last, activity="metered") == int(finished["metered"].timestamp())

    await assert_eventually(scraped, within=20, interval=0.5)


async def test_watchdog_alerts_open_alerts_and_last_pass_are_exported(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client, _, port = await metered_client(env)
    async with running_stack(env, client, tmp_path) as stack:
        # Never synced: the schedule is missing, so its fires are missing too.
        stack.define(
            "unscheduled",
            trigger_config={
                "trigger_type": "interval",
                "every_seconds": 600,
                "misfire_policy": "skip",
            },
        )
        queue = f"{stack.workflow_tq}-watchdog"
        workers = build_workers(client, stack.settings, runs=False, watchdog_task_queue=queue)
        stop = asyncio.Event()
        task = asyncio.create_task(workers.run_until(stop))
        try:
            with env.with_time_skipping_disabled():
                result = await client.execute_workflow(
                    MissedFireWatchdogWorkflow.run,
                    WatchdogInput(names=["unscheduled"]),
                    id=f"metrics-watchdog-{queue}",
                    task_queue=queue,
                )
            assert [a.kind for a in result.state.open_alerts] == ["missing"]
            assert "schedule deleted" in result.state.open_alerts[0].fires[0].detail

            async def scraped() -> None:
                async with httpx.AsyncClient() as http:
                    text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                lines = text.splitlines()
                assert any(
                    line.startswith("activity_core_watchdog_alerts_total")
                    and 'kind="missing"' in line
                    and 'severity="page"' in line
                    for line in lines
                ), text[:2000]
                opened = [
                    line
                    for line in lines
                    if line.startswith("activity_core_watchdog_open_alerts{")
                    and 'severity="page"' in line
                ]
                assert opened and float(opened[0].rsplit(" ", 1)[1]) >= 1
                families = {f.name: f for f in text_string_to_metric_families(text)}
                last = families["activity_core_watchdog_last_pass_timestamp_seconds"]
                assert last.type == "gauge" and last.samples[0].value > 1.7e9

            await assert_eventually(scraped, within=15)
        finally:
            stop.set()
            await task
