"""The top of the hour: N definitions share one cron minute (100, or 1,000), each with a
working-memory note and a State Hub sink paced at PACE/s. From the fire: until the last
run started, completed, and the last report was delivered; the sink's busiest second; the
worker's and the server's CPU seconds per run, the workflow instances the worker built
(replays after cache evictions show here) and peak RSS; how many runs the misfire guard
judged late.
Beside it, in the same run, the same N runs of the minimal shape (one workflow, one
activity POSTing to the same hub) started by a bare ``start_workflow`` loop.

Times come from the server's visibility records (start and close times), not from polling.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker
from temporalio.worker._workflow import _WorkflowWorker

from activities.watchdog_judge import judge
from activity_core.catalog import Catalog
from activity_core.dev.statehub import StateHub
from activity_core.domain import search_attributes as sa
from activity_core.loader import load_definitions
from activity_core.services.registry import open_store, sync
from activity_core.settings import Settings
from activity_core.worker import build_workers
from bench.baseline import InlineDeliveryWorkflow, inline_deliver
from bench.harness import dev_server, report, run_alone, server_cpu_seconds

PACE = 50.0
"""The sink's pace (deliveries per second): 1,000 reports take at least 20 s to land."""


def _definition(i: int, fire: datetime, hub_url: str) -> dict[str, Any]:
    return {
        "name": f"top-{i:04d}",
        "handler": "static_report",
        "params": {"title": f"top {i}", "body": "aligned fire"},
        "trigger_config": {
            "trigger_type": "cron",
            "cron_expression": f"{fire.minute} {fire.hour} * * *",
            "timezone": "UTC",
            "misfire_policy": "skip",
        },
        "sinks": [
            {"type": "working_memory"},
            {
                "type": "state_hub_progress",
                "event_type": "top",
                "url": hub_url,
                "pace_per_second": PACE,
            },
        ],
    }


async def _closed(client: Client, query: str, n: int, within: float) -> list[Any]:
    """The executions of ``query`` once ``n`` of them are closed (visibility records)."""
    deadline = time.monotonic() + within
    while True:
        done = (await client.count_workflows(f"{query} AND ExecutionStatus != 'Running'")).count
        if done >= n or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    return [ex async for ex in client.list_workflows(query)]


class _InstancesBuilt:
    """How many workflow instances the worker built (a new run, or a replay after its
    instance was evicted from the cache): counted around the SDK's private factory, for
    this measurement only."""

    def __init__(self) -> None:
        self.count = 0
        self._original = _WorkflowWorker._create_workflow_instance

    def __enter__(self) -> _InstancesBuilt:
        original = self._original

        def counting(worker: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(worker, *args, **kwargs)

        _WorkflowWorker._create_workflow_instance = counting  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *_: object) -> None:
        _WorkflowWorker._create_workflow_instance = self._original  # type: ignore[method-assign]


def _seconds_after(at: datetime, times: list[datetime | None]) -> float | None:
    known = [t for t in times if t is not None]
    return max((t - at).total_seconds() for t in known) if known else None


async def _ours(client: Client, n: int, hub: StateHub, home: Path) -> dict[str, Any]:
    # The default embedded registry (SQLite): the files are imported, every part reads it.
    settings = Settings(
        home=home,
        definitions_dir=home / "definitions",
        working_memory_dir=home / "notes",
        state_hub_url=hub.url,
        watchdog_interval_seconds=0,
    )
    settings.definitions_dir.mkdir(parents=True)
    # The fire: a whole minute far enough ahead to sync N schedules first (1,000 took
    # 19 to 85 s here with the worker polling) and let the server settle.
    now = datetime.now(UTC)
    lead = 60 + n * 0.15
    fire = (now + timedelta(seconds=lead)).replace(second=0, microsecond=0)
    for i in range(n):
        body = yaml.safe_dump(_definition(i, fire, hub.url))
        (settings.definitions_dir / f"top-{i:04d}.yaml").write_text(body)
    defs = load_definitions(settings.definitions_dir)
    store = await open_store(settings)
    assert store is not None
    workers = build_workers(client, settings, store=store)
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run_until(stop))
    try:
        synced = time.monotonic()
        await sync(client, settings, store, defs, who="bench")
        sync_s = time.monotonic() - synced
        posts_before = len(hub.stats.post_times)
        wait = (fire - datetime.now(UTC)).total_seconds()
        assert wait > 15, "the sync took until the fire: raise the lead time"
        await asyncio.sleep(wait)
        cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        server0 = server_cpu_seconds()
        with _InstancesBuilt() as built:
            runs_q = "WorkflowType = 'ActivityRunWorkflow'"
            runs = await _closed(client, runs_q, n, within=400)
            deliveries_q = "WorkflowType = 'ReportDeliveryWorkflow'"
            deliveries = await _closed(client, deliveries_q, n, within=200)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = server_cpu_seconds() - server0
        wall = time.monotonic() - wall0
        outcomes: Counter[str] = Counter()
        for ex in runs:
            outcomes[str(ex.typed_search_attributes.get(sa.RUN_OUTCOME))] += 1
        # The watchdog's view of the burst, from the registry like every other part.
        plan = await judge(
            client, settings, names=[], lookback_seconds=900, catalog=Catalog(settings, store)
        )
        verdicts: Counter[str] = Counter()
        for per_kind in plan.verdicts.values():
            verdicts.update(per_kind)
    finally:
        stop.set()
        await asyncio.gather(running, return_exceptions=True)
        await store.close()
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {
        "fire": fire,
        "runs": len(runs),
        "delivered": sum(1 for d in deliveries if d.status == WorkflowExecutionStatus.COMPLETED),
        "last_started_s": _seconds_after(fire, [ex.start_time for ex in runs]),
        "last_completed_s": _seconds_after(fire, [ex.close_time for ex in runs]),
        "last_delivered_s": _seconds_after(fire, [d.close_time for d in deliveries]),
        "sink_busiest_second": hub.stats.peak_rate(1.0),
        "sink_posts": len(hub.stats.post_times) - posts_before,
        "worker_cpu_s_per_run": cpu / max(1, len(runs)),
        "server_cpu_s_per_run": server_cpu / max(1, len(runs)),
        "instances_built": built.count,
        "sync_s": sync_s,
        "measured_over_s": wall,
        "outcomes": dict(outcomes),
        "watchdog_verdicts": dict(verdicts),
        "delivery_statuses": dict(Counter(str(d.status) for d in deliveries)),
    }


