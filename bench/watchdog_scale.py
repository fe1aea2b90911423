"""The watchdog at scale: one pass over N scheduled definitions (1,000; ``--quick`` 200),
and ``actcore status`` answered from that pass against the same report judged live, in
the same run.

N cron definitions (policies rotating) are synced to a fresh dev server with a SQLite
registry; a watchdog worker runs one ``MissedFireWatchdogWorkflow`` pass; then
``status_report`` is timed from the last pass (the default) and live (``--live``).
Targets: a pass <= 30 s, status from the last pass <= 1 s at 1,000 definitions.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import yaml
from temporalio.client import Client

from activity_core.catalog import Catalog
from activity_core.domain import WatchdogInput
from activity_core.domain.constants import WATCHDOG_TQ
from activity_core.loader import load_definitions
from activity_core.services.registry import sync
from activity_core.services.status import status_report
from activity_core.settings import Settings
from activity_core.store import Ledger, Store, migrate
from activity_core.worker import build_workers
from bench.harness import dev_server, report, run_alone
from workflows.watchdog import MissedFireWatchdogWorkflow

PASS_TARGET_S = 30.0
STATUS_TARGET_S = 1.0
POLICIES = ("skip", "catchup_all", "catchup_latest")


def _write(directory: Path, n: int) -> None:
    for i in range(n):
        body = {
            "name": f"bench-wd-{i:04d}",
            "handler": "static_report",
            "trigger_config": {
                "trigger_type": "cron",
                "cron_expression": f"{i % 60} {i % 24} * * *",
                "timezone": "Europe/Berlin",
                "misfire_policy": POLICIES[i % 3],
            },
        }
        (directory / f"bench-wd-{i:04d}.yaml").write_text(yaml.safe_dump(body))


async def _timed_status(
    client: Client, settings: Settings, ledger: Ledger, catalog: Catalog, live: bool, n: int
) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        got = await status_report(client, settings, None, ledger, catalog, live=live)
        out.append(time.perf_counter() - start)
        assert got.live == live
    return out


async def _main(quick: bool) -> int:
    n = 200 if quick else 1000
    tmp = Path(tempfile.mkdtemp(prefix="actcore-bench-wd-"))
    defs_dir = tmp / "definitions"
    defs_dir.mkdir()
    _write(defs_dir, n)
    store = Store(f"sqlite+aiosqlite:///{tmp / 'actcore.db'}")
    await migrate.upgrade(store)
    settings = Settings(
        home=tmp,
        definitions_dir=defs_dir,
        working_memory_dir=tmp / "notes",
        watchdog_interval_seconds=0,
    )
    try:
        async with dev_server() as client:
            loaded = load_definitions(defs_dir)
            assert len(loaded.definitions) == n
            start = time.perf_counter()
            await sync(client, settings, store, loaded, who="bench")
            sync_s = time.perf_counter() - start
            catalog = Catalog(settings, store)
            workers = build_workers(
                client, settings, runs=False, watchdog_task_queue=WATCHDOG_TQ, store=store
            )
            stop = asyncio.Event()
            running = asyncio.create_task(workers.run_until(stop))
            try:
                start = time.perf_counter()
                result = await client.execute_workflow(
                    MissedFireWatchdogWorkflow.run,
                    WatchdogInput(),
                    id="bench-watchdog-pass",
                    task_queue=WATCHDOG_TQ,
                    execution_timeout=timedelta(minutes=10),
                )
                pass_s = time.perf_counter() - start
                assert len(result.summaries) == n, len(result.summaries)
                await asyncio.sleep(2)  # visibility lists the pass as completed
                ledger = Ledger(store)
                from_pass = await _timed_status(client, settings, ledger, catalog, False, 5)
                live = await _timed_status(client, settings, ledger, catalog, True, 1)
            finally:
                stop.set()
                await running
    finally:
        await store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    status_s = statistics.median(from_pass)
    rows = [
        {"case": "sync (first)", "seconds": sync_s},
        {"case": "one watchdog pass", "seconds": pass_s},
        {"case": "status, last pass (median of 5)", "seconds": status_s},
        {"case": "status, live", "seconds": live[0]},
    ]
    report(
        "watchdog_scale",
        rows,
        {
            "definitions": n,
            "pass_per_definition_ms": pass_s * 1000 / n,
            "status_live_over_last_pass": live[0] / status_s,
            "target": f"pass <= {PASS_TARGET_S:.0f} s, status <= {STATUS_TARGET_S:.0f} s "
            "(at 1,000)",
        },
    )
    return 0 if pass_s <= PASS_TARGET_S and status_s <= STATUS_TARGET_S else 1


def main(quick: bool = False) -> int:
    return asyncio.run(_main(quick))


if __name__ == "__main__":
    run_alone(main)
