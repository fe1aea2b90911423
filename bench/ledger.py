"""The run ledger's cost: run latency with the ledger on vs off, and reconciliation.

1. Latency: sequential manual runs of a definition with a note and one State Hub sink,
   on one worker with the store off (the ledger writes return at once) and on one with a
   SQLite store (WAL, the embedded default), alternating in rounds so drift hits both.
   Target: median on / off <= 1.10.
2. Reconciliation of N runs from visibility into an empty ledger, then again (target:
   the second pass writes 0 rows), against a bare listing of the same N executions from
   visibility (the floor any reconciliation pays).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from temporalio.client import Client

from activities.reconcile import Reconciler
from activity_core.domain import RunInput
from activity_core.domain import search_attributes as sa
from activity_core.store import Ledger, Store, migrate
from bench.harness import Stack, dev_server, median, report, run_alone, stack
from workflows.activity_run import ActivityRunWorkflow

TARGET_RATIO = 1.10


def _define(s: Stack) -> None:
    body = {
        "name": "bench-ledger",
        "handler": "static_report",
        "params": {"title": "bench", "body": "ledger"},
        "trigger_config": {"trigger_type": "manual"},
        "sinks": [{"type": "state_hub_progress", "event_type": "bench_ledger"}],
    }
    (s.settings.definitions_dir / "bench-ledger.yaml").write_text(yaml.safe_dump(body))


async def _latencies(s: Stack, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        result = await s.client.execute_workflow(
            ActivityRunWorkflow.run,
            RunInput(
                activity_name="bench-ledger", trigger="manual", activity_task_queue=s.activity_tq
            ),
            id=f"bench-ledger-{uuid.uuid4().hex}",
            task_queue=s.workflow_tq,
        )
        out.append(time.perf_counter() - start)
        assert result.outcome.value == "ran", result
    return out


async def _latency(client: Client, tmp: Path, rounds: int, per_round: int) -> dict[str, float]:
    db = Store(f"sqlite+aiosqlite:///{tmp / 'ledger.db'}")
    await migrate.upgrade(db)
    off: list[float] = []
    on: list[float] = []
    async with stack(client) as plain, stack(client, store=db) as ledgered:
        _define(plain)
        _define(ledgered)
        await _latencies(plain, 3)  # warm both workers up
        await _latencies(ledgered, 3)
        for _ in range(rounds):
            off += await _latencies(plain, per_round)
            on += await _latencies(ledgered, per_round)
    rows = await Ledger(db).runs(activity_name="bench-ledger", limit=100_000)
    await db.close()
    assert len(rows) == 3 + rounds * per_round, f"{len(rows)} ledger rows"
    return {"off_ms": median(off) * 1000, "on_ms": median(on) * 1000, "runs_each": len(on)}


async def _start_unclaimed(client: Client, n: int) -> None:
    """N runs on a queue no worker polls: visibility has them, the ledger does not."""
    gate = asyncio.Semaphore(64)
    queue = f"bench-unclaimed-{uuid.uuid4().hex[:6]}"

    async def one(i: int) -> None:
        async with gate:
            await client.start_workflow(
                ActivityRunWorkflow.run,
                RunInput(activity_name="bench-reconcile", trigger="manual"),
                id=f"activity-run-bench-reconcile-manual-{i:06d}",
                task_queue=queue,
                search_attributes=sa.definition_attributes(str(uuid.uuid4()), "bench-reconcile"),
            )

    await asyncio.gather(*(one(i) for i in range(n)))
    deadline = time.monotonic() + 120
    while (await client.count_workflows("WorkflowType = 'ActivityRunWorkflow'")).count < n:
        if time.monotonic() > deadline:
            raise TimeoutError("visibility did not catch up")
        await asyncio.sleep(0.5)


async def _reconcile(client: Client, tmp: Path, n: int) -> dict[str, float | int]:
    await _start_unclaimed(client, n)
    since = datetime.now(UTC) - timedelta(hours=1)
    start = time.perf_counter()
    listed = [ex async for ex in client.list_workflows("WorkflowType = 'ActivityRunWorkflow'")]
    listing_s = time.perf_counter() - start
    db = Store(f"sqlite+aiosqlite:///{tmp / 'reconcile.db'}")
    await migrate.upgrade(db)
    reconciler = Reconciler(client, Ledger(db))
    start = time.perf_counter()
    first = await reconciler.run(since)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    second = await reconciler.run(since)
    second_s = time.perf_counter() - start
    await db.close()
    return {
        "runs": len(listed),
        "listing_s": listing_s,
        "first_pass_s": first_s,
        "first_pass_writes": first.runs_written,
        "second_pass_s": second_s,
        "second_pass_writes": second.runs_written,
    }


async def _main(quick: bool) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="actcore-bench-ledger-"))
    try:
        async with dev_server() as client:
            lat = await _latency(
                client, tmp, rounds=3 if quick else 6, per_round=5 if quick else 10
            )
        async with dev_server() as client:
            rec = await _reconcile(client, tmp, 1_000 if quick else 10_000)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = lat["on_ms"] / lat["off_ms"]
    report(
        "ledger",
        [
            {"case": "run latency, ledger off (median ms)", "value": lat["off_ms"]},
            {"case": "run latency, ledger on, SQLite (median ms)", "value": lat["on_ms"]},
            {"case": f"reconcile {rec['runs']} runs, first pass (s)", "value": rec["first_pass_s"]},
            {"case": "  rows written", "value": rec["first_pass_writes"]},
            {"case": "reconcile, second pass (s)", "value": rec["second_pass_s"]},
            {"case": "  rows written", "value": rec["second_pass_writes"]},
            {
                "case": f"bare visibility listing of {rec['runs']} runs (s)",
                "value": rec["listing_s"],
            },
        ],
        {
            "latency_ratio_on_over_off": ratio,
            "reconcile_first_pass_over_listing": rec["first_pass_s"] / rec["listing_s"],
            "reconcile_second_pass_over_listing": rec["second_pass_s"] / rec["listing_s"],
            "runs_per_case": lat["runs_each"],
            "targets": f"latency ratio <= {TARGET_RATIO}; second pass writes 0",
        },
    )
    return 0 if ratio <= TARGET_RATIO and rec["second_pass_writes"] == 0 else 1


def main(quick: bool = False) -> int:
    return asyncio.run(_main(quick))


if __name__ == "__main__":
    run_alone(main)
