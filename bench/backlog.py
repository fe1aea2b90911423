"""A backlog of waiting deliveries: worker footprint, then the drain when the sink returns.

A worker runs as its own process (``python -m activity_core.worker``) against a dev
server; State Hub refuses connections while N deliveries are started, each fails once and
waits (first backoff step: 1 hour). Measured:

- **Worker footprint**: the worker's RSS idle vs with N deliveries waiting.
- **Recovery drain**: the hub comes back; time until all N are delivered with the
  recovery wake-up, against (a) timer-only waiting (each delivery's own next attempt,
  read from its state) and (b) the hub's capacity (POSTs per second it accepts from one
  client, measured here); and the peak request rate the hub saw against the pace.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from temporalio.client import Client

from activity_core.dev.statehub import StateHub
from activity_core.domain import (
    DeliveryInput,
    DeliveryPolicy,
    ProgressEvent,
    StateHubProgressSink,
)
from activity_core.domain.constants import ORCHESTRATOR_TQ
from bench.harness import dev_server, name_sink, report, run_alone
from workflows.report_delivery import ReportDeliveryWorkflow

DEFAULT_PACE = 20.0
"""ACTCORE_WAKE_RATE's default; ``BENCH_PACE`` overrides it for this benchmark."""
BACKOFF_S = 3600.0


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def sampled_rss(pid: int, seconds: float = 3.0) -> float:
    samples = []
    for _ in range(int(seconds / 0.5)):
        samples.append(rss_mb(pid))
        await asyncio.sleep(0.5)
    return statistics.median(samples)


async def until(probe: Callable[[], Awaitable[int]], target: int, every: float) -> None:
    """Poll ``probe`` until it reaches ``target``."""
    for _ in range(100_000):
        if await probe() >= target:
            return
        await asyncio.sleep(every)
    raise TimeoutError(f"never reached {target}")


async def start_deliveries(
    client: Client,
    ids: list[str],
    sink: StateHubProgressSink,
    policy: DeliveryPolicy,
    activity_name: str,
) -> None:
    """Start a delivery per id (at most 50 starts in flight), as a run would hand over."""
    gate = asyncio.Semaphore(50)

    async def start(wid: str) -> None:
        async with gate:
            await client.start_workflow(
                ReportDeliveryWorkflow.run,
                DeliveryInput(
                    run_id=wid,
                    activity_id="bench",
                    activity_name=activity_name,
                    sink=sink,
                    event=ProgressEvent(
                        event_type=sink.event_type,
                        summary="s",
                        detail={"activity_core_run_id": wid},
                    ),
                    policy=policy,
                ),
                id=wid,
                task_queue=ORCHESTRATOR_TQ,
            )

    await asyncio.gather(*(start(w) for w in ids))


