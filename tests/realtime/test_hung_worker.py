"""A hung run worker (SIGSTOP: alive, connected, silent) looks to a watchdog that runs
apart (as the dev stack now runs it) like a dead one: the run its fire started waits, and
the fire is judged pending_unclaimed (a page) for every misfire policy (real time, a real
worker process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from activities.watchdog_judge import judge
from activity_core.catalog import Catalog
from activity_core.domain import WatchdogState
from activity_core.settings import Settings
from activity_core.store import Store, migrate
from tests.helpers import RestartableServer, assert_eventually

EVERY_S = 4
POLICIES = ("skip", "catchup_all", "catchup_latest")


@pytest.mark.parametrize("policy", POLICIES)
async def test_a_stopped_worker_is_paged_about_like_a_dead_one(tmp_path: Path, policy: str) -> None:
    server = RestartableServer(tmp_path / "temporal.db")
    client = await server.start()
    defs = tmp_path / "definitions"
    defs.mkdir()
    name = f"hung-{policy.replace('_', '-')}"
    body = {
        "name": name,
        "handler": "static_report",
        "params": {"title": name, "body": "-"},
        "trigger_config": {
            "trigger_type": "interval",
            "every_seconds": EVERY_S,
            "misfire_policy": policy,
        },
        "watch": {"late_after_seconds": 3},
    }
    (defs / f"{name}.yaml").write_text(yaml.safe_dump(body))
    db = f"sqlite+aiosqlite:///{tmp_path / 'actcore.db'}"
    store = Store(db)
    await migrate.upgrade(store)
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": server.address,
        "ACTCORE_HOME": str(tmp_path / "home"),
        "ACTCORE_DEFINITIONS_DIR": str(defs),
        "ACTCORE_DB_URL": db,
        "ACTCORE_WATCHDOG_INTERVAL_SECONDS": "0",
        "ACTCORE_STATE_HUB_URL": "http://127.0.0.1:9",
    }
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - owned by the child
    worker = subprocess.Popen(
        [sys.executable, "-m", "activity_core.cli", "worker", "--role", "runs"],
        env=env,
        stdout=log,
        stderr=log,
    )
    settings = Settings(home=tmp_path / "home", definitions_dir=defs, db_url=db)
    try:

        async def ran() -> None:
            query = f"ActivityName = '{name}' AND ExecutionStatus = 'Completed'"
            assert [ex async for ex in client.list_workflows(query)], "no run completed yet"

        await assert_eventually(ran, within=60, interval=1)
        worker.send_signal(signal.SIGSTOP)

        async def paged() -> None:
            plan = await judge(
                client,
                settings,
                names=[name],
                lookback_seconds=60,
                state=WatchdogState(),
                catalog=Catalog(settings, store),
            )
            kinds = [v.kind.value for s in plan.summaries for v in s.problems]
            assert "pending_unclaimed" in kinds, kinds

        await assert_eventually(paged, within=60, interval=2)
    finally:
        worker.send_signal(signal.SIGCONT)
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        await store.close()
        server.stop()
