"""Process faults and a flapping sink, in real time: nothing lost, nothing duplicated.

The worker and the reference hub run as real processes so they can be killed with
SIGKILL; the Temporal dev server keeps its state in a SQLite file across a restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from temporalio.client import Client

from activity_core.domain import DeliveryState, RunInput
from tests.helpers import RestartableServer, assert_eventually, free_port
from workflows.activity_run import ActivityRunWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow

FAST_DELIVERY = {
    "backoff_seconds": [1, 2],
    "then_every_seconds": 2,
    "jitter_ratio": 0.2,
    "horizon_seconds": 600,
    "attempt_timeout_seconds": 4,
}


class Procs:
    """A worker process and a reference hub process around a restartable dev server."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.server = RestartableServer(tmp / "temporal.db")
        self.hub_port, self.admin_port = free_port(), free_port()
        self.defs = tmp / "definitions"
        self.defs.mkdir()
        self.notes = tmp / "notes"
        self.worker: subprocess.Popen[bytes] | None = None
        self.hub: subprocess.Popen[bytes] | None = None
        self.client: Client | None = None

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TEMPORAL_ADDRESS": self.server.address,
            "ACTCORE_DEFINITIONS_DIR": str(self.defs),
            "ACTCORE_WORKING_MEMORY_DIR": str(self.notes),
            "ACTCORE_STATE_HUB_URL": self.hub_url,
            "ACTCORE_SINK_READ_TIMEOUT_SECONDS": "10",
            "SKIP_SCHEDULE_SYNC": "true",
        }

    def define(self, name: str) -> None:
        body = {
            "name": name,
            "handler": "static_report",
            "trigger_config": {"trigger_type": "manual"},
            "sinks": [{"type": "state_hub_progress", "event_type": "pf"}],
            "delivery": FAST_DELIVERY,
        }
        (self.defs / f"{name}.yaml").write_text(yaml.safe_dump(body))

    def start_worker(self) -> None:
        log = open(self.tmp / "worker.log", "ab")  # noqa: SIM115
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "activity_core.worker"], env=self.env(), stdout=log, stderr=log
        )

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(10)

    async def start_hub(self) -> None:
        log = open(self.tmp / "hub.log", "ab")  # noqa: SIM115
        self.hub = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "activity_core.cli",
                "statehub",
                "serve",
                "--port",
                str(self.hub_port),
                "--admin-port",
                str(self.admin_port),
                "--db",
                str(self.tmp / "hub.db"),
                "--no-demo-data",
            ],
            env=self.env(),
            stdout=log,
            stderr=log,
        )

        async def up() -> None:
            async with httpx.AsyncClient() as http:
                try:
                    assert (await http.get(f"{self.hub_url}/health")).status_code == 200
                except httpx.HTTPError as exc:
                    raise AssertionError(str(exc)) from exc

        await assert_eventually(up, within=20)

    def kill_hub(self) -> None:
        assert self.hub is not None
        self.hub.send_signal(signal.SIGKILL)
        self.hub.wait(10)

    async def fault(self, mode: str, **extra: Any) -> None:
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"http://127.0.0.1:{self.admin_port}/fault", json={"mode": mode, **extra}
            )
            r.raise_for_status()

    async def events(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{self.hub_url}/progress/")
            r.raise_for_status()
            return list(r.json())

    async def run_many(self, name: str, n: int) -> list[str]:
        assert self.client is not None
        handles = await asyncio.gather(
            *(
                self.client.start_workflow(
                    ActivityRunWorkflow.run,
                    RunInput(activity_name=name, trigger="manual"),
                    id=f"pf-{name}-{i}-{uuid.uuid4().hex[:6]}",
                    task_queue="orchestrator-tq",
                )
                for i in range(n)
            )
        )
        # One worker process runs them all: on a loaded runner 200 runs take minutes.
        within = max(120.0, 0.9 * n)
        results = await asyncio.gather(*(asyncio.wait_for(h.result(), within) for h in handles))
        return [r.run_id for r in results]

    async def wait_delivered(self, run_ids: list[str], within: float = 120) -> list[int]:
        """Wait until every delivery is delivered; return their attempt counts."""
        assert self.client is not None
        client = self.client

        async def one(run_id: str) -> int:
            handle = client.get_workflow_handle_for(
                ReportDeliveryWorkflow.run, f"delivery-{run_id}-state_hub"
            )
            final = await asyncio.wait_for(handle.result(), within)
            assert final.state == DeliveryState.DELIVERED
            return final.attempts

        return list(await asyncio.gather(*(one(r) for r in run_ids)))

    async def wait_received(self, n: int) -> None:
        """Until the hub has received at least ``n`` POSTs (counted on arrival)."""

        async def received() -> None:
            assert (await self.stats()).get("post", 0) >= n

        await assert_eventually(received, within=30)

    async def wait_all_waiting(self, run_ids: list[str]) -> None:
        """Until every delivery has failed once and waits for its next attempt."""
        assert self.client is not None
        client = self.client

        async def waiting() -> None:
            for run_id in run_ids:
                handle = client.get_workflow_handle_for(
                    ReportDeliveryWorkflow.run, f"delivery-{run_id}-state_hub"
                )
                status = await handle.query(ReportDeliveryWorkflow.status)
                assert status.state == DeliveryState.WAITING

        await assert_eventually(waiting, within=30, interval=0.2)

    async def stats(self) -> dict[str, int]:
        async with httpx.AsyncClient() as http:
            r = await http.get(f"http://127.0.0.1:{self.admin_port}/stats")
            return dict(r.json())

    async def assert_exactly_once(self, run_ids: list[str]) -> None:
        events = await self.events()
        keys = [e["idempotency_key"] for e in events]
        assert len(keys) == len(set(keys)), "a report was stored twice"
        assert sorted(e["detail"]["activity_core_run_id"] for e in events) == sorted(run_ids)
        notes = list(self.notes.glob("*.md"))
        assert len(notes) == len(run_ids)

    def close(self) -> None:
        for proc in (self.worker, self.hub):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.server.stop()


@pytest.fixture
async def procs(tmp_path: Path) -> AsyncIterator[Procs]:
    p = Procs(tmp_path)
    p.client = await p.server.start()
    await p.start_hub()
    p.start_worker()
    try:
        yield p
    finally:
        p.close()


async def test_kill_9_worker_mid_attempt_loses_and_doubles_nothing(procs: Procs) -> None:
    procs.define("kill-worker")
    await procs.fault("slow", delay=3)  # attempts hang in flight
    run_ids = await procs.run_many("kill-worker", 10)
    await procs.wait_received(10)  # every delivery is mid-request now (the hub is slow)
    procs.kill_worker()
    await procs.fault("none")
    procs.start_worker()
    await procs.wait_delivered(run_ids)
    await procs.assert_exactly_once(run_ids)
    # The hub stored what the killed attempts sent; Temporal retried those attempts on the
    # new worker (activity retry, same delivery attempt) and they were answered 409.
    assert (await procs.stats()).get("duplicate", 0) >= 1


async def test_server_restart_during_hub_outage_resumes_waiting_deliveries(procs: Procs) -> None:
    procs.define("server-restart")
    await procs.fault("refuse")
    run_ids = await procs.run_many("server-restart", 10)
    await procs.wait_all_waiting(run_ids)
    procs.kill_worker()
    procs.server.stop()
    await procs.fault("none")
    await asyncio.sleep(2)
    procs.client = await procs.server.start()
    procs.start_worker()
    attempts = await procs.wait_delivered(run_ids)
    await procs.assert_exactly_once(run_ids)
    assert min(attempts) >= 2  # each had failed before the restart and resumed after it


async def test_hub_killed_while_receiving_retries_and_deduplicates(procs: Procs) -> None:
    procs.define("kill-hub")
    await procs.fault("slow", delay=2)
    run_ids = await procs.run_many("kill-hub", 10)
    await procs.wait_received(10)  # requests are being received (the hub is slow)
    procs.kill_hub()
    await asyncio.sleep(1.5)
    await procs.start_hub()  # same port, same SQLite file: the keys it stored persist
    attempts = await procs.wait_delivered(run_ids)
    await procs.assert_exactly_once(run_ids)
    assert max(attempts) >= 2  # the requests cut off by the kill were retried


async def test_flapping_hub_soak_200_runs_each_delivered_exactly_once(procs: Procs) -> None:
    procs.define("soak")
    await procs.fault("flaky", rate=0.5)
    run_ids = await procs.run_many("soak", 200)
    attempts = await procs.wait_delivered(run_ids, within=300)
    await procs.assert_exactly_once(run_ids)
    stats = await procs.stats()
    # Both kinds of failure happened, and dropped-after-store requests were deduplicated.
    assert stats["fault_flaky_503"] >= 20 and stats["fault_flaky_drop"] >= 20
    assert stats["duplicate"] >= 1
    print(f"soak: {len(run_ids)} runs, {sum(attempts)} attempts, hub stats {stats}")
