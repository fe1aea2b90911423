"""Where a run's time goes: one scheduled run at a time, read back from its history.

The definition of the throughput benchmark (interval trigger with the misfire guard, a
working-memory note, one State Hub sink) runs N times, one after another, so nothing
competes. Each run's history gives, per step, the time from scheduling to completion and
how much of it was waiting for a worker (scheduled → started); workflow tasks are counted
and timed the same way. The baseline in the same run is the plain inline workflow of
``bench/throughput.py`` (the same activities, nothing else), timed end to end.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from activity_core.domain import RunInput
from activity_core.domain.report import delivery_workflow_id
from bench.baseline import PlainRunWorkflow
from bench.harness import dev_server, report, run_alone, stack, timed_run_definition
from workflows.activity_run import ActivityRunWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow

E = EventType


def _ms(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() * 1000


async def _steps(handle: WorkflowHandle[Any, Any]) -> dict[str, float]:
    """Milliseconds per step of one execution (activities by type, workflow tasks, local
    activities, the child's start), plus the end-to-end time."""
    out: dict[str, float] = defaultdict(float)
    scheduled: dict[int, tuple[str, datetime]] = {}
    started: dict[int, datetime] = {}
    first: datetime | None = None
    wft_started: datetime | None = None
    child_initiated: datetime | None = None
    async for ev in handle.fetch_history_events():
        t = ev.event_time.ToDatetime()
        first = first or t
        if ev.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = ev.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[ev.event_id] = (name, t)
        elif ev.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[ev.activity_task_started_event_attributes.scheduled_event_id] = t
        elif ev.event_type == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sid = ev.activity_task_completed_event_attributes.scheduled_event_id
            name, at = scheduled[sid]
            out[f"activity {name}: queue wait"] += _ms(at, started.get(sid, at))
            out[f"activity {name}: total"] += _ms(at, t)
        elif ev.event_type == E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            out["workflow tasks: count"] += 1
            wft_scheduled = t
        elif ev.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            wft_started = t
            out["workflow tasks: queue wait"] += _ms(wft_scheduled, t)
        elif ev.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            assert wft_started is not None
            out["workflow tasks: in the worker (incl. local activities)"] += _ms(wft_started, t)
        elif ev.event_type == E.EVENT_TYPE_MARKER_RECORDED:
            name = ev.marker_recorded_event_attributes.marker_name
            if name == "core_local_activity":
                out["local activities: count"] += 1
        elif ev.event_type == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            child_initiated = t
        elif ev.event_type == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            assert child_initiated is not None
            out["delivery child: start"] += _ms(child_initiated, t)
        elif ev.event_type == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            out["search-attribute upserts: count"] += 1
        last = t
    assert first is not None
    out["end to end"] = _ms(first, last)
    return out


async def _bench(quick: bool) -> None:
    n = 10 if quick else 40
    async with dev_server() as client, stack(client, [PlainRunWorkflow]) as s:
        definition = timed_run_definition("bench-profile", s.hub.url)
        (s.settings.definitions_dir / "bench.yaml").write_text(yaml.safe_dump(definition))
        queue = s.baseline_tq
        parent: list[dict[str, float]] = []
        child: list[dict[str, float]] = []
        ours_s: list[float] = []
        base_s: list[float] = []
        for i in range(n + 2):
            t0 = time.perf_counter()
            handle = await s.client.start_workflow(
                ActivityRunWorkflow.run,
                RunInput(
                    activity_name="bench-profile",
                    trigger="schedule",
                    activity_task_queue=s.activity_tq,
                ),
                id=f"bench-profile-{uuid.uuid4().hex}",
                task_queue=s.workflow_tq,
            )
            result = await handle.result()
            delivery = s.client.get_workflow_handle_for(
                ReportDeliveryWorkflow.run, delivery_workflow_id(result.run_id, "state_hub")
            )
            await delivery.result()
            elapsed = time.perf_counter() - t0
            t1 = time.perf_counter()
            await s.client.execute_workflow(
                PlainRunWorkflow.run,
                args=["bench-profile", s.activity_tq],
                id=f"bench-profile-plain-{uuid.uuid4().hex}",
                task_queue=queue,
            )
            base = time.perf_counter() - t1
            if i < 2:
                continue  # warm-up
            ours_s.append(elapsed)
            base_s.append(base)
            parent.append(await _steps(handle))
            child.append(await _steps(delivery))

    def rows(prefix: str, samples: list[dict[str, float]]) -> list[dict[str, Any]]:
        keys = sorted({k for s in samples for k in s})
        return [
            {
                "workflow": prefix,
                "step": k,
                "median": statistics.median(s.get(k, 0.0) for s in samples),
            }
            for k in keys
        ]

    ours_ms = statistics.median(ours_s) * 1000
    base_ms = statistics.median(base_s) * 1000
    report(
        "run_profile",
        rows("ActivityRunWorkflow", parent) + rows("ReportDeliveryWorkflow", child),
        {
            "runs": n,
            "run_and_delivery_ms": ours_ms,
            "baseline_inline_ms": base_ms,
            "ratio": ours_ms / base_ms,
            "unit": "milliseconds (counts are counts), medians over the runs",
        },
    )


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
