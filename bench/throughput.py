"""Throughput overhead: end-to-end runs per second and CPU per run, a ladder of three in
one run, interleaved, at the same concurrency on the same server, worker and hub.

1. Minimal: one workflow, one activity POSTing to the hub (the Python SDK's published
   benchmark shape: the floor of what a run can cost here).
2. Inline: a workflow calling our activities (load definition, handler, note, one HTTP
   delivery) inline, with no child, no guard and no search attributes.
3. Ours: ActivityRunWorkflow as a scheduled run (misfire guard included) of a definition
   with a working-memory note and one State Hub sink; a run counts once its delivery
   child has delivered.

CPU per run: this process (worker, hub, client) and the dev server, from their CPU
times around each case.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import psutil
import yaml

from activity_core.domain import RunInput
from activity_core.domain.report import delivery_workflow_id
from bench.baseline import MinimalWorkflow, PlainRunWorkflow, minimal_deliver
from bench.harness import (
    Stack,
    dev_server,
    median,
    report,
    run_alone,
    server_cpu_seconds,
    stack,
    timed_run_definition,
)
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


async def _minimal(s: Stack, queue: str, n: int) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            await s.client.execute_workflow(
                MinimalWorkflow.run,
                f"{s.hub.url}/progress",
                id=f"bench-minimal-{uuid.uuid4().hex}",
                task_queue=queue,
            )

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - start)


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds so far of this process and of its children (the dev server)."""
    own = psutil.Process().cpu_times()
    return own.user + own.system, server_cpu_seconds()


async def _measured(fn: Callable[[], Awaitable[float]], n: int) -> tuple[float, float, float]:
    """Runs per second, and CPU ms per run in this process and in the server."""
    own0, server0 = _cpu_seconds()
    rate = await fn()
    own1, server1 = _cpu_seconds()
    return rate, (own1 - own0) * 1000 / n, (server1 - server0) * 1000 / n


CASES = ("minimal: one workflow, one activity", "inline: our activities in one workflow", "ours")


async def _bench(quick: bool) -> None:
    n = 20 if quick else 150
    reps = 3
    extra = ([PlainRunWorkflow, MinimalWorkflow], [minimal_deliver])
    async with dev_server() as client, stack(client, *extra) as s:
        definition = timed_run_definition("bench-tp", s.hub.url)
        (s.settings.definitions_dir / "bench.yaml").write_text(yaml.safe_dump(definition))
        queue = s.baseline_tq
        runs: dict[str, Callable[[int], Awaitable[float]]] = {
            CASES[0]: lambda k: _minimal(s, queue, k),
            CASES[1]: lambda k: _baseline(s, queue, k),
            CASES[2]: lambda k: _ours(s, k),
        }
        for fn in runs.values():
            await fn(3)  # warm-up
        got: dict[str, list[tuple[float, float, float]]] = {c: [] for c in CASES}
        for _ in range(reps):  # interleaved, so drift on the machine hits all alike
            for case, fn in runs.items():
                got[case].append(await _measured(lambda fn=fn: fn(n), n))
    rows = []
    for case in CASES:
        rows.append(
            {
                "case": case,
                "runs": n,
                "runs_per_s": median([g[0] for g in got[case]]),
                "cpu_ms_per_run_python": median([g[1] for g in got[case]]),
                "cpu_ms_per_run_server": median([g[2] for g in got[case]]),
            }
        )
    minimal, inline, ours = (r["runs_per_s"] for r in rows)
    report(
        "throughput",
        rows,
        {
            "overhead_ratio": inline / ours,
            "ours_vs_minimal": minimal / ours,
            "inline_vs_minimal": minimal / inline,
            "target": "ours/inline <= 1.2",
            "concurrency": CONCURRENCY,
            "repetitions": reps,
        },
    )


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
