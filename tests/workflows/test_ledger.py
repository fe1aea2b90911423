"""The ledger from real runs: rows written by the runs themselves, a database that is down
never fails or delays a run, and reconciliation fills in what was missed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.handlers import HandlerContext
from activities.handlers.static import static_report
from activities.run import RunActivities
from activity_core.dev.statehub import StateHub
from activity_core.domain import (
    DeliveryRecord,
    HandlerInput,
    LedgerWriteResult,
    RunInput,
    RunOutcome,
    RunRecord,
)
from activity_core.domain.report import report_digest
from activity_core.loader import load_definitions
from activity_core.services.ledger import reconcile
from activity_core.services.status import status_report
from activity_core.store import Ledger, Registry, Store, migrate
from tests.helpers import Stack, assert_eventually, new_worker, running_stack
from workflows.activity_run import ActivityRunWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow
from workflows.sink_monitor import SinkMonitorWorkflow


def _hub_sinks(hub: StateHub) -> list[dict[str, object]]:
    return [
        {"type": "working_memory"},
        {"type": "state_hub_progress", "event_type": "ledger_test", "url": hub.url},
    ]


async def test_a_run_records_its_row_and_its_delivery(stack: Stack, hub: StateHub) -> None:
    stack.define("ledgered", sinks=_hub_sinks(hub))
    result = await stack.run("ledgered")
    assert result.outcome == RunOutcome.RAN and not result.ledger_pending

    row = await stack.ledger.run(result.run_id)
    assert row is not None
    assert (row.state, row.outcome, row.trigger) == ("completed", "ran", "manual")
    assert row.note_path == result.report_path
    assert row.scheduled_for == result.scheduled_for
    assert row.started_at is not None and row.finished_at is not None
    assert row.started_at <= row.finished_at
    assert row.report_digest is not None and len(row.report_digest) == 64

    await stack.delivery(result.run_id, "state_hub").result()

    async def delivered() -> None:
        rows = await stack.ledger.deliveries(result.run_id)
        assert [(d.sink, d.state, d.attempts) for d in rows] == [("state_hub", "delivered", 1)]

    await assert_eventually(delivered)


async def test_the_report_digest_is_that_of_the_report_persisted(stack: Stack) -> None:
    stack.define("digested", params={"title": "t", "body": "some words"})
    result = await stack.run("digested")
    row = await stack.ledger.run(result.run_id)
    assert row is not None and row.scheduled_for is not None
    definition = load_definitions(stack.definitions_dir).by_name("digested")
    handler_input = HandlerInput(
        definition=definition, run_id=result.run_id, scheduled_for=row.scheduled_for
    )
    report = await static_report(HandlerContext(handler_input, stack.client, stack.settings))
    assert row.report_digest == report_digest(report)
    assert report.markdown in Path(result.report_path or "").read_text()


async def test_a_synced_definition_runs_from_the_registry_despite_a_broken_neighbour(
    stack: Stack,
) -> None:
    stack.define("registered", params={"title": "from the registry", "body": "synced"})
    loaded = load_definitions(stack.definitions_dir)
    assert stack.store is not None
    await Registry(stack.store).import_files(loaded.definitions, loaded.sources, "test")
    # After the sync the file is half-saved and a neighbour is broken: the run still
    # loads its own definition, as synced.
    (stack.definitions_dir / "registered.yaml").write_text("name: [")
    (stack.definitions_dir / "zz.yaml").write_text("name: broken\n")
    result = await stack.run("registered")
    assert result.outcome == RunOutcome.RAN
    assert "synced" in Path(result.report_path or "").read_text()


class StoppablePostgres:
    """A PostgreSQL server of this test's own, so it can be stopped and started again."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.server: Any = None

    def start(self) -> str:
        import pgserver

        self.server = pgserver.get_server(self.data, cleanup_mode="stop")
        url = make_url(self.server.get_uri()).set(drivername="postgresql+asyncpg")
        return url.render_as_string(hide_password=False)

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[StoppablePostgres]:
    pg = StoppablePostgres(tmp_path / "pg")
    yield pg
    pg.stop()


async def test_database_down_during_a_run_then_reconcile_fills_in_once(
    env: WorkflowEnvironment, hub: StateHub, tmp_path: Path, postgres: StoppablePostgres
) -> None:
    url = postgres.start()
    admin = Store(url)
    await migrate.upgrade(admin)
    async with running_stack(env, env.client, tmp_path / "w", db_url=url) as stack:
        stack.define("db-outage", sinks=_hub_sinks(hub))
        postgres.stop()  # the database goes down
        await admin.engine.dispose()
        started = time.monotonic()
        result = await stack.run("db-outage")
        took = time.monotonic() - started
        assert result.outcome == RunOutcome.RAN
        assert result.ledger_pending
        assert took < 15, f"a run with the database down took {took:.1f} s"
        await stack.delivery(result.run_id, "state_hub").result()

        assert postgres.start() == url  # back up, same database
        since = datetime.now(UTC) - timedelta(hours=1)
        first = await reconcile(env.client, admin, since)
        assert first.runs_written >= 1 and first.deliveries_written >= 1
        row = await Ledger(admin).run(result.run_id)
        assert row is not None
        assert (row.state, row.outcome, row.note_path) == ("completed", "ran", result.report_path)
        deliveries = await Ledger(admin).deliveries(result.run_id)
        assert [(d.sink, d.state) for d in deliveries] == [("state_hub", "delivered")]

        second = await reconcile(env.client, admin, since)
        assert (second.runs_written, second.deliveries_written) == (0, 0)
        assert second.runs_seen >= first.runs_seen
    await admin.close()


