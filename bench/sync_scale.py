"""Sync scale: first sync of N definitions, then a no-change re-sync (must write nothing)."""

from __future__ import annotations

import asyncio
import time

from activity_core.domain import ActivityDefinition
from activity_core.services.schedules import sync_schedules
from bench.harness import dev_server, report, run_alone


def _definitions(n: int) -> list[ActivityDefinition]:
    return [
        ActivityDefinition.model_validate(
            {
                "name": f"bench-sync-{i:04d}",
                "handler": "static_report",
                "trigger_config": {
                    "trigger_type": "cron",
                    "cron_expression": f"{i % 60} {i % 24} * * *",
                    "timezone": "Europe/Berlin",
                    "misfire_policy": ("skip", "catchup_all", "catchup_latest")[i % 3],
                },
            }
        )
        for i in range(n)
    ]


async def _bench(quick: bool) -> None:
    n = 100 if quick else 1000
    defs = _definitions(n)
    async with dev_server() as client:
        start = time.perf_counter()
        first = await sync_schedules(client, defs)
        first_s = time.perf_counter() - start
        created = sum(1 for c in first if c.action == "create")

        # Schedule listing is eventually consistent: wait until all are listed.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = [s async for s in await client.list_schedules()]
            if len(listed) >= n:
                break
            await asyncio.sleep(0.5)

        resync_times, writes = [], []
        for _ in range(3):
            start = time.perf_counter()
            again = await sync_schedules(client, defs)
            resync_times.append(time.perf_counter() - start)
            writes.append(sum(1 for c in again if c.action != "unchanged"))
    resync_times.sort()
    report(
        "sync_scale",
        [
            {"case": f"first sync, {n} definitions", "seconds": first_s, "writes": created},
            {
                "case": "no-change re-sync (median of 3)",
                "seconds": resync_times[1],
                "writes": max(writes),
            },
        ],
        {
            "target_first_sync_s": "<= 60 for 1000",
            "target_resync": "<= 10 s, 0 writes",
            "resync_vs_first_ratio": resync_times[1] / first_s,
        },
    )


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
