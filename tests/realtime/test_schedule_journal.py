"""A sync that unpauses a schedule paused by hand does not hide the fires of the pause:
the watchdog judges each fire by the journal's state at that time (real time)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import yaml

from activities.watchdog_judge import judge
from activity_core.catalog import Catalog
from activity_core.domain import WatchdogState, schedule_id
from activity_core.loader import load_definitions
from activity_core.services.registry import sync
from activity_core.settings import Settings
from activity_core.store import Ledger, Store, migrate
from activity_core.worker import build_workers
from tests.helpers import RestartableServer, assert_eventually

EVERY_S = 2


async def test_fires_missed_while_paused_by_hand_are_missing_after_a_sync_unpause(
    tmp_path: Path,
) -> None:
    server = RestartableServer(tmp_path / "temporal.db")
    client = await server.start()
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await migrate.upgrade(store)
    defs = tmp_path / "definitions"
    defs.mkdir()
    body = {
        "name": "journaled",
        "handler": "static_report",
        "trigger_config": {
            "trigger_type": "interval",
            "every_seconds": EVERY_S,
            "misfire_policy": "skip",
            "catchup_window_seconds": 10,
        },
        "watch": {"late_after_seconds": 3},
    }
    (defs / "journaled.yaml").write_text(yaml.safe_dump(body))
    settings = Settings(
        home=tmp_path,
        definitions_dir=defs,
        working_memory_dir=tmp_path / "notes",
        watchdog_interval_seconds=0,
    )
    workers = build_workers(client, settings, store=store)
    stop = asyncio.Event()
    task = asyncio.create_task(workers.run_until(stop))
    try:
        loaded = load_definitions(defs)
        (definition,) = loaded.definitions
        await sync(client, settings, store, loaded, who="test")
        await asyncio.sleep(EVERY_S * 2)  # a couple of fires run
        await client.get_schedule_handle(schedule_id(definition)).pause(note="by hand")
        paused_at = datetime.now(UTC)
        await asyncio.sleep(EVERY_S * 4)  # fires the schedule does not start
        changes = (await sync(client, settings, store, loaded, who="test")).changes
        assert [c.action for c in changes] == ["update"]  # the hand pause replaced the note
        journal = await Ledger(store).schedule_changes(schedule_id(definition))
        assert [e["action"] for e in journal] == ["create", "unpause"]
        unpaused_at = journal[-1]["at"]

        async def judged() -> list[str]:
            plan = await judge(
                client,
                settings,
                names=["journaled"],
                lookback_seconds=60,
                state=WatchdogState(),
                catalog=Catalog(settings, store),
            )
            problems = plan.summaries[0].problems
            missing = [
                v
                for v in problems
                if v.kind.value == "missing" and paused_at < v.fire < unpaused_at
            ]
            assert len(missing) >= 2, [(v.fire, v.kind.value, v.detail) for v in problems]
            return [v.detail for v in missing]

        details = await assert_eventually(judged, within=20, interval=1)
        assert all("schedule paused by hand until" in d for d in details), details
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await store.close()
        server.stop()
