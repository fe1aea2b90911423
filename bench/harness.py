"""Shared benchmark harness: a dev server on free ports, a worker, a reference hub, results."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activity_core.dev.processes import temporal_binary
from activity_core.dev.statehub import StateHub
from activity_core.domain import search_attributes as sa
from activity_core.sandbox import workflow_runner
from activity_core.settings import Settings
from activity_core.store import Store
from activity_core.temporal_client import SINGLE_PARTITION_FLAGS
from activity_core.worker import build_workers

RESULTS = Path(__file__).parent / "results"


@asynccontextmanager
async def dev_server() -> AsyncIterator[Client]:
    """A fresh Temporal dev server (in-memory) with our search attributes."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        search_attributes=list(sa.ALL),
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=SINGLE_PARTITION_FLAGS,
    )
    try:
        yield env.client
    finally:
        await env.shutdown()


@dataclass
class Stack:
    client: Client
    hub: StateHub
    settings: Settings
    workflow_tq: str
    activity_tq: str

    @property
    def baseline_tq(self) -> str:
        """The queue of the extra (baseline) workflows and activities."""
        return f"bench-baseline-{self.workflow_tq.rsplit('-', 1)[-1]}"


@asynccontextmanager
async def stack(
    client: Client,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Any] = (),
    store: Store | None = None,
) -> AsyncIterator[Stack]:
    """A worker (plus optional baseline workflows/activities) and a reference hub; the
    ledger writes go to ``store`` (None: the store is off, writes return at once)."""
    tmp = Path(tempfile.mkdtemp(prefix="actcore-bench-"))
    (tmp / "definitions").mkdir()
    hub = StateHub().start()
    settings = Settings(
        definitions_dir=tmp / "definitions",
        working_memory_dir=tmp / "notes",
        state_hub_url=hub.url,
    )
    suffix = uuid.uuid4().hex[:6]
    s = Stack(client, hub, settings, f"bench-wf-{suffix}", f"bench-act-{suffix}")
    workers = build_workers(
        client,
        settings,
        workflow_task_queue=s.workflow_tq,
        activity_task_queue=s.activity_tq,
        store=store,
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(workers.run_until(stop))]
    extra = None
    if extra_workflows or extra_activities:
        # The baselines run on the same workflow runner as ours, so a ratio measures the
        # shape of a run, not the runner.
        extra = Worker(
            client,
            task_queue=s.baseline_tq,
            workflows=list(extra_workflows),
            activities=list(extra_activities),
            workflow_runner=workflow_runner(fast=settings.fast_sandbox),
        )
        tasks.append(asyncio.create_task(extra.run()))
    try:
        yield s
    finally:
        stop.set()
        if extra is not None:
            await extra.shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


def server_cpu_seconds() -> float:
    """CPU seconds so far of this process's children: the dev server."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def report(name: str, rows: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    """Print a table and write ``bench/results/<name>.json``."""
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), "rows": rows, **extra}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    cols = list(rows[0]) if rows else []
    widths = {c: max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in cols}
    print(f"\n== {name} ==")
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(_fmt(r[c]).ljust(widths[c]) for c in cols))
    for k, v in extra.items():
        print(f"{k}: {_fmt(v)}")
    sys.stdout.flush()


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def name_sink(directory: Path, sink: dict[str, Any], name: str = "bench-sink") -> None:
    """Write a manual definition naming ``sink``: how workers learn which sink queues to
    poll (deliveries started directly, as benchmarks do, name no definition of their own)."""
    body = {
        "name": name,
        "handler": "static_report",
        "params": {"title": "t", "body": "b"},
        "trigger_config": {"trigger_type": "manual"},
        "sinks": [sink],
    }
    (directory / f"{name}.yaml").write_text(json.dumps(body))


def timed_run_definition(name: str, hub_url: str) -> dict[str, Any]:
    """A scheduled-trigger definition (misfire guard included) with a working-memory note
    and one State Hub sink: what the throughput and profile benchmarks run."""
    return {
        "name": name,
        "handler": "static_report",
        "trigger_config": {
            "trigger_type": "interval",
            "every_seconds": 3600,
            "misfire_policy": "skip",
        },
        "sinks": [
            {"type": "working_memory"},
            {"type": "state_hub_progress", "event_type": "bench", "url": hub_url},
        ],
    }


def run_alone(main: Callable[..., int]) -> NoReturn:
    """``python -m bench.<name> [--quick]``: one benchmark on its own, quiet logs, and an
    exit that skips the SDK's interpreter-finalisation crash."""
    logging.basicConfig(level=logging.ERROR)
    code = main(quick="--quick" in sys.argv)
    sys.stdout.flush()
    os._exit(code)
