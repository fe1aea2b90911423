"""The board in three states, seen in headless Chromium at 1280 and 390 px: healthy, a
sink down, a dead delivery. Each alert says what to do and links its runbook section and
run; a definition with a dead or waiting delivery is not ``ok``; on a phone the alerts
come before the definitions (read from the screenshot's pixels, not from the HTML).

The watchdog's last pass is a real completed workflow on a Temporal server of the test's
own (the board reads the latest pass in the namespace), whose result is the state shown."""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activity_core.api import create_app
from activity_core.domain import (
    ActivityDefinition,
    Alert,
    DefinitionSummary,
    DeliveryRecord,
    FireKind,
    FireVerdict,
    RunRecord,
    Severity,
    WatchdogPassResult,
    WatchdogState,
)
from activity_core.domain.constants import WATCHDOG_WORKFLOW
from activity_core.settings import Settings
from activity_core.store import Ledger, Registry, Store, migrate
from tests.api.test_board_browser import CHROMIUM, _chromium
from tests.helpers import assert_eventually, free_port, temporal_binary

PAGE_ALERT = bytes([0xFF, 0xF5, 0xF4])
NOTE_ALERT = bytes([0xFF, 0xFB, 0xEA])
NO_ALERTS = bytes([0xF3, 0xFB, 0xF5])
CARD_EDGE = bytes([0x8C, 0x95, 0x9F])
"""Background colours of a page alert, a note, "no open alerts", and a definition card's
top edge on a narrow screen (base.html)."""


@workflow.defn(name=WATCHDOG_WORKFLOW)
class PassStandIn:
    """Completes with the pass result it is given: the board's input, on a real server."""

    @workflow.run
    async def run(self, result: WatchdogPassResult) -> WatchdogPassResult:
        return result


@dataclass
class Shot:
    width: int
    height: int
    rows: list[bytes]
    channels: int

    def first_row_with(self, colour: bytes) -> int | None:
        for y, row in enumerate(self.rows):
            for x in range(0, len(row), self.channels):
                if row[x : x + 3] == colour:
                    return y
        return None


def read_png(path: Path) -> Shot:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
            assert body[8] == 8 and body[12] == 0, "only 8-bit, non-interlaced"
            channels = {2: 3, 6: 4}[body[9]]
        elif kind == b"IDAT":
            idat += body
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind_of, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind_of == 1:
                line[i] = (line[i] + a) & 255
            elif kind_of == 2:
                line[i] = (line[i] + b) & 255
            elif kind_of == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind_of == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return Shot(width, height, rows, channels)


def _definition(name: str, policy: str) -> ActivityDefinition:
    return ActivityDefinition.model_validate(
        {
            "name": name,
            "handler": "static_report",
            "trigger_config": {
                "trigger_type": "cron",
                "cron_expression": "20 6 * * *",
                "misfire_policy": policy,
            },
        }
    )


TRIAGE, EXPORT = (
    _definition("daily-triage", "skip"),
    _definition("nightly-export", "catchup_latest"),
)


def _run(d: ActivityDefinition, fire: datetime, state: str = "completed") -> RunRecord:
    return RunRecord(
        run_id=f"activity-run-{d.name}-{fire:%Y-%m-%d}",
        activity_id=str(d.id),
        activity_name=d.name,
        state=state,  # type: ignore[arg-type]
        outcome="ran" if state == "completed" else None,
        scheduled_for=fire,
        started_at=fire + timedelta(seconds=2),
        finished_at=fire + timedelta(seconds=40) if state == "completed" else None,
        updated_at=fire + timedelta(seconds=40),
    )


def _delivery(run: RunRecord, state: str, attempts: int, error: str | None) -> DeliveryRecord:
    return DeliveryRecord(
        workflow_id=f"delivery-{run.run_id}-state_hub",
        run_id=run.run_id,
        activity_id=run.activity_id,
        activity_name=run.activity_name,
        sink="state_hub",
        state=state,
        attempts=attempts,
        last_error=error,
        updated_at=datetime.now(UTC),
    )


def _summary(
    d: ActivityDefinition, fire: datetime, kind: FireKind, run_id: str
) -> DefinitionSummary:
    return DefinitionSummary(
        activity_id=str(d.id),
        name=d.name,
        policy=d.trigger_config.misfire_policy.value,  # type: ignore[union-attr]
        enabled=True,
        last=FireVerdict(fire=fire, kind=kind, run_id=run_id),
        next_fire=fire + timedelta(days=1),
    )


