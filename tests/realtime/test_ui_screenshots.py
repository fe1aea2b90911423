"""The Temporal Web UI answers the operator's questions, seen in a real browser: the dev
stack with a dead delivery, a waiting one and a skipped fire; headless Chromium renders
each page the docs show, the page says what the docs claim (definition names, the
skipped run, the waiting and the dead delivery), and its screenshot is kept.

``ACTCORE_DOCS_SCREENSHOTS=1`` also writes the screenshots into ``docs/ui/``.
Skipped, saying why, only where no Chromium can be had (CI installs Debian's)."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy

from activity_core.domain.schedule_spec import schedule_id
from activity_core.loader import load_definitions
from activity_core.temporal_client import connect
from tests.helpers import actcore_cli, assert_eventually

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "ui"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
# The UI is a single-page app: let it fetch and render before the page is read.
SETTLE = "--virtual-time-budget=10000"


@dataclass
class Page:
    name: str
    path: str
    shows: list[str]
    """Texts the rendered page must contain (what its screenshot is there to show)."""
    hides: tuple[str, ...] = ()
    """Texts it must not contain (what its filter leaves out)."""
    size: str = "1600,700"
    """Browser window (the screenshot's size)."""


async def _chromium(profile: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        *FLAGS,
        f"--user-data-dir={profile}",
        SETTLE,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    return out.decode()


def _query(text: str) -> str:
    return "?query=" + quote(text)


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (CI installs Debian's chromium)")
async def test_web_ui_pages_show_names_outcomes_and_failures(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    up = await asyncio.to_thread(actcore_cli, cli_env, "dev", "up", "--detach", "--no-demo")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        client = await connect({"TEMPORAL_ADDRESS": cli_env["TEMPORAL_ADDRESS"]})
        defs = load_definitions(REPO / "definitions")
        heartbeat = defs.by_name("hourly-heartbeat")

        # A dead delivery: the hub rejects the digest's report for good (400).
        for args in (
            ("statehub", "fault", "400"),
            ("trigger", "daily-activity-digest", "--wait"),
            ("statehub", "fault", "refuse"),  # then a waiting one: the hub is away
            ("trigger", "hourly-heartbeat", "--wait"),
        ):
            done = await asyncio.to_thread(actcore_cli, cli_env, *args)
            assert done.returncode == 0, (args, done.stdout + done.stderr)
        # A skipped fire: the schedule starts the heartbeat for a fire two hours old
        # (its policy is skip), and a fire of now, so the schedule has recent runs.
        schedule = client.get_schedule_handle(schedule_id(heartbeat))
        now = datetime.now(UTC)
        await schedule.backfill(
            ScheduleBackfill(
                start_at=now - timedelta(hours=3),
                end_at=now - timedelta(hours=2),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            )
        )

        async def settled() -> None:
            assert await _count(client, 'RunOutcome="skipped_missed"') >= 1
            assert await _count(client, 'DeliveryStatus="dead"') >= 1
            assert await _count(client, 'DeliveryStatus="waiting"') >= 1

        await assert_eventually(settled, within=60)

        ui = f"http://127.0.0.1:{cli_env['ACTCORE_UI_PORT']}/namespaces/default"
        [digest, *_] = [
            w
            async for w in client.list_workflows(
                'WorkflowType="ActivityRunWorkflow" AND ActivityName="daily-activity-digest"'
            )
        ]
        pages = [
            Page(
                "schedule-by-name",
                "/schedules" + _query('ActivityName="hourly-heartbeat"'),
                [schedule_id(heartbeat)],
                hides=(schedule_id(defs.by_name("daily-activity-digest")),),
            ),
            Page(
                "schedule",
                f"/schedules/{schedule_id(heartbeat)}",
                ["hourly-heartbeat: managed by activity-core sync", "ActivityName"],
                size="1600,1000",
            ),
            Page(
                "skipped-fires",
                "/workflows" + _query('RunOutcome="skipped_missed"'),
                ["activity-run-hourly-heartbeat-", "Completed"],
            ),
            Page(
                "waiting-deliveries",
                "/workflows" + _query('DeliveryStatus="waiting"'),
                ["delivery-activity-run-hourly-heartbeat-manual-", "state_hub"],
            ),
            # Payloads are sealed (the stack's codec key): the page reads the run's result
            # through the codec server, so its fields show; the raw history has none.
            Page(
                "run-decoded",
                f"/workflows/{digest.id}/{digest.run_id}/history",
                ["note_status", "report_path"],
                hides=("binary/encrypted",),
                size="1600,1000",
            ),
            Page(
                "dead-deliveries",
                "/workflows" + _query('DeliveryStatus="dead"'),
                ["delivery-activity-run-daily-activity-digest-manual-", "state_hub"],
            ),
        ]
        for page in pages:
            url = ui + page.path
            dom = await _chromium(tmp_path / f"dom-{page.name}", "--dump-dom", url)
            for text in page.shows:
                assert text in dom, f"{page.name}: {text!r} not on {url}"
            for text in page.hides:
                assert text not in dom, f"{page.name}: {text!r} on {url}"
            shot = tmp_path / f"{page.name}.png"
            await _chromium(
                tmp_path / f"shot-{page.name}",
                f"--screenshot={shot}",
                f"--window-size={page.size}",
                url,
            )
            assert shot.stat().st_size > 20_000, f"{page.name}: a blank screenshot"
            if os.environ.get("ACTCORE_DOCS_SCREENSHOTS") == "1":
                DOCS.mkdir(exist_ok=True)
                shutil.copyfile(shot, DOCS / shot.name)
    finally:
        down = await asyncio.to_thread(actcore_cli, cli_env, "dev", "down")
    assert down.returncode == 0, down.stderr
