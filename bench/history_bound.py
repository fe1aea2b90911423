"""History bound: one delivery through sink outages of growing length, under time skipping.

Each outage is fast-forwarded on a dev server with time skipping V2, then the sink comes
back and the delivery completes. Measured per outage length: continue-as-new hops and
the largest number of events in any one execution of the chain. The per-execution figure
must stay flat as the outage grows (the server's default continue-as-new suggestion is
left as it is; the delivery's own bound applies).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryInput, DeliveryPolicy, ProgressEvent, StateHubProgressSink
from activity_core.domain import search_attributes as sa
from activity_core.settings import Settings
from activity_core.temporal_client import SINGLE_PARTITION_FLAGS
from activity_core.worker import build_workers
from bench.harness import name_sink, report, run_alone, temporal_binary
from workflows.report_delivery import HISTORY_EVENT_BUDGET, ReportDeliveryWorkflow


async def _one(env: WorkflowEnvironment, hub: StateHub, wtq: str, atq: str, days: int) -> dict:
    client = env.client
    wid = f"bench-history-{days}d-{uuid.uuid4().hex[:6]}"
    hub.set_fault("refuse")
    handle = await client.start_workflow(
        ReportDeliveryWorkflow.run,
        DeliveryInput(
            run_id=wid,
            activity_id="bench",
            activity_name="bench-history",
            sink=StateHubProgressSink(type="state_hub_progress", event_type="bench", url=hub.url),
            event=ProgressEvent(
                event_type="bench", summary="s", detail={"activity_core_run_id": wid}
            ),
            policy=DeliveryPolicy(horizon_seconds=(days + 10) * 86400.0),
            activity_task_queue=atq,
        ),
        id=wid,
        task_queue=wtq,
    )
    started = time.perf_counter()
    await env.fast_forward(handle, timedelta(days=days))
    hub.set_fault("none")
    await env.fast_forward(handle, timedelta(hours=6))
    final = await client.get_workflow_handle_for(ReportDeliveryWorkflow.run, wid).result()
    wall = time.perf_counter() - started
    runs = [ex async for ex in client.list_workflows(f"WorkflowId = '{wid}'")]
    lengths = []
    for ex in runs:
        history = await client.get_workflow_handle(wid, run_id=ex.run_id).fetch_history()
        lengths.append(len(history.events))
    return {
        "outage_days": days,
        "attempts": final.attempts,
        "executions": len(runs),
        "continue_as_new_hops": len(runs) - 1,
        "max_events_per_execution": max(lengths),
        "total_events": sum(lengths),
        "state": final.state.value,
        "wall_s": wall,
    }


async def _bench(quick: bool) -> None:
    outages = [1, 2] if quick else [1, 7, 30]
    env = await WorkflowEnvironment.start_time_skipping_v2(
        data_converter=pydantic_data_converter,
        search_attributes=list(sa.ALL),
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.WorkflowTimeSkippingEnabled=true",
            *SINGLE_PARTITION_FLAGS,
        ],
    )
    hub = StateHub().start()
    tmp = Path(tempfile.mkdtemp(prefix="actcore-bench-"))
    settings = Settings(
        definitions_dir=tmp, working_memory_dir=tmp / "notes", state_hub_url=hub.url
    )
    name_sink(tmp, {"type": "state_hub_progress", "event_type": "bench", "url": hub.url})
    suffix = uuid.uuid4().hex[:6]
    wtq, atq = f"bench-wf-{suffix}", f"bench-act-{suffix}"
    workers = build_workers(env.client, settings, workflow_task_queue=wtq, activity_task_queue=atq)
    stop = asyncio.Event()
    task = asyncio.create_task(workers.run_until(stop))
    try:
        rows = [await _one(env, hub, wtq, atq, days) for days in outages]
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        await env.shutdown()
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    peak = [r["max_events_per_execution"] for r in rows]
    report(
        "history_bound",
        rows,
        {
            "max_events_per_execution": max(peak),
            "flat_in_outage_length": max(peak) <= HISTORY_EVENT_BUDGET + 50,
            "own_budget_events": HISTORY_EVENT_BUDGET,
            "target": "<= 1,000 events per execution, flat in outage length",
            "baseline": "one execution without continue-as-new: total_events",
        },
    )


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
