"""Events into run starts: the router against a bare loop of ``client.start_workflow`` on
the same dev server, and event-to-start latency at a steady publish rate.

Both sides start the same ``ActivityRunWorkflow`` with the same input size on a task queue
no worker polls, so the cost compared is the start alone. The baseline starts N workflows
in concurrent chunks of the router's batch size; the router drains N events published
beforehand (validation, matching, the start, the ack). Target: router >= 80% of the
baseline's starts per second.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import yaml
from temporalio.client import Client

from activity_core.catalog import Catalog
from activity_core.dev.processes import nats_binary
from activity_core.domain import ActivityDefinition, run_start
from activity_core.domain.constants import ACTIVITY_RUN_WORKFLOW
from activity_core.domain.events import EventEnvelope
from activity_core.events import Router
from activity_core.events.sources import DefinitionSource
from activity_core.settings import Settings
from bench.harness import dev_server, report, run_alone

TARGET_RATIO = 0.8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _envelope(i: int) -> dict[str, Any]:
    return {
        "event_id": f"bench-{uuid.uuid4().hex}",
        "type": "bench.happened",
        "source": "bench",
        "occurred_at": datetime.now(UTC).isoformat(),
        "subject": f"item/{i}",
        "trace_id": uuid.uuid4().hex,
        "payload": {"kind": "go", "i": i},
    }


def _setup(tmp: Path) -> ActivityDefinition:
    defs = tmp / "definitions"
    (defs / "event-types").mkdir(parents=True)
    (defs / "event-types" / "bench.happened.yaml").write_text("name: bench.happened\n")
    body = {
        "name": "bench-on-event",
        "handler": "static_report",
        "trigger_config": {
            "trigger_type": "event",
            "event_type": "bench.happened",
            "filters": {"kind": "go"},
        },
    }
    (defs / "bench-on-event.yaml").write_text(yaml.safe_dump(body))
    return ActivityDefinition.model_validate(body)


async def _baseline(client: Client, definition: ActivityDefinition, n: int, chunk: int) -> float:
    tq = f"bench-none-{uuid.uuid4().hex[:6]}"

    async def one(i: int) -> None:
        env = EventEnvelope.model_validate(_envelope(i))
        start = run_start(definition, "event", env)
        await client.start_workflow(
            ACTIVITY_RUN_WORKFLOW,
            start.input,
            id=f"bench-bare-{env.event_id}",
            task_queue=tq,
            static_summary=start.summary,
            static_details=start.details,
            search_attributes=start.search_attributes,
        )

    began = time.perf_counter()
    for lo in range(0, n, chunk):
        await asyncio.gather(*(one(i) for i in range(lo, min(n, lo + chunk))))
    return n / (time.perf_counter() - began)


async def _router_rate(
    client: Client, settings: Settings, url: str, n: int
) -> tuple[float, dict[str, int]]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    router = Router(
        client,
        js,
        DefinitionSource(settings, Catalog(settings, None)),
        settings,
        task_queue=f"bench-none-{uuid.uuid4().hex[:6]}",
    )
    await router.setup()
    for i in range(n):
        await js.publish("activity.bench.happened", json.dumps(_envelope(i)).encode())
    stop = asyncio.Event()
    began = time.perf_counter()
    task = asyncio.create_task(router.run_until(stop))
    await _until(lambda: router.counts["started"] >= n, 0.01)
    elapsed = time.perf_counter() - began
    stop.set()
    await task
    await nc.close()
    return n / elapsed, dict(router.counts)


async def _latency(
    client: Client, settings: Settings, url: str, rate: float, seconds: float
) -> list[float]:
    """Publish at ``rate``/s with the router running; start time minus publish time."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    tq = f"bench-none-{uuid.uuid4().hex[:6]}"
    router = Router(
        client, js, DefinitionSource(settings, Catalog(settings, None)), settings, task_queue=tq
    )
    await router.setup()
    stop = asyncio.Event()
    task = asyncio.create_task(router.run_until(stop))
    sent: dict[str, float] = {}
    total = int(rate * seconds)
    for i in range(total):
        e = _envelope(i)
        sent[f"activity-run-bench-on-event-event-{e['event_id']}"] = time.time()
        await js.publish("activity.bench.happened", json.dumps(e).encode())
        await asyncio.sleep(1 / rate)
    await _until(lambda: router.counts["started"] >= total, 0.05)
    stop.set()
    await task
    await nc.close()
    out = []
    async for wf in client.list_workflows(f"TaskQueue = '{tq}'"):
        if wf.id in sent:
            out.append((wf.start_time.timestamp() - sent[wf.id]) * 1000)
    return out


async def _until(done: Callable[[], bool], every: float) -> None:
    for _ in itertools.count():
        if done():
            return
        await asyncio.sleep(every)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _main(quick: bool) -> int:
    n, rate, seconds = (300, 20.0, 5.0) if quick else (2000, 50.0, 20.0)
    tmp = Path(tempfile.mkdtemp(prefix="actcore-bench-events-"))
    definition = _setup(tmp)
    port = _free_port()
    proc = subprocess.Popen(
        [nats_binary(), "-js", "-sd", str(tmp / "nats"), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"nats://127.0.0.1:{port}"
    settings = Settings(
        definitions_dir=tmp / "definitions",
        nats_port=port,
        router_refresh_seconds=60.0,
    )
    try:
        await asyncio.sleep(0.5)
        async with dev_server() as client:
            await _baseline(client, definition, 50, settings.router_batch)  # warm up
            bare = await _baseline(client, definition, n, settings.router_batch)
            routed, counts = await _router_rate(client, settings, url, n)
            latencies = await _latency(client, settings, url, rate, seconds)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = routed / bare
    report(
        "events",
        [
            {"case": "bare start_workflow loop", "events": n, "starts_per_s": bare},
            {"case": "router (validate, match, start, ack)", "events": n, "starts_per_s": routed},
        ],
        {
            "router_over_bare": ratio,
            "target": f"router >= {TARGET_RATIO:.0%} of the bare loop",
            "router_counts": counts,
            "latency_rate_per_s": rate,
            "latency_events": len(latencies),
            "latency_p50_ms": statistics.median(latencies) if latencies else None,
            "latency_p99_ms": _pct(latencies, 0.99) if latencies else None,
        },
    )
    return 0 if ratio >= TARGET_RATIO else 1


def main(quick: bool = False) -> int:
    return asyncio.run(_main(quick))


if __name__ == "__main__":
    run_alone(main)
