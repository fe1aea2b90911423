"""The production layout under faults, on one machine: a real PostgreSQL, a 3-node NATS
cluster with the stream at three replicas, one Temporal dev server (the cluster's
stand-in), and the roles as the manifests run them (2 workers, 1 watchdog, 2 routers,
2 APIs), every one from the installed wheel. Under a steady load of scheduled, manual
and event runs, with a sink that fails now and then: kill -9 a worker mid-attempt,
SIGTERM the other, kill a NATS node, restart PostgreSQL, kill a router, stop an API.
Then count: every fire, trigger and event ran exactly once, every report was delivered,
every run has its ledger row; each fault took readiness away and gave it back."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import yaml
from sqlalchemy.engine import make_url
from temporalio.client import (
    Client,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
)

from activity_core.dev.processes import nats_binary
from activity_core.dev.statehub import StateHub
from activity_core.domain import search_attributes as sa
from activity_core.domain.events import EventEnvelope
from activity_core.events.jetstream import publish_event
from activity_core.store import Store
from activity_core.store.ledger import Ledger
from tests.cluster.harness import REPO, NatsCluster, Role, build_wheel_env, role_env
from tests.helpers import RestartableServer, assert_eventually, free_port
from tests.store.conftest import fresh_pg_database

pytestmark = pytest.mark.timeout(900)

EVERY_S = 4
TOKEN = "cluster-write-token"


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    import pgserver

    # Not under pytest's temporary root: pytest keeps that 0700, and PostgreSQL runs as
    # its own user, which must reach the data directory to be stopped and started again.
    root = Path(tempfile.mkdtemp(prefix="actcore-cluster-pg-"))
    root.chmod(0o755)
    server = pgserver.get_server(root / "data", cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _postgres_outage(server: Any, seconds: float) -> None:
    """Stop PostgreSQL (fast: connections are cut), wait, start it again as it was."""
    from pgserver import _commands

    _commands.pg_ctl(  # type: ignore[attr-defined]
        ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60
    )
    time.sleep(seconds)
    server.ensure_postgres_running()


class Readiness:
    """Polls every role's /readyz and remembers when each was seen not ready."""

    def __init__(self, roles: dict[str, Role]) -> None:
        self.roles = roles
        self.not_ready: dict[str, list[float]] = {n: [] for n in roles}

    async def watch(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=2) as http:
            while not stop.is_set():
                for name, r in self.roles.items():
                    try:
                        ok = (await http.get(r.readyz)).status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    if not ok:
                        self.not_ready[name].append(time.monotonic())
                await asyncio.sleep(0.1)

    def dipped(self, name: str, since: float) -> bool:
        return any(t >= since for t in self.not_ready[name])


def _definitions(root: Path, hub: StateHub) -> Path:
    defs = root / "definitions"
    (defs / "event-types").mkdir(parents=True)
    (defs / "event-types" / "user.created.yaml").write_text(
        (REPO / "definitions" / "event-types" / "user.created.yaml").read_text()
    )
    sink = {"type": "state_hub_progress", "event_type": "cluster", "url": hub.url}
    common = {"handler": "static_report", "params": {"title": "c", "body": "-"}}
    docs = {
        "cluster-interval": {
            "trigger_config": {
                "trigger_type": "interval",
                "every_seconds": EVERY_S,
                "misfire_policy": "catchup_all",
            }
        },
        "cluster-manual": {"trigger_config": {"trigger_type": "manual"}},
        "cluster-event": {
            "trigger_config": {"trigger_type": "event", "event_type": "user.created"}
        },
    }
    for name, body in docs.items():
        full = {"name": name, **common, **body, "sinks": [{"type": "working_memory"}, sink]}
        (defs / f"{name}.yaml").write_text(yaml.safe_dump(full))
    return defs


