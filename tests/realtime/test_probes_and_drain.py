"""Health probes and the drain of a worker process, as a Kubernetes pod sees them: a real
worker process, a real Temporal dev server, a State Hub whose answers take seconds (a
run is mid-activity when SIGTERM arrives)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import WorkflowExecutionStatus

from activity_core.dev.statehub import StateHub
from activity_core.loader import load_definitions
from activity_core.services.runs import start_manual_run
from tests.helpers import RestartableServer, assert_eventually, free_port

SLOW_S = 6.0


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "activity_core.cli", "worker", "--role", "runs"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_sigterm_is_not_ready_at_once_takes_nothing_new_and_finishes_the_attempt(
    tmp_path: Path,
) -> None:
    server = RestartableServer(tmp_path / "temporal.db")
    client = await server.start()
    hub = StateHub().start()
    defs = tmp_path / "definitions"
    defs.mkdir()
    body = {
        "name": "drain-probe",
        "handler": "static_report",
        "params": {"title": "drain", "body": "-"},
        "trigger_config": {"trigger_type": "manual"},
        "resolvers": [{"name": "work_items", "required": True}],
    }
    (defs / "drain-probe.yaml").write_text(yaml.safe_dump(body))
    definition = load_definitions(defs).definitions[0]
    health = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": server.address,
        "ACTCORE_HOME": str(tmp_path / "home"),
        "ACTCORE_DEFINITIONS_DIR": str(defs),
        "ACTCORE_WORKING_MEMORY_DIR": str(tmp_path / "notes"),
        "ACTCORE_DB_URL": "none",
        "ACTCORE_WATCHDOG_INTERVAL_SECONDS": "0",
        "ACTCORE_STATE_HUB_URL": hub.url,
        "ACTCORE_HEALTH_BIND_ADDR": health,
        "ACTCORE_GRACEFUL_SHUTDOWN_SECONDS": "30",
    }
    worker = _worker(env, tmp_path / "worker.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        async with httpx.AsyncClient(base_url=f"http://{health}", timeout=5) as http:

            async def ready() -> None:
                try:
                    r = await http.get("/readyz")
                except httpx.ConnectError as exc:
                    raise AssertionError("not listening yet") from exc
                assert r.status_code == 200, r.text
                assert r.json()["checks"] == {"temporal": "ok", "pollers": "ok"}

            await assert_eventually(ready, within=60, interval=0.5)
            assert (await http.get("/healthz")).json()["alive"] is True
            assert (await http.get("/nowhere")).status_code == 404

            hub.set_fault("slow", delay=SLOW_S)
            first = await start_manual_run(client, definition)

            async def resolving() -> None:
                desc = await first.describe()
                started = [
                    a
                    for a in desc.raw_description.pending_activities
                    if a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                ]
                assert started, "the resolver activity has not started yet"

            await assert_eventually(resolving, within=30, interval=0.2)
            worker.send_signal(signal.SIGTERM)
            signalled = time.monotonic()

            async def draining() -> None:
                r = await http.get("/readyz")
                assert r.status_code == 503 and r.json()["draining"] is True, r.text

            await assert_eventually(draining, within=1.0, interval=0.05)
            # Started after the signal: the draining process must not take it.
            later = await start_manual_run(client, definition)
            code = await asyncio.to_thread(worker.wait, 60)
            assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() - signalled < SLOW_S + 10
        # The attempt in flight finished (not cancelled, not timed out) ...
        events = [e async for e in first.fetch_history_events()]
        kinds = [e.event_type for e in events]
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in kinds, kinds
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED not in kinds
        # ... and the run started after SIGTERM was never picked up by the draining worker.
        taken = [
            e
            async for e in later.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
        ]
        assert taken == []
        hub.set_fault("none")
        second = _worker(env, tmp_path / "worker2.log")
        for handle in (first, later):
            await asyncio.wait_for(handle.result(), 90)
            assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    finally:
        for proc in (worker, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        hub.stop()
        server.stop()
