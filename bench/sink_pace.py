"""One pace per sink, whatever the number of workers: the busiest second at a recovering hub.

Worker processes (``python -m activity_core.worker``) run against one dev server. State Hub
refuses connections while N deliveries are started; each fails once and waits. When the
hub is back an operator wakes them all at 500/s (``actcore deliveries retry --all --rate
500``) while the recovery monitor wakes them at the pace: attempts are asked for far above
the pace. Measured per case: the most POSTs the hub saw in any one second, against the
pace, and the drain time. The dev server runs one partition per task queue
(``SINGLE_PARTITION_FLAGS``).

- **baseline: per-worker spacing** (``ACTCORE_SINK_PACING=false``): each worker spaces
  its own POSTs at the pace, as before the sink queues; 2 workers.
- **shared pace, 1 worker** and **shared pace, 2 workers**: attempts on the sink's own task
  queue, whose server-side limit is the pace (``max_task_queue_activities_per_second``).

Target: the busiest second ≤ pace + 1 with 2 workers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client

from activities.monitor import paced_retry_now
from activity_core.dev.statehub import StateHub
from activity_core.domain import (
    DeliveryPolicy,
    StateHubProgressSink,
)
from bench.backlog import start_deliveries, until
from bench.harness import dev_server, name_sink, report, run_alone

DEFAULT_PACE = 20.0
RETRY_S = 3600.0
WAKE_ALL_RATE = 500.0


async def _case(
    client: Client, tmp: Path, *, workers: int, shared: bool, n: int, pace: float
) -> dict[str, object]:
    # A hub of its own per case: its own origin, so its own sink queue, and no poller of
    # an earlier case is counted as a sharer.
    hub = StateHub().start()
    defs = tmp / f"definitions-{workers}-{shared}"
    defs.mkdir()
    name_sink(defs, {"type": "state_hub_progress", "event_type": "pace", "url": hub.url})
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "ACTCORE_DEFINITIONS_DIR": str(defs),
        "ACTCORE_WORKING_MEMORY_DIR": str(tmp / "notes"),
        "ACTCORE_STATE_HUB_URL": hub.url,
        "ACTCORE_WAKE_RATE": str(pace),
        "ACTCORE_SINK_PACING": "true" if shared else "false",
        "ACTCORE_WATCHDOG_INTERVAL_SECONDS": "0",
        "SKIP_SCHEDULE_SYNC": "true",
        "ACTCORE_LOG_LEVEL": "WARNING",
    }
    logs = [open(tmp / f"worker-{i}.log", "ab") for i in range(workers)]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "activity_core.worker"], env=env, stdout=log, stderr=log
        )
        for log in logs
    ]
    try:
        await asyncio.sleep(5)
        hub.set_fault("refuse")
        sink = StateHubProgressSink(type="state_hub_progress", event_type="pace", url=hub.url)
        policy = DeliveryPolicy(
            backoff_seconds=[RETRY_S], then_every_seconds=3600, jitter_ratio=0.0
        )
        tag = uuid.uuid4().hex[:6]
        ids = [f"bench-pace-{tag}-{i:05d}" for i in range(n)]
        await start_deliveries(client, ids, sink, policy, "bench-pace")

        async def count(state: str) -> int:
            q = (
                "WorkflowType = 'ReportDeliveryWorkflow' AND "
                f"DeliveryStatus = '{state}' AND WorkflowId STARTS_WITH 'bench-pace-{tag}'"
            )
            return (await client.count_workflows(q)).count

        await until(lambda: count("waiting"), n, 0.5)
        print(f"  {workers} worker(s), shared={shared}: {n} waiting", flush=True)
        hub.stats.post_times.clear()
        hub.set_fault("none")
        back = time.monotonic()
        # An operator wakes them all at once (`actcore deliveries retry --all --rate 500`)
        # while the monitor wakes them at the pace: attempts arrive far above the pace.
        await paced_retry_now(client, ids, WAKE_ALL_RATE)
        await until(lambda: count("delivered"), n, 0.2)
        drain = time.monotonic() - back
        return {
            "case": (
                f"shared pace, {workers} worker(s)"
                if shared
                else f"baseline: per-worker spacing, {workers} workers"
            ),
            "workers": workers,
            "deliveries": n,
            "busiest_second": hub.stats.peak_rate(1.0),
            "busiest_second_per_pace": hub.stats.peak_rate(1.0) / pace,
            "drain_s": drain,
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        for log in logs:
            log.close()
        hub.stop()


async def _bench(quick: bool) -> int:
    n = int(os.environ.get("BENCH_PACE_N", 0)) or (100 if quick else 500)
    pace = float(os.environ.get("BENCH_PACE", 0)) or DEFAULT_PACE
    tmp = Path(tempfile.mkdtemp(prefix="actcore-bench-pace-"))
    rows = []
    try:
        async with dev_server() as client:
            for workers, shared in ((2, False), (1, True), (2, True)):
                rows.append(
                    await _case(client, tmp, workers=workers, shared=shared, n=n, pace=pace)
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ours = rows[-1]
    baseline = rows[0]
    busiest = int(str(ours["busiest_second"]))
    report(
        "sink_pace",
        rows,
        {
            "pace_per_s": pace,
            "busiest_second_2_workers": busiest,
            "baseline_busiest_second": baseline["busiest_second"],
            "baseline_over_ours": int(str(baseline["busiest_second"])) / max(busiest, 1),
            "target": "busiest second <= pace + 1 with 2 workers",
            "met": busiest <= pace + 1,
        },
    )
    return 0


def main(quick: bool = False) -> int:
    return asyncio.run(_bench(quick))


if __name__ == "__main__":
    run_alone(main)