async def _minimal(client: Client, n: int, hub: StateHub) -> dict[str, Any]:
    queue = f"top-minimal-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client, task_queue=queue, workflows=[InlineDeliveryWorkflow], activities=[inline_deliver]
    ):
        started = datetime.now(UTC)
        cpu0, server0 = resource.getrusage(resource.RUSAGE_SELF), server_cpu_seconds()
        for i in range(n):
            await client.start_workflow(
                InlineDeliveryWorkflow.run,
                f"{hub.url}/progress",
                id=f"minimal-{queue}-{i}",
                task_queue=queue,
            )
        runs = await _closed(client, "WorkflowType = 'BenchInlineDeliveryWorkflow'", n, 600)
        cpu1, server1 = resource.getrusage(resource.RUSAGE_SELF), server_cpu_seconds()
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {
        "runs": len(runs),
        "worker_cpu_s_per_run": cpu / max(1, len(runs)),
        "server_cpu_s_per_run": (server1 - server0) / max(1, len(runs)),
        "last_started_s": _seconds_after(started, [ex.start_time for ex in runs]),
        "last_completed_s": _seconds_after(started, [ex.close_time for ex in runs]),
    }


async def _bench(quick: bool) -> None:
    # The reference hub listens on loopback: allow it, as the dev stack does.
    os.environ.setdefault("ACTCORE_EGRESS_ALLOW", "127.0.0.0/8")
    sizes = [100] if quick else [100, 1000]
    if os.environ.get("BENCH_TOP_SIZES"):  # e.g. BENCH_TOP_SIZES=1000: one size alone
        sizes = [int(x) for x in os.environ["BENCH_TOP_SIZES"].split(",")]
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {"sink_pace_per_s": PACE, "target": "1,000 completed <= 120 s"}
    for n in sizes:
        home = Path(tempfile.mkdtemp(prefix="actcore-top-"))
        hub = StateHub().start()
        try:
            async with dev_server() as client:
                ours = await _ours(client, n, hub, home)
            async with dev_server() as client:
                minimal = await _minimal(client, n, hub)
        finally:
            hub.stop()
            shutil.rmtree(home, ignore_errors=True)
        rows.append(
            {
                "case": f"{n} aligned definitions",
                "runs": ours["runs"],
                "delivered": ours["delivered"],
                "last_started_s": ours["last_started_s"],
                "last_completed_s": ours["last_completed_s"],
                "last_delivered_s": ours["last_delivered_s"],
                "sink_busiest_s": ours["sink_busiest_second"],
                "cpu_s_per_run": ours["worker_cpu_s_per_run"],
                "server_cpu_s_per_run": ours["server_cpu_s_per_run"],
            }
        )
        rows.append(
            {
                "case": f"{n} minimal runs, start loop",
                "runs": minimal["runs"],
                "delivered": minimal["runs"],
                "last_started_s": minimal["last_started_s"],
                "last_completed_s": minimal["last_completed_s"],
                "last_delivered_s": minimal["last_completed_s"],
                "sink_busiest_s": "-",
                "cpu_s_per_run": minimal["worker_cpu_s_per_run"],
                "server_cpu_s_per_run": minimal["server_cpu_s_per_run"],
            }
        )
        extra[f"outcomes_{n}"] = ours["outcomes"]
        extra[f"watchdog_verdicts_{n}"] = ours["watchdog_verdicts"]
        extra[f"delivery_statuses_{n}"] = ours["delivery_statuses"]
        # Two workflows per fire (the run and its delivery): anything above 2 x N is a
        # workflow replayed from its history after the cache evicted it.
        extra[f"workflow_instances_built_{n}"] = ours["instances_built"]
        extra[f"sync_s_{n}"] = ours["sync_s"]
        if minimal["last_completed_s"] and ours["last_completed_s"]:
            extra[f"ratio_completed_ours_vs_minimal_{n}"] = (
                ours["last_completed_s"] / minimal["last_completed_s"]
            )
    extra["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report("top_of_hour", rows, extra)


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