async def hub_capacity(url: str, seconds: float = 3.0, concurrency: int = 10) -> float:
    """POSTs per second the hub accepts from one pooled client."""
    done = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=10) as http:

        async def loop() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                key = uuid.uuid4().hex
                r = await http.post(
                    f"{url}/progress/",
                    json={"event_type": "capacity", "summary": "s", "detail": {"k": key}},
                    headers={"Idempotency-Key": key},
                )
                r.raise_for_status()
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, in seconds (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Backlog:
    """One backlog case: a worker process, N deliveries waiting, then the drain."""

    n: int
    pace: float
    capacity: float
    idle_mb: float
    waiting_mb: float
    drained_mb: float
    """RSS once every delivery is delivered (what stays after the backlog is gone)."""
    build_s: float
    timer_only_s: float
    drain_s: float
    drain_cpu_s: float
    first_post_s: float
    peak_1s: int
    peak_5s: float
    delivered_once_each: bool


async def run_backlog(
    n: int, pace: float, quick: bool, worker_env: dict[str, str] | None = None
) -> Backlog:
    """Start a worker process (``worker_env`` on top of the usual settings), let ``n``
    deliveries fail against a refusing hub and wait, then let the hub back in."""
    tmp = Path(tempfile.mkdtemp(prefix="actcore-bench-"))
    (tmp / "definitions").mkdir()
    hub = StateHub().start()
    name_sink(
        tmp / "definitions", {"type": "state_hub_progress", "event_type": "bench", "url": hub.url}
    )
    capacity = await hub_capacity(hub.url)
    hub.stats.post_times.clear()
    hub.set_fault("refuse")
    async with dev_server() as client:
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "ACTCORE_DEFINITIONS_DIR": str(tmp / "definitions"),
            "ACTCORE_WORKING_MEMORY_DIR": str(tmp / "notes"),
            "ACTCORE_STATE_HUB_URL": hub.url,
            "ACTCORE_WAKE_RATE": str(pace),
            "ACTCORE_WATCHDOG_INTERVAL_SECONDS": "0",
            "SKIP_SCHEDULE_SYNC": "true",
            "ACTCORE_LOG_LEVEL": "WARNING",
            **(worker_env or {}),
        }
        log = open(tmp / "worker.log", "wb")  # noqa: SIM115
        worker = subprocess.Popen(
            [sys.executable, "-m", "activity_core.worker"], env=env, stdout=log, stderr=log
        )
        try:
            await asyncio.sleep(3 if quick else 5)
            idle = await sampled_rss(worker.pid, 2 if quick else 3)
            sink = StateHubProgressSink(type="state_hub_progress", event_type="bench", url=hub.url)
            policy = DeliveryPolicy(backoff_seconds=[BACKOFF_S], then_every_seconds=BACKOFF_S)
            gate = asyncio.Semaphore(50)  # queries in flight
            ids = [f"bench-backlog-{i:05d}-{uuid.uuid4().hex[:4]}" for i in range(n)]

            t0 = time.perf_counter()
            await start_deliveries(client, ids, sink, policy, "bench-backlog")

            async def count(state: str) -> int:
                q = f"WorkflowType = 'ReportDeliveryWorkflow' AND DeliveryStatus = '{state}'"
                return (await client.count_workflows(q)).count

            await until(lambda: count("waiting"), n, 0.5)
            build_s = time.perf_counter() - t0
            await asyncio.sleep(2 if quick else 3)
            waiting = await sampled_rss(worker.pid, 2 if quick else 3)

            # Timer-only baseline: when each delivery's own next attempt is due.
            async def next_attempt(wid: str) -> datetime:
                async with gate:
                    h = client.get_workflow_handle_for(ReportDeliveryWorkflow.run, wid)
                    st = await h.query(ReportDeliveryWorkflow.status)
                    assert st.next_attempt_at is not None
                    return st.next_attempt_at

            due = await asyncio.gather(*(next_attempt(w) for w in ids))
            recovered_at = datetime.now(UTC)
            cpu0 = cpu_seconds(worker.pid)
            hub.set_fault("none")
            t1 = time.perf_counter()
            t1_mono = time.monotonic()
            await until(lambda: count("delivered"), n, 0.2)
            drain_s = time.perf_counter() - t1
            drain_cpu = cpu_seconds(worker.pid) - cpu0
            first_post = min(hub.stats.post_times) - t1_mono
            await asyncio.sleep(2 if quick else 3)
            drained = await sampled_rss(worker.pid, 2 if quick else 3)
            result = Backlog(
                n=n,
                pace=pace,
                capacity=capacity,
                idle_mb=idle,
                waiting_mb=waiting,
                drained_mb=drained,
                build_s=build_s,
                timer_only_s=max((d - recovered_at).total_seconds() for d in due),
                drain_s=drain_s,
                drain_cpu_s=drain_cpu,
                first_post_s=max(0.0, first_post),
                peak_1s=hub.stats.peak_rate(1.0),
                peak_5s=hub.stats.peak_rate(5.0) / 5.0,
                delivered_once_each=len(hub.events("bench")) == n,
            )
        finally:
            worker.terminate()
            worker.wait(30)
            log.close()
    hub.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return result


async def _bench(quick: bool) -> None:
    n = int(os.environ.get("BENCH_BACKLOG_N", 0)) or (100 if quick else 1000)
    pace = float(os.environ.get("BENCH_PACE", 0)) or DEFAULT_PACE
    b = await run_backlog(n, pace, quick)
    rate = n / b.drain_s
    report(
        "worker_footprint",
        [
            {"case": "worker idle", "deliveries_waiting": 0, "rss_mb": b.idle_mb},
            {"case": "worker with backlog", "deliveries_waiting": n, "rss_mb": b.waiting_mb},
        ],
        {
            "extra_rss_mb": b.waiting_mb - b.idle_mb,
            "per_1000_waiting_mb": (b.waiting_mb - b.idle_mb) * 1000 / n,
            "target": "<= 50 MB extra for 1,000 waiting",
            "backlog_build_s": b.build_s,
        },
    )
    report(
        "recovery_drain",
        [
            {"case": "recovery wake-up (ours)", "deliveries": n, "drain_s": b.drain_s},
            {
                "case": f"timer-only: next backoff step ({BACKOFF_S:.0f} s, jittered)",
                "deliveries": n,
                "drain_s": b.timer_only_s,
            },
            {
                "case": "hub capacity (one pooled client, 10 in flight)",
                "deliveries": n,
                "drain_s": n / b.capacity,
            },
        ],
        {
            "times_faster_than_timer_only": b.timer_only_s / b.drain_s,
            "drain_rate_per_s": rate,
            "hub_capacity_per_s": b.capacity,
            "fraction_of_capacity": rate / b.capacity,
            "fraction_of_pace": rate / pace,
            "pace_per_s": pace,
            "drain_floor_at_pace_s": n / pace,
            "peak_posts_in_1s": b.peak_1s,
            "mean_rate_busiest_5s": b.peak_5s,
            "delivered_once_each": b.delivered_once_each,
            "first_post_after_recovery_s": b.first_post_s,
            "targets": ">= 100x timer-only; >= 50% of capacity; peak <= pace",
            "max_cached_workflows": os.environ.get("ACTCORE_MAX_CACHED_WORKFLOWS", "default"),
        },
    )


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
