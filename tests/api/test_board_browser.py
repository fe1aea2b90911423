"""The board in a real browser (headless Chromium): the rows render, and a screenshot is
kept with the test's files. Skipped, saying why, only where no Chromium can be had."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from activity_core.api import create_app
from activity_core.domain import ActivityDefinition, RunRecord
from activity_core.settings import Settings
from activity_core.store import Ledger, Registry, Store, migrate
from tests.helpers import assert_eventually, free_port, fresh_namespace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def _chromium(profile: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        *FLAGS,
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    return out.decode()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (CI installs Debian's chromium)")
async def test_board_renders_in_chromium(env: WorkflowEnvironment, tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'board.db'}")
    await migrate.upgrade(store)
    defs = [
        ActivityDefinition.model_validate(
            {
                "name": name,
                "handler": "static_report",
                "trigger_config": {
                    "trigger_type": "cron",
                    "cron_expression": "20 7 * * *",
                    "timezone": "Europe/Berlin",
                    "misfire_policy": policy,
                },
            }
        )
        for name, policy in (("daily-triage", "skip"), ("nightly-export", "catchup_latest"))
    ]
    await Registry(store).import_files(defs, {}, "test")
    fire = datetime.now(UTC).replace(hour=6, minute=20, second=0, microsecond=0)
    await Ledger(store).record_runs(
        [
            RunRecord(
                run_id=f"activity-run-daily-triage-{fire:%Y-%m-%d}",
                activity_id=str(defs[0].id),
                activity_name="daily-triage",
                state="completed",
                outcome="ran",
                scheduled_for=fire,
                updated_at=fire + timedelta(seconds=40),
            )
        ]
    )
    port = free_port()
    settings = Settings(home=tmp_path, api_read_open=True, web_ui_url="http://ui.example")
    # A namespace no watchdog has passed over: the board must say the watchdog is stale.
    client = await fresh_namespace(env.client, "board-browser")
    app = create_app(settings, store=store, client=client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    serving = asyncio.create_task(server.serve())
    try:

        async def started() -> None:
            assert server.started

        await assert_eventually(started, within=15)
        url = f"http://127.0.0.1:{port}/"
        dom = await _chromium(tmp_path / "profile", "--dump-dom", url)
        assert 'data-name="daily-triage"' in dom and 'data-name="nightly-export"' in dom
        assert "completed/ran" in dom and "none recorded" in dom
        assert "Watchdog stale" in dom
        shot = tmp_path / "board.png"
        await _chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,720", url)
        assert shot.exists() and shot.stat().st_size > 10_000
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        phone = tmp_path / "board-phone.png"
        await _chromium(tmp_path / "profile", f"--screenshot={phone}", "--window-size=390,844", url)
        assert phone.exists() and phone.stat().st_size > 5_000
    finally:
        server.should_exit = True
        await serving
        await store.close()