async def test_the_digest_reads_its_runs_from_the_ledger(stack: Stack) -> None:
    stack.define("counted")
    first, second = await stack.run("counted"), await stack.run("counted")
    stack.define("digest", handler="activity_digest", params={"hours": 1})
    result = await stack.run("digest")
    note = Path(result.report_path or "").read_text()
    assert "Runs read from the ledger" in note
    assert first.run_id in note and second.run_id in note
    assert result.run_id not in note.split("## Runs", 1)[1]  # not itself


async def test_without_a_store_the_digest_reads_visibility(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(env, env.client, tmp_path, db_url="none") as stack:
        stack.define("counted-plain")
        ran = await stack.run("counted-plain")
        assert not ran.ledger_pending  # the store is off: nothing is owed
        stack.define("digest-plain", handler="activity_digest", params={"hours": 1})

        async def listed() -> str:
            note = Path((await stack.run("digest-plain")).report_path or "").read_text()
            assert "Runs read from Temporal visibility" in note
            assert ran.run_id in note
            return note

        await assert_eventually(listed, within=20)


async def test_status_shows_each_definitions_latest_run_from_the_ledger(stack: Stack) -> None:
    stack.define(
        "statused",
        trigger_config={
            "trigger_type": "interval",
            "every_seconds": 3600,
            "misfire_policy": "skip",
        },
    )
    result = await stack.run("statused")
    report = await status_report(stack.client, stack.settings, ["statused"], stack.ledger)
    definition = load_definitions(stack.definitions_dir).by_name("statused")
    recorded = report.recorded[str(definition.id)]
    assert (recorded.run_id, recorded.state, recorded.outcome) == (
        result.run_id,
        "completed",
        "ran",
    )
    text = report.render()
    assert f"ledger: {stack.ledger.where}" in text
    when = f"{recorded.scheduled_for:%Y-%m-%d %H:%M}"
    assert f"ledger: {when}" in text and "completed/ran" in text
    fits = [line for line in text.splitlines() if not line.startswith("ledger: sqlite")]
    assert all(len(line) <= 100 for line in fits), text
    as_json = report.as_json()
    assert as_json["definitions"][0]["last_recorded_run"]["run_id"] == result.run_id


@activity.defn(name="record_run")
async def crashing_record_run(record: RunRecord) -> LedgerWriteResult:
    raise RuntimeError("the ledger activity itself crashed")


@activity.defn(name="record_delivery")
async def crashing_record_delivery(record: DeliveryRecord) -> LedgerWriteResult:
    raise RuntimeError("the ledger activity itself crashed")


async def test_a_crashing_ledger_activity_never_fails_the_run(stack: Stack, hub: StateHub) -> None:
    stack.define("crash-proof", sinks=_hub_sinks(hub))
    worker = new_worker(
        stack.client,
        ActivityRunWorkflow,
        ReportDeliveryWorkflow,
        SinkMonitorWorkflow,
        activities=[
            crashing_record_run,
            crashing_record_delivery,
            RunActivities(stack.client, stack.settings, stack.store).load_definition,
        ],
    )
    async with worker:
        result = await stack.client.execute_workflow(
            ActivityRunWorkflow.run,
            RunInput(
                activity_name="crash-proof",
                trigger="manual",
                activity_task_queue=stack.activity_tq,
            ),
            id=f"run-crash-proof-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
            execution_timeout=timedelta(minutes=2),
        )
        assert result.outcome == RunOutcome.RAN and result.ledger_pending
        delivered = await stack.delivery(result.run_id, "state_hub").result()
        assert delivered.state.value == "delivered"
    assert await stack.ledger.run(result.run_id) is None  # reconciliation's to fill in


async def test_status_shows_the_objectives_error_budget_from_the_ledger(stack: Stack) -> None:
    stack.define(
        "aimed",
        trigger_config={
            "trigger_type": "interval",
            "every_seconds": 3600,
            "misfire_policy": "skip",
        },
        watch={"objective": "90% delivered within 1h"},
    )
    definition = load_definitions(stack.definitions_dir).by_name("aimed")
    now = datetime.now(UTC)
    runs, deliveries = [], []
    for day, late in (
        (1, timedelta(minutes=5)),
        (2, timedelta(minutes=5)),
        (3, timedelta(hours=2)),
    ):
        fire = now - timedelta(days=day)
        runs.append(
            RunRecord(
                run_id=f"activity-run-aimed-{day}",
                activity_id=str(definition.id),
                activity_name="aimed",
                state="completed",
                outcome="ran",
                scheduled_for=fire,
                updated_at=fire,
            )
        )
        deliveries.append(
            DeliveryRecord(
                workflow_id=f"delivery-activity-run-aimed-{day}-hub",
                run_id=f"activity-run-aimed-{day}",
                activity_id=str(definition.id),
                activity_name="aimed",
                sink="hub",
                state="delivered",
                delivered_at=fire + late,
                updated_at=fire + late,
            )
        )
    await stack.ledger.record_runs(runs)
    await stack.ledger.record_deliveries(deliveries)
    report = await status_report(stack.client, stack.settings, ["aimed"], stack.ledger)
    text = report.render()
    assert "objective 90% delivered within 1h: 66.7% over 30 days (2/3), exhausted" in text
    (row,) = report.as_json()["definitions"]
    assert row["service_level"]["good"] == 2 and row["service_level"]["judged"] == 3
