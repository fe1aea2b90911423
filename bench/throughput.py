"""Throughput overhead: end-to-end runs per second, ours against a plain inline workflow.

Ours: ActivityRunWorkflow as a scheduled run (misfire guard included) of a definition
with a working-memory note and one State Hub sink; a run counts once its delivery child
has delivered. Baseline: a workflow calling the same activities (load definition,
handler, note, one HTTP delivery) inline, with no child, no guard and no search
attributes. Both at the same concurrency on the same worker and hub.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import yaml

from activity_core.domain import RunInput
from activity_core.domain.report import delivery_workflow_id
from bench.baseline import PlainRunWorkflow
from bench.harness import Stack, dev_server, median, report, run_alone, stack, timed_run_definition
from workflows.activity_run import ActivityRunWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow

CONCURRENCY = 10


async def _ours(s: Stack, n: int) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            run_id = f"bench-tp-{uuid.uuid4().hex}"
            result = await s.client.execute_workflow(
                ActivityRunWorkflow.run,
                RunInput(
                    activity_name="bench-tp", trigger="schedule", activity_task_queue=s.activity_tq
                ),
                id=run_id,
                task_queue=s.workflow_tq,
            )
            child = s.client.get_workflow_handle_for(
                ReportDeliveryWorkflow.run, delivery_workflow_id(result.run_id, "state_hub")
            )
            status = await child.result()
            assert status.state.value == "delivered", status

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - start)


async def _baseline(s: Stack, queue: str, n: int) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            await s.client.execute_workflow(
                PlainRunWorkflow.run,
                args=["bench-tp", s.activity_tq],
                id=f"bench-plain-{uuid.uuid4().hex}",
                task_queue=queue,
            )

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - start)


async def _bench(quick: bool) -> None:
    n = 20 if quick else 150
    reps = 3
    async with dev_server() as client, stack(client, [PlainRunWorkflow]) as s:
        definition = timed_run_definition("bench-tp", s.hub.url)
        (s.settings.definitions_dir / "bench.yaml").write_text(yaml.safe_dump(definition))
        queue = s.baseline_tq
        await _ours(s, 3)  # warm-up
        await _baseline(s, queue, 3)
        ours, base = [], []
        for _ in range(reps):  # interleaved, so drift on the machine hits both alike
            ours.append(await _ours(s, n))
            base.append(await _baseline(s, queue, n))
    ours_m, base_m = median(ours), median(base)
    report(
        "throughput",
        [
            {"case": "baseline: same activities inline", "runs": n, "runs_per_s": base_m},
            {"case": "activity-core run + delivery child", "runs": n, "runs_per_s": ours_m},
        ],
        {
            "overhead_ratio": base_m / ours_m,
            "target": "<= 1.2",
            "concurrency": CONCURRENCY,
            "repetitions": reps,
        },
    )


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