def _ending_at(when: datetime) -> Callable[[ScheduleUpdateInput], ScheduleUpdate]:
    def updater(given: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = given.description.schedule
        schedule.spec.end_at = when
        return ScheduleUpdate(schedule=schedule)

    return updater


async def _schedule_info(client: Client, sid: str) -> Any:
    """The server's own counts for a schedule (buffer, running, missed, dropped)."""
    return (await client.get_schedule_handle(sid).describe()).raw_description.info


async def _runs(client: Client, name: str) -> list[Any]:
    query = f"ActivityName = '{name}' AND WorkflowType = 'ActivityRunWorkflow'"
    return [ex async for ex in client.list_workflows(query)]


async def test_production_layout_loses_and_duplicates_nothing_under_faults(
    tmp_path: Path, pg: Any
) -> None:
    python = build_wheel_env(tmp_path / "wheel")
    where = subprocess.run(
        [str(python), "-c", "import activity_core; print(activity_core.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert str(tmp_path / "wheel" / "venv") in where, where  # the wheel, not the source tree

    server = RestartableServer(tmp_path / "temporal.db")
    client = await server.start()
    natsc = NatsCluster(tmp_path, nats_binary())
    natsc.start()
    hub = StateHub().start()
    hub.set_fault("flaky", rate=0.2)
    admin = make_url(pg.get_uri()).set(drivername="postgresql+asyncpg")
    db_url = await fresh_pg_database(admin)
    defs = _definitions(tmp_path, hub)
    notes = tmp_path / "notes"
    base = {
        "TEMPORAL_ADDRESS": server.address,
        "ACTCORE_DB_URL": db_url,
        "NATS_URL": natsc.url,
        "ACTCORE_STREAM_REPLICAS": "3",
        "ACTCORE_STATE_HUB_URL": hub.url,
        "ACTCORE_DEFINITIONS_DIR": str(defs),
        "ACTCORE_WORKING_MEMORY_DIR": str(notes),
        "ACTCORE_EGRESS_ALLOW": "127.0.0.0/8",
        "ACTCORE_WATCHDOG_INTERVAL_SECONDS": "0",
        "ACTCORE_GRACEFUL_SHUTDOWN_SECONDS": "10",
        "ACTCORE_API_TOKEN": TOKEN,
        "ACTCORE_LOG_FORMAT": "json",
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    cli = [str(python), "-m", "activity_core.cli"]

    def role(name: str, argv: list[str], **extra: str) -> Role:
        home = tmp_path / "homes" / name
        home.mkdir(parents=True)
        env = role_env(base, ACTCORE_HOME=str(home), **extra)
        return Role(name, [*cli, *argv], env, logs)

    def operator(*args: str) -> subprocess.CompletedProcess[str]:
        """A one-off command from the wheel, as the Job or an operator runs it."""
        return subprocess.run(
            [*cli, *args],
            env=role_env(base, ACTCORE_HOME=str(tmp_path / "setup")),
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
        )

    setup = operator("setup")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "search attributes" in setup.stdout and "database: PostgreSQL" in setup.stdout

    skip = {"ACTCORE_SKIP_SCHEDULE_SYNC": "true"}
    api_ports = [free_port(), free_port()]
    roles = {
        "worker-a": role("worker-a", ["worker", "--role", "runs"], **skip),
        "worker-b": role("worker-b", ["worker", "--role", "runs"], **skip),
        "watchdog": role("watchdog", ["worker", "--role", "watchdog"]),
        "router-a": role("router-a", ["router"]),
        "router-b": role("router-b", ["router"]),
        "api-a": role("api-a", ["api"], ACTCORE_API_PORT=str(api_ports[0])),
        "api-b": role("api-b", ["api"], ACTCORE_API_PORT=str(api_ports[1])),
    }
    published: list[str] = []
    triggered: list[str] = []
    stop_load = asyncio.Event()
    problems: list[str] = []

    async def load() -> None:
        nc = await nats.connect(servers=natsc.url.split(","), max_reconnect_attempts=-1)
        js = nc.jetstream()
        i = 0
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop_load.is_set():
                i += 1
                event_id = f"evt-{uuid.uuid4().hex[:12]}"
                envelope = EventEnvelope(
                    event_id=event_id,
                    type="user.created",
                    source="cluster-test",
                    occurred_at=datetime.now(UTC),
                    subject=f"user/{i}",
                    trace_id=uuid.uuid4().hex,
                    payload={"tier": "pro", "region": "eu"},
                )
                for _ in range(30):  # a NATS node may be down: publish until acked
                    try:
                        await publish_event(js, envelope)
                        published.append(event_id)
                        break
                    except Exception:
                        await asyncio.sleep(0.5)
                else:
                    problems.append(f"event {event_id} never acked by the stream")
                port = api_ports[i % 2]
                for p in (port, *api_ports):  # an API may be stopped: the other answers
                    try:
                        r = await http.post(
                            f"http://127.0.0.1:{p}/activity-definitions/cluster-manual/trigger",
                            headers={"Authorization": f"Bearer {TOKEN}"},
                        )
                    except httpx.HTTPError:
                        continue
                    if r.status_code == 202:
                        triggered.append(r.json()["run_id"])
                        break
                await asyncio.sleep(1.5)
        await nc.close()

    readiness = Readiness(roles)
    try:
        for r in roles.values():
            r.start()
        for r in roles.values():
            await asyncio.to_thread(r.wait_ready)
        started_at = datetime.now(UTC)
        loader = asyncio.create_task(load())
        watcher = asyncio.create_task(readiness.watch(stop_load))
        await asyncio.sleep(4)

        # 1. kill -9 a worker while attempts run, the kubelet restarts it.
        a = roles["worker-a"]
        a.signal(signal.SIGKILL)
        a.wait_exit(10)
        assert not a.ready()
        a.restart()
        await asyncio.to_thread(a.wait_ready)
        await asyncio.sleep(2)

        # 2. SIGTERM the other: not ready at once, drains, exits 0, restarted.
        b = roles["worker-b"]
        assert readiness.dipped("worker-a", 0)  # not listening while it was down
        b.signal(signal.SIGTERM)
        await asyncio.to_thread(b.wait_not_ready, 5)
        assert await asyncio.to_thread(b.wait_exit, 60) == 0, b.tail()
        b.restart()
        await asyncio.to_thread(b.wait_ready)
        await asyncio.sleep(2)

        # 3. One NATS node dies and comes back; events keep flowing through the others.
        natsc.kill(1)
        await asyncio.sleep(3)
        natsc.up(1)
        natsc.wait_healthy()
        for name in ("router-a", "router-b"):
            await asyncio.to_thread(roles[name].wait_ready)

        # 4. PostgreSQL is away for 5 s: every role loses readiness, then has it back.
        outage = time.monotonic()
        await asyncio.to_thread(_postgres_outage, pg, 5.0)
        for r in roles.values():
            await asyncio.to_thread(r.wait_ready)
        assert [n for n in roles if not readiness.dipped(n, outage)] == []

        # 5. kill -9 a router; restarted.
        ra = roles["router-a"]
        ra.signal(signal.SIGKILL)
        ra.wait_exit(10)
        assert not ra.ready()
        ra.restart()
        await asyncio.to_thread(ra.wait_ready)

        # 6. An API is stopped (SIGTERM) and started again; the other took the triggers.
        api = roles["api-a"]
        api.signal(signal.SIGTERM)
        assert await asyncio.to_thread(api.wait_exit, 30) == 0, api.tail()
        assert not api.ready()
        api.restart()
        await asyncio.to_thread(api.wait_ready)
        # The wheel ships the runbook the board's "what to do" links open.
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            book = await http.get(f"http://127.0.0.1:{api_ports[1]}/runbook")
        assert book.status_code == 200 and 'id="a-delivery-is-dead"' in book.text
        await asyncio.sleep(4)

        stop_load.set()
        await loader
        await watcher
        # No fire after the window: the schedule's spec ends now. Unlike a pause, fires the
        # server has not started yet (catchup_all buffers a fire while the run before it is
        # still open; a loaded scheduler lags) are still started, so every fire in the
        # window must run.
        ended_at = datetime.now(UTC)
        schedule_ids = [listed.id async for listed in await client.list_schedules()]
        for sid in schedule_ids:
            await client.get_schedule_handle(sid).update(_ending_at(ended_at))
        assert problems == []
        hub.set_fault("none")

        # Everything settles: the schedules have nothing buffered, every run completes,
        # every delivery reaches the hub.
        async def settled() -> None:
            for sid in schedule_ids:
                info = await _schedule_info(client, sid)
                assert info.buffer_size == 0 and not info.running_workflows, sid
            interval = await _runs(client, "cluster-interval")
            fires = [ex.typed_search_attributes.get(sa.SCHEDULED_START_TIME) for ex in interval]
            last = max(f for f in fires if f is not None)
            assert last >= ended_at - timedelta(seconds=2 * EVERY_S), (last, ended_at)
            open_runs = [
                ex
                async for ex in client.list_workflows(
                    "ExecutionStatus = 'Running' AND WorkflowType != 'SinkMonitorWorkflow'"
                    " AND WorkflowType != 'MissedFireWatchdogWorkflow'"
                )
            ]
            assert open_runs == [], [ex.id for ex in open_runs][:5]

        await assert_eventually(settled, within=240, interval=3)
        for sid in schedule_ids:  # the server dropped no fire on its side either
            info = await _schedule_info(client, sid)
            assert (info.missed_catchup_window, info.buffer_dropped) == (0, 0), (sid, info)

        # Scheduled: every fire in the window ran once, with its own nominal time.
        interval = await _runs(client, "cluster-interval")
        # One run per fire, and no fire missing: the nominal times are every multiple of
        # the interval from the first fire to the end of the window.
        nominal = sorted(ex.typed_search_attributes.get(sa.SCHEDULED_START_TIME) for ex in interval)
        assert None not in nominal
        assert len(nominal) == len(set(nominal)), "a fire ran twice"
        first, last = nominal[0], nominal[-1]
        expected = [
            first + timedelta(seconds=EVERY_S * i)
            for i in range(int((last - first).total_seconds()) // EVERY_S + 1)
        ]
        assert nominal == expected, "a fire is missing"
        assert first <= started_at + timedelta(seconds=EVERY_S)
        assert last >= ended_at - timedelta(seconds=2 * EVERY_S)
        statuses = {ex.id: ex.status for ex in interval}
        assert set(statuses.values()) == {WorkflowExecutionStatus.COMPLETED}, statuses

        # Manual: every accepted trigger ran once.
        manual = {ex.id: ex for ex in await _runs(client, "cluster-manual")}
        assert sorted(triggered) == sorted(manual), "a trigger was lost or ran twice"
        assert all(ex.status == WorkflowExecutionStatus.COMPLETED for ex in manual.values())

        # Events: every acked event started exactly one run.
        events = {ex.id: ex for ex in await _runs(client, "cluster-event")}
        wanted = {f"activity-run-cluster-event-event-{e}" for e in published}
        assert set(events) == wanted, (len(events), len(wanted))
        assert all(ex.status == WorkflowExecutionStatus.COMPLETED for ex in events.values())

        # Delivered: the hub holds one report per run, none twice.
        all_runs = {ex.id for ex in interval} | set(manual) | set(events)
        keys = [str(e["idempotency_key"]) for e in hub.store.list("cluster")]
        assert len(keys) == len(set(keys)), "a report was stored twice"
        assert {k.removesuffix(":state_hub") for k in keys} == all_runs

        # Ledger: after the reconcile an operator runs following a database restart,
        # every run has one row.
        rec = operator("ledger", "reconcile", "--days", "1")
        assert rec.returncode == 0, rec.stdout + rec.stderr
        store = Store(db_url)
        try:
            since = started_at - timedelta(minutes=5)
            rows = await Ledger(store).runs(since=since, limit=100_000)
        finally:
            await store.close()
        ids = [row.run_id for row in rows]
        assert len(ids) == len(set(ids))
        assert all_runs <= set(ids), sorted(all_runs - set(ids))[:5]
        summary = {
            "scheduled": len(interval),
            "window_seconds": round((ended_at - started_at).total_seconds()),
            "manual": len(manual),
            "events": len(events),
            "delivered": len(keys),
            "ledger_rows": len(ids),
            "hub_faults": {k: v for k, v in hub.stats.counts.items() if k.startswith("fault")},
        }
        print(json.dumps(summary))
    finally:
        stop_load.set()
        for r in roles.values():
            r.stop()
        hub.stop()
        natsc.stop()
        server.stop()
        time.sleep(0.1)
