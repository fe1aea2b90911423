"""The board and the status API under a realistic registry: N definitions with 30 days of
ledger each, served in-process (httpx's ASGI transport) by the real app, against a bare
``GET /health`` in the same run.

``GET /`` is measured with its 5 s cache turned off, so every request builds the view
(registry, last watchdog pass, ledger). ``GET /status`` judges every definition live, as
``actcore status`` does; it is measured with fewer requests. Target: board p99 <= 250 ms.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from activity_core.api import board as board_module
from activity_core.api import create_app
from activity_core.domain import ActivityDefinition, RunRecord
from activity_core.settings import Settings
from activity_core.store import Ledger, Registry, Store, migrate
from bench.harness import dev_server, report, run_alone

TARGET_P99_MS = 250.0
POLICIES = ("skip", "catchup_all", "catchup_latest")


def _definitions(n: int) -> list[ActivityDefinition]:
    return [
        ActivityDefinition.model_validate(
            {
                "name": f"bench-def-{i:04d}",
                "handler": "static_report",
                "trigger_config": {
                    "trigger_type": "cron",
                    "cron_expression": f"{i % 60} {i % 24} * * *",
                    "timezone": "Europe/Berlin",
                    "misfire_policy": POLICIES[i % 3],
                },
            }
        )
        for i in range(n)
    ]


async def _fill(store: Store, defs: list[ActivityDefinition], days: int) -> int:
    await Registry(store).import_files(defs, {}, "bench")
    ledger = Ledger(store)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = 0
    for d in defs:
        records = [
            RunRecord(
                run_id=f"activity-run-{d.name}-{day}",
                activity_id=str(d.id),
                activity_name=d.name,
                state="completed",
                outcome="ran",
                scheduled_for=now - timedelta(days=day),
                updated_at=now - timedelta(days=day),
            )
            for day in range(days)
        ]
        rows += await ledger.record_runs(records)
    return rows


async def _times(http: httpx.AsyncClient, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        answer = await http.get(path)
        out.append((time.perf_counter() - start) * 1000)
        assert answer.status_code < 500, (path, answer.status_code, answer.text[:200])
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _main(quick: bool) -> int:
    n, days, requests = (200, 30, 50) if quick else (1000, 30, 200)
    tmp = Path(tempfile.mkdtemp(prefix="actcore-bench-api-"))
    store = Store(f"sqlite+aiosqlite:///{tmp / 'api.db'}")
    await migrate.upgrade(store)
    rows = await _fill(store, _definitions(n), days)
    board_module.CACHE_S = 0.0  # every request builds the board
    results: dict[str, list[float]] = {}
    try:
        async with dev_server() as client:
            settings = Settings(home=tmp, api_read_open=True, definitions_dir=tmp)
            app = create_app(settings, store=store, client=client)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://api", timeout=300
                ) as http:
                    await _times(http, "/health", 3)  # warm up
                    results["GET /health"] = await _times(http, "/health", requests)
                    results["GET / (board)"] = await _times(http, "/", requests)
                    results["GET /status (live)"] = await _times(http, "/status", 3)
    finally:
        await store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    table: list[dict[str, Any]] = [
        {
            "case": case,
            "requests": len(v),
            "p50_ms": statistics.median(v),
            "p99_ms": _pct(v, 0.99),
        }
        for case, v in results.items()
    ]
    board_p99 = _pct(results["GET / (board)"], 0.99)
    health_p50 = statistics.median(results["GET /health"])
    report(
        "api_board",
        table,
        {
            "definitions": n,
            "ledger_rows": rows,
            "board_p99_over_health_p50": board_p99 / health_p50,
            "target": f"board p99 <= {TARGET_P99_MS:.0f} ms",
        },
    )
    return 0 if board_p99 <= TARGET_P99_MS else 1


def main(quick: bool = False) -> int:
    return asyncio.run(_main(quick))


if __name__ == "__main__":
    run_alone(main)