async def _serve_state(
    server_env: WorkflowEnvironment,
    tmp: Path,
    *,
    deliveries: list[tuple[str, int, str | None]],
    alerts: list[Alert],
    export_judged: FireKind,
) -> tuple[str, uvicorn.Server, asyncio.Task[None], Store]:
    fire = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    store = Store(f"sqlite+aiosqlite:///{tmp / 'board.db'}")
    await migrate.upgrade(store)
    await Registry(store).import_files([TRIAGE, EXPORT], {}, "test")
    triage_run, export_run = _run(TRIAGE, fire), _run(EXPORT, fire)
    ledger = Ledger(store)
    await ledger.record_runs([triage_run, export_run])
    await ledger.record_deliveries([_delivery(triage_run, *d) for d in deliveries])
    # The pass judged the export's fire while it ran; the ledger has recorded its end since.
    result = WatchdogPassResult(
        at=datetime.now(UTC),
        state=WatchdogState(open_alerts=alerts),
        summaries=[
            _summary(TRIAGE, fire, FireKind.OK, triage_run.run_id),
            _summary(EXPORT, fire, export_judged, export_run.run_id),
        ],
    )
    queue = f"board-{uuid.uuid4().hex[:8]}"
    async with Worker(
        server_env.client,
        task_queue=queue,
        workflows=[PassStandIn],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        await server_env.client.execute_workflow(
            PassStandIn.run, result, id=f"watchdog-{queue}", task_queue=queue
        )
    port = free_port()
    settings = Settings(home=tmp, api_read_open=True, web_ui_url="http://ui.example")
    app = create_app(settings, store=store, client=server_env.client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    serving = asyncio.create_task(server.serve())

    async def started() -> None:
        assert server.started

    await assert_eventually(started, within=15)
    return f"http://127.0.0.1:{port}/", server, serving, store


def _alert(kind: str, severity: Severity, name: str, fires: list[FireVerdict]) -> Alert:
    return Alert(
        alert_id=f"alert-{name}-{kind}-{uuid.uuid4().hex[:6]}",
        activity_id=str(TRIAGE.id) if name == TRIAGE.name else name,
        activity_name=name,
        kind=kind,
        severity=severity,
        fires=fires,
        opened_at=datetime.now(UTC) - timedelta(minutes=12),
        detail="3 deliveries waiting for 12 min" if kind.startswith("sink") else "",
    )


@pytest.fixture
async def server_env() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal server of the test's own: its latest watchdog pass is the test's."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_binary(),
        ui=False,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (CI installs Debian's chromium)")
@pytest.mark.parametrize("state", ["healthy", "sink-down", "dead-delivery"])
async def test_board_says_what_to_do_in_each_state(
    server_env: WorkflowEnvironment, tmp_path: Path, state: str
) -> None:
    fire_now = datetime.now(UTC)
    triage_fire = FireVerdict(
        fire=fire_now - timedelta(hours=1),
        kind=FireKind.DELIVERY_DEAD,
        run_id=f"activity-run-daily-triage-{fire_now:%Y-%m-%d}",
    )
    if state == "healthy":
        deliveries, alerts = [("delivered", 1, None)], []
    elif state == "sink-down":
        deliveries = [("waiting", 3, "connection refused")]
        alerts = [_alert("sink_waiting", Severity.NOTE, "state_hub", [])]
    else:
        deliveries = [("dead", 4, "400 Bad Request: the hub rejected the report")]
        alerts = [_alert("delivery_dead", Severity.PAGE, TRIAGE.name, [triage_fire])]
    url, server, serving, store = await _serve_state(
        server_env, tmp_path, deliveries=deliveries, alerts=alerts, export_judged=FireKind.RUNNING
    )
    try:
        dom = await _chromium(tmp_path / "profile", "--dump-dom", url)
        # The export's fire was judged while running; the ledger says it completed.
        assert 'data-name="nightly-export" data-state="ok"' in dom
        triage_state = {"healthy": "ok", "sink-down": "delivery_waiting"}.get(
            state, "delivery_dead"
        )
        assert f'data-name="daily-triage" data-state="{triage_state}"' in dom
        if state == "healthy":
            assert "No open alerts." in dom and 'class="alert' not in dom
        elif state == "sink-down":
            assert "sink_waiting: sink state_hub" in dom
            assert "<code>actcore deliveries list --status waiting</code>" in dom
            assert 'href="runbook#deliveries-are-waiting-what-now"' in dom
            assert "ReportDeliveryWorkflow" in dom and "DeliverySink" in dom  # Web UI link
        else:
            assert "delivery_dead: definition daily-triage" in dom
            assert "<code>actcore deliveries list --status dead</code>" in dom
            assert 'href="runbook#a-delivery-is-dead"' in dom
            assert (
                f'href="http://ui.example/namespaces/default/workflows/{triage_fire.run_id}"' in dom
            )
            assert "(12 min ago)" in dom
        # The alerts come before the definitions in the page itself.
        assert dom.index('id="alerts"') < dom.index('data-name="daily-triage"')

        wide, phone = tmp_path / "wide.png", tmp_path / "phone.png"
        await _chromium(tmp_path / "profile", f"--screenshot={wide}", "--window-size=1280,720", url)
        await _chromium(tmp_path / "profile", f"--screenshot={phone}", "--window-size=390,844", url)
        shot = read_png(phone)
        assert shot.width == 390
        colour = {"healthy": NO_ALERTS, "sink-down": NOTE_ALERT}.get(state, PAGE_ALERT)
        alert_at, card_at = shot.first_row_with(colour), shot.first_row_with(CARD_EDGE)
        assert alert_at is not None, f"{state}: no alert box in the phone screenshot"
        assert card_at is not None, f"{state}: no definition card in the phone screenshot"
        assert alert_at < card_at, (alert_at, card_at)
        others = {NO_ALERTS, NOTE_ALERT, PAGE_ALERT} - {colour}
        assert all(shot.first_row_with(c) is None for c in others), state
        assert read_png(wide).width == 1280

        async with httpx.AsyncClient(base_url=url) as http:
            page = (await http.get("definitions/daily-triage")).text
            assert 'data-delivery="state_hub"' in page
            if state == "dead-delivery":
                assert "actcore deliveries retry delivery-activity-run-daily-triage-" in page
                assert "4 tries" in page and "rejected the report" in page
            runbook = await http.get("runbook")
            assert runbook.status_code == 200
            assert 'id="a-delivery-is-dead"' in runbook.text
            assert 'id="deliveries-are-waiting-what-now"' in runbook.text
    finally:
        server.should_exit = True
        await serving
        await store.close()
