"""The missed-fire watchdog against real faults, in real time on a dev server.

Each test has one interval definition firing every few seconds, a run worker that can
be stopped, and a watchdog worker on its own queue that stays up (as in a deployment
where the watchdog runs apart from the run workers). Alerts are checked where an
operator would see them: the note, the State Hub event, and ``actcore status``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import (
    Client,
    Interceptor,
    ListWorkflowsInput,
    OutboundInterceptor,
    WorkflowExecutionAsyncIterator,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.watchdog_judge import judge
from activities.watchdog_observe import Observer
from activity_core.catalog import Catalog
from activity_core.dev.statehub import StateHub
from activity_core.domain import ActivityDefinition, WatchdogInput, WatchdogPassResult
from activity_core.domain.constants import WATCHDOG_SCHEDULE_ID, WATCHDOG_TQ
from activity_core.domain.schedule_spec import schedule_id, watchdog_schedule
from activity_core.loader import load_definitions
from activity_core.services.schedules import sync_schedules
from activity_core.services.status import StatusReport, status_report
from activity_core.settings import Settings
from activity_core.store import Store, migrate
from activity_core.store.mutes import Mutes
from activity_core.worker import Workers, build_workers
from tests.helpers import RestartableServer, assert_eventually
from workflows.watchdog import MissedFireWatchdogWorkflow

INTERVAL_S = 4
TOLERANCE_S = 3
LOOKBACK_S = 120.0


class Watched:
    """One definition, a stoppable run worker, an always-on watchdog worker, a hub."""

    def __init__(self, tmp_path: Path, watch: dict[str, Any] | None = None, **trigger: Any) -> None:
        self.server = RestartableServer(tmp_path / "temporal.db")
        self.hub = StateHub().start()
        defs = tmp_path / "definitions"
        defs.mkdir()
        body = {
            "name": "wd-demo",
            "handler": "static_report",
            "trigger_config": {
                "trigger_type": "interval",
                "every_seconds": INTERVAL_S,
                "catchup_window_seconds": 10,
                **trigger,
            },
            "watch": {"late_after_seconds": TOLERANCE_S, **(watch or {})},
        }
        (defs / "wd-demo.yaml").write_text(yaml.safe_dump(body))
        self.definition: ActivityDefinition = load_definitions(defs).definitions[0]
        self.definitions = [self.definition]
        """What sync schedules (a test may add to it)."""
        self.settings = Settings(
            definitions_dir=defs,
            working_memory_dir=tmp_path / "notes",
            state_hub_url=self.hub.url,
            watchdog_lookback_seconds=LOOKBACK_S,
        )
        self.client: Client | None = None
        self.store: Store | None = None
        """The watchdog's registry (mutes), when a test gives it one."""
        self._workers: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        self._passes = 0

    async def start_server(self) -> Client:
        self.client = await self.server.start()
        return self.client

    def _start(self, role: str, workers: Workers) -> None:
        stop = asyncio.Event()
        self._workers[role] = (stop, asyncio.create_task(workers.run_until(stop)))

    def start_runs(self) -> None:
        assert self.client is not None
        self._start("runs", build_workers(self.client, self.settings))

    def start_watchdog(self) -> None:
        assert self.client is not None
        workers = build_workers(
            self.client,
            self.settings,
            runs=False,
            watchdog_task_queue=WATCHDOG_TQ,
            store=self.store,
        )
        self._start("watchdog", workers)

    async def stop(self, role: str) -> None:
        stop, task = self._workers.pop(role)
        stop.set()
        await asyncio.wait_for(task, 30)

    async def sync(self, watchdog_every: int | None = None) -> None:
        assert self.client is not None
        extras = [watchdog_schedule(watchdog_every)] if watchdog_every else []
        await sync_schedules(self.client, self.definitions, extras=extras)

    async def watchdog_pass(self) -> WatchdogPassResult:
        """One pass, started by hand; waits until visibility lists it as completed."""
        assert self.client is not None
        self._passes += 1
        pass_id = f"wd-pass-{self._passes}"
        result = await self.client.execute_workflow(
            MissedFireWatchdogWorkflow.run,
            WatchdogInput(lookback_seconds=LOOKBACK_S),
            id=pass_id,
            task_queue=WATCHDOG_TQ,
            execution_timeout=timedelta(minutes=2),
        )

        async def listed() -> None:
            assert self.client is not None
            n = await self.client.count_workflows(
                f"WorkflowId = '{pass_id}' AND ExecutionStatus = 'Completed'"
            )
            assert n.count == 1

        await assert_eventually(listed, within=10, interval=0.1)
        return result

    async def healthy_then_stop_runs(self) -> None:
        """Two on-time fires, then stop the run worker between fires (watchdog stays up)."""
        self.start_runs()
        self.start_watchdog()
        await self.sync()
        await asyncio.sleep(INTERVAL_S * 2)
        await self.scheduler_idle()
        await self.stop("runs")

    async def pass_until(self, field: str, within: float) -> WatchdogPassResult:
        """Run passes until one has something in ``field`` (``raised``, ``recovered``)."""

        async def attempt() -> WatchdogPassResult:
            result = await self.watchdog_pass()
            assert getattr(result, field), f"nothing {field} yet"
            return result

        return await assert_eventually(attempt, within=within, interval=1)

    def notes(self, kind: str | None = None) -> list[Path]:
        folder = self.settings.working_memory_dir / "alerts"
        pattern = f"alert-{kind}-*.md" if kind else "alert-*.md"
        return sorted(folder.glob(pattern)) if folder.exists() else []

    def hub_alerts(self) -> list[dict[str, Any]]:
        return self.hub.events("activity_alert")

    async def scheduler_idle(self) -> None:
        """The schedule has seen its last run finish and its next fire is not imminent."""
        assert self.client is not None

        async def idle() -> None:
            assert self.client is not None
            desc = await self.client.get_schedule_handle(schedule_id(self.definition)).describe()
            assert not desc.info.running_actions
            nxt = desc.info.next_action_times[0]
            assert (nxt - datetime.now(UTC)).total_seconds() > 1.5

        await assert_eventually(idle, within=30, interval=0.05)

    async def close(self) -> None:
        for role in list(self._workers):
            await self.stop(role)
        self.server.stop()
        self.hub.stop()
        if self.store is not None:
            await self.store.close()


@pytest.fixture
async def watched(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Watched]:
    w = Watched(tmp_path, **request.param)
    await w.start_server()
    try:
        yield w
    finally:
        await w.close()


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


@pytest.mark.parametrize("watched", [{"misfire_policy": "catchup_latest"}], indirect=True)
async def test_worker_down_pages_once_then_a_recovery_notice_follows(watched: Watched) -> None:
    w = watched
    assert w.client is not None
    w.start_runs()
    w.start_watchdog()
    await w.sync()
    await asyncio.sleep(INTERVAL_S * 2 + 1)

    # Healthy: the watchdog's expected fires are the fires the server acted on.
    now = datetime.now(UTC)
    seen = await Observer(w.client).observe_one(w.definition, now, now - timedelta(seconds=60))
    # Runs are listed after `now`: a fire that came in between is not expected yet.
    started = sorted(r.nominal for r in seen.runs if r.nominal is not None and r.nominal <= now)
    assert started and started == [f for f in seen.expected_fires if f <= started[-1]]
    healthy = await w.watchdog_pass()
    assert healthy.raised == [] and healthy.state.open_alerts == []

    await w.scheduler_idle()
    await w.stop("runs")
    fault_at = time.monotonic()

    first = await w.pass_until("raised", within=30)
    time_to_alert = time.monotonic() - fault_at
    alert = only(first.state.open_alerts)
    assert (alert.kind, alert.severity.value) == ("pending_unclaimed", "page")
    assert first.raised == [alert.alert_id]

    again = await w.watchdog_pass()
    assert again.raised == [] and [a.alert_id for a in again.state.open_alerts] == [alert.alert_id]
    only(w.notes("pending_unclaimed"))

    async def on_hub() -> None:
        event = only(w.hub_alerts())
        assert event["detail"]["alert_id"] == alert.alert_id
        assert event["detail"]["severity"] == "page"

    await assert_eventually(on_hub, within=15)
    report = await status_report(w.client, w.settings)
    assert report.exit_code() == 1
    assert [a.alert_id for a in report.pages()] == [alert.alert_id]
    # By default the last pass answers (cheap at any scale) and says so; --live judges now.
    assert not report.live and "verdicts below are that pass's" in report.render()
    assert report.as_json()["judged"] == "last pass"
    live = await status_report(w.client, w.settings, live=True)
    assert live.live and [a.alert_id for a in live.pages()] == [alert.alert_id]

    w.start_runs()

    back = await w.pass_until("recovered", within=40)
    assert back.recovered == [f"{alert.alert_id}-recovered"] and back.raised == []
    assert back.state.open_alerts == []
    only(w.notes("recovered"))

    async def recovery_on_hub() -> None:
        kinds = sorted(e["detail"]["alert_kind"] for e in w.hub_alerts())
        assert kinds == ["pending_unclaimed", "recovered"]

    await assert_eventually(recovery_on_hub, within=15)
    report = await status_report(w.client, w.settings)
    assert report.exit_code() == 0 and report.open_alerts == []
    print(f"\nworker down -> pending_unclaimed page after {time_to_alert:.1f} s")


async def _server_outage(w: Watched, seconds: float) -> float:
    """Healthy fires, then the server (and every worker) down for ``seconds``; returns the
    monotonic time it came back, with the run and watchdog workers polling again."""
    await w.healthy_then_stop_runs()
    await w.watchdog_pass()  # a watchdog that was running before the outage
    await w.stop("watchdog")
    w.server.stop()
    await asyncio.sleep(seconds)
    await w.start_server()
    back = time.monotonic()
    w.start_runs()
    w.start_watchdog()
    return back


async def _passes_for(w: Watched, seconds: float) -> list[WatchdogPassResult]:
    """A pass about every second for ``seconds`` (each sees the previous one's state)."""
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out.append(await w.watchdog_pass())
        await asyncio.sleep(1)
    return out


@pytest.mark.parametrize(
    "watched", [{"misfire_policy": "skip", "catchup_window_seconds": 10}], indirect=True
)
async def test_server_down_skip_policy_one_page_and_one_recovery(watched: Watched) -> None:
    """Fires beyond the window are missing (one page naming the server and how many it
    missed in this outage); the in-window fire skipped behind the server's catch-up run is
    a note in the same alert, not a second page; one recovery notice follows."""
    w = watched
    assert w.client is not None
    back = await _server_outage(w, 22)
    passes = await _passes_for(w, 40)
    raised = [a for p in passes for a in p.raised]
    recovered = [r for p in passes for r in p.recovered]
    alerts = {a.alert_id: a for p in passes for a in p.state.open_alerts}
    pages = [
        aid for aid in raised if alerts.get(aid) is None or alerts[aid].severity.value == "page"
    ]
    assert len(pages) == 1, raised
    page = next(a for p in passes for a in p.state.open_alerts if a.alert_id == pages[0])
    missing = [f for f in page.fires if f.kind.value == "missing"]
    assert len(missing) >= 2 and all("not started by the server" in f.detail for f in missing)
    assert all("lifetime" not in f.detail for f in missing)
    assert recovered == [f"{pages[0]}-recovered"]
    raised_at = next(i for i, p in enumerate(passes) if p.raised)
    recovered_at = next(i for i, p in enumerate(passes) if p.recovered)
    assert recovered_at > raised_at  # never in the same pass

    async def on_hub() -> None:
        kinds = sorted(e["detail"]["alert_kind"] for e in w.hub_alerts())
        assert kinds == ["missing", "recovered"]

    await assert_eventually(on_hub, within=15)
    print(f"\nskip, server down 22 s: page {raised_at} passes after it came back")
    del back


@pytest.mark.parametrize(
    "watched", [{"misfire_policy": "catchup_latest", "catchup_window_seconds": 10}], indirect=True
)
async def test_server_down_catchup_latest_covers_the_outage_without_a_page(
    watched: Watched,
) -> None:
    """The server starts only the latest fire; that run covers every fire it dropped, and
    the watchdog judges them covered: no page, no recovery notice."""
    w = watched
    assert w.client is not None
    await _server_outage(w, 22)
    passes = await _passes_for(w, 30)
    assert [a for p in passes for a in p.raised if a] == []
    last = passes[-1].summaries[0]
    assert last.counts.get("covered", 0) >= 3, last
    assert "missing" not in last.counts, last


@pytest.mark.parametrize(
    "watched", [{"misfire_policy": "catchup_all", "catchup_window_seconds": 3600}], indirect=True
)
async def test_server_down_catchup_all_never_pages_a_fire_the_server_still_runs(
    watched: Watched,
) -> None:
    """Passes start right as the server comes back, before its scheduler has acted: the
    outage's fires are not missing (they run, late: a note at most)."""
    w = watched
    assert w.client is not None
    await _server_outage(w, 22)
    passes = await _passes_for(w, 30)
    severities = {a.severity.value for p in passes for a in p.state.open_alerts}
    assert "page" not in severities, [a.title() for p in passes for a in p.state.open_alerts]
    last = passes[-1].summaries[0]
    assert "missing" not in last.counts and last.counts.get("late", 0) >= 3, last


@pytest.mark.parametrize("watched", [{"misfire_policy": "skip"}], indirect=True)
async def test_skip_policy_leaves_one_note_and_no_page(watched: Watched) -> None:
    w = watched
    assert w.client is not None
    await w.healthy_then_stop_runs()
    stopped_at = time.monotonic()
    await asyncio.sleep(14)  # the waiting run is now beyond its 10 s window
    w.start_runs()

    async def skip_recorded() -> None:
        # Passes judge after the worker has picked the waiting run up (until then the run
        # is rightly pending_unclaimed, a page: the worker *was* down).
        assert w.client is not None
        n = await w.client.count_workflows(
            f"ActivityId = '{w.definition.id}' AND RunOutcome = 'skipped_missed'"
        )
        assert n.count >= 1

    await assert_eventually(skip_recorded, within=30, interval=0.2)
    first = await w.pass_until("raised", within=30)
    alert = only(first.state.open_alerts)
    assert (alert.kind, alert.severity.value) == ("skipped_by_policy", "note")
    print(f"\nskip policy, worker down 14 s -> note {time.monotonic() - stopped_at:.1f} s later")
    assert {f.kind.value for f in alert.fires} == {"skipped_by_policy"}
    report = await status_report(w.client, w.settings)
    assert report.exit_code() == 0  # a note waits for the next working session
    assert [a.alert_id for a in report.open_alerts] == [alert.alert_id]

    async def on_hub() -> None:
        event = only(w.hub_alerts())
        assert (event["detail"]["alert_kind"], event["detail"]["severity"]) == (
            "skipped_by_policy",
            "note",
        )

    await assert_eventually(on_hub, within=15)

    async def closed() -> WatchdogPassResult:
        result = await w.watchdog_pass()
        assert result.state.open_alerts == [], "still open"
        return result

    after = await assert_eventually(closed, within=30, interval=1)
    assert after.recovered == [] and after.raised == []
    assert w.notes("recovered") == []
    only(w.notes("skipped_by_policy"))


@pytest.mark.parametrize("watched", [{"misfire_policy": "catchup_all"}], indirect=True)
async def test_paused_schedule_is_missing_with_its_cause_via_the_watchdog_schedule(
    watched: Watched,
) -> None:
    w = watched
    assert w.client is not None
    w.start_runs()
    w.start_watchdog()
    await w.sync(watchdog_every=3)
    wd = await w.client.get_schedule_handle(WATCHDOG_SCHEDULE_ID).describe()
    assert wd.schedule.state.note and "fingerprint" in wd.schedule.state.note
    await asyncio.sleep(INTERVAL_S)
    await w.client.get_schedule_handle(schedule_id(w.definition)).pause(note="by hand")
    paused_at = time.monotonic()

    async def alerted() -> Path:
        return only(w.notes("missing"))

    note = await assert_eventually(alerted, within=40, interval=0.5)
    print(f"\npaused -> missing page note {time.monotonic() - paused_at:.1f} s later")
    assert "schedule paused" in note.read_text()

    async def paged() -> StatusReport:
        # status answers from the last completed pass: the one that wrote the note may
        # still be finishing.
        got = await status_report(w.client, w.settings)
        assert got.exit_code() == 1
        return got

    report = await assert_eventually(paged, within=30, interval=0.5)
    assert "schedule paused but the definition is enabled" in report.summaries[0].health
    assert "wd-demo" in report.render() and "[page]" in report.render()

    await w.client.get_schedule_handle(schedule_id(w.definition)).unpause(note="fixed")

    async def recovered() -> None:
        only(w.notes("recovered"))

    await assert_eventually(recovered, within=40, interval=0.5)
    only(w.notes("missing"))  # later passes never raise it again

    async def on_hub() -> None:
        kinds = sorted(e["detail"]["alert_kind"] for e in w.hub_alerts())
        assert kinds == ["missing", "recovered"]

    await assert_eventually(on_hub, within=15)
    passes = await w.client.count_workflows(
        "WorkflowType = 'MissedFireWatchdogWorkflow' AND ExecutionStatus = 'Completed'"
    )
    assert passes.count >= 3


@pytest.mark.parametrize(
    "watched", [{"misfire_policy": "catchup_latest", "catchup_window_seconds": 30}], indirect=True
)
async def test_five_short_server_restarts_raise_no_page(watched: Watched) -> None:
    """A soak: the server restarts five times, down a few seconds each (well inside the
    catchup window), while a pass runs about every second. Nothing is lost, so nothing
    pages: no missing, no unclaimed run, no failure (a late note is fair)."""
    w = watched
    body = yaml.safe_load((w.settings.definitions_dir / "wd-demo.yaml").read_text())
    body["watch"] = {"late_after_seconds": 20}  # a worker reconnecting takes seconds
    (w.settings.definitions_dir / "wd-demo.yaml").write_text(yaml.safe_dump(body))
    w.definition = load_definitions(w.settings.definitions_dir).definitions[0]
    assert w.client is not None
    w.start_runs()
    w.start_watchdog()
    await w.sync()
    await asyncio.sleep(INTERVAL_S * 2)
    passes: list[WatchdogPassResult] = []
    for _ in range(5):
        passes += await _passes_for(w, 6)
        await w.stop("runs")
        await w.stop("watchdog")
        w.server.stop()
        await asyncio.sleep(3)
        await w.start_server()
        w.start_runs()
        w.start_watchdog()
    passes += await _passes_for(w, 20)
    pages = [
        f"{a.title()} {a.detail} {[(f.fire, f.kind, f.detail) for f in a.fires]}"
        for p in passes
        for a in p.state.open_alerts
        if a.severity.value == "page"
    ]
    assert pages == [], pages
    assert w.notes("missing") == [] and w.notes("pending_unclaimed") == []
    last = passes[-1].summaries[0]
    assert last.counts.get("ok", 0) + last.counts.get("late", 0) >= 10, last


@pytest.mark.parametrize(
    "watched",
    [{"misfire_policy": "catchup_all", "watch": {"alert_after": 2, "min_runtime_seconds": 60}}],
    indirect=True,
)
async def test_alert_after_two_one_bad_fire_pages_nobody_the_second_pages_once(
    watched: Watched,
) -> None:
    """Every run ends far faster than min_runtime_seconds (too_fast, a page verdict); with
    alert_after 2 the first such fire is recorded and shown, the second pages, once."""
    w = watched
    assert w.client is not None
    w.start_runs()
    w.start_watchdog()
    await w.sync()
    held_passes = 0

    async def paged() -> WatchdogPassResult:
        nonlocal held_passes
        result = await w.watchdog_pass()
        summary = only(result.summaries)
        judged = summary.counts.get("too_fast", 0)
        if judged == 1:
            assert result.raised == [] and result.state.open_alerts == [], result
            assert summary.last is not None and summary.last.kind.value == "too_fast"
            held_passes += 1
        assert judged >= 2, f"{judged} too_fast fires so far"
        return result

    second = await assert_eventually(paged, within=40, interval=0.5)
    assert held_passes >= 1  # a pass saw the first bad fire and paged nobody
    alert = only(second.state.open_alerts)
    assert (alert.kind, alert.severity.value) == ("too_fast", "page")
    assert second.raised == [alert.alert_id] and len(alert.fires) >= 2
    again = await w.watchdog_pass()
    assert again.raised == [] and [a.alert_id for a in again.state.open_alerts] == [alert.alert_id]
    only(w.notes("too_fast"))


@pytest.mark.parametrize(
    "watched", [{"misfire_policy": "catchup_all", "max_lateness_seconds": 6}], indirect=True
)
async def test_max_lateness_after_a_worker_outage_records_the_stale_fires_as_a_note(
    watched: Watched,
) -> None:
    w = watched
    assert w.client is not None
    await w.healthy_then_stop_runs()
    await asyncio.sleep(14)  # the waiting run is now 14 s late: past max_lateness 6 s
    w.start_runs()

    async def too_late_recorded() -> None:
        assert w.client is not None
        n = await w.client.count_workflows(
            f"ActivityId = '{w.definition.id}' AND RunOutcome = 'skipped_too_late'"
        )
        assert n.count >= 1

    await assert_eventually(too_late_recorded, within=30, interval=0.2)
    later = await w.client.count_workflows(
        f"ActivityId = '{w.definition.id}' AND RunOutcome IN ('ran', 'ran_late')"
    )
    assert later.count >= 2  # the fires before the outage (and the fresh ones after) ran

    async def noted() -> WatchdogPassResult:
        result = await w.watchdog_pass()
        kinds = {f.kind.value for a in result.state.open_alerts for f in a.fires}
        assert "skipped_too_late" in kinds, kinds
        return result

    result = await assert_eventually(noted, within=30, interval=1)
    assert all(a.severity.value == "note" for a in result.state.open_alerts), [
        (a.kind, a.severity) for a in result.state.open_alerts
    ]
    report = await status_report(w.client, w.settings)
    assert report.exit_code() == 0  # nothing pages: the skip was the definition's choice


class _VisibilityFault(Interceptor):
    """The server answers, but listing this definition's runs fails (as when the
    visibility store is down): a fault a proxy would inject, on the client side."""

    def __init__(self, activity_id: str) -> None:
        self.activity_id = activity_id

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        fault = self

        class Failing(OutboundInterceptor):
            def list_workflows(self, input: ListWorkflowsInput) -> WorkflowExecutionAsyncIterator:
                if fault.activity_id in (input.query or ""):
                    raise RPCError("visibility store unavailable", RPCStatusCode.UNAVAILABLE, b"")
                return super().list_workflows(input)

        return Failing(next)


@pytest.mark.parametrize("watched", [{"misfire_policy": "skip"}], indirect=True)
async def test_a_definition_the_watchdog_cannot_see_is_unknown_then_blind_never_missing(
    watched: Watched,
) -> None:
    w = watched
    assert w.client is not None
    w.start_runs()
    await w.sync()
    await asyncio.sleep(INTERVAL_S * 2 + 2)
    faulty = await Client.connect(
        w.server.address,
        interceptors=[_VisibilityFault(str(w.definition.id))],
        data_converter=w.client.data_converter,
    )
    await w.stop("runs")  # fires from now on have no run: they would be missing if judged
    await asyncio.sleep(INTERVAL_S * 2)
    catalog = Catalog(w.settings, None)
    first = await judge(
        faulty, w.settings, names=[], lookback_seconds=60, state=None, catalog=catalog
    )
    summary = only(first.summaries)
    assert summary.counts.get("unknown", 0) >= 3 and "missing" not in summary.counts
    assert summary.last is not None and "visibility store unavailable" in summary.last.detail
    assert first.advance.raised == []  # unknown pages nobody ...
    blind_settings = w.settings.model_copy(update={"watchdog_blind_after_seconds": 1.0})
    await asyncio.sleep(1.5)
    second = await judge(
        faulty,
        blind_settings,
        names=[],
        lookback_seconds=60,
        state=first.advance.state,
        catalog=catalog,
    )
    page = only(second.advance.raised)  # ... until it lasts: one "watchdog blind" page
    assert (page.kind, page.severity.value) == ("watchdog_blind", "page")
    assert "wd-demo" in page.detail and "unknown" in page.detail
    third = await judge(
        faulty,
        blind_settings,
        names=[],
        lookback_seconds=60,
        state=second.advance.state,
        catalog=catalog,
    )
    assert third.advance.raised == []  # still blind: the same page, not a second one
    seeing = await judge(
        w.client,
        blind_settings,
        names=[],
        lookback_seconds=60,
        state=third.advance.state,
        catalog=catalog,
    )
    assert [r.resolves for r in seeing.advance.recovered] == [page.alert_id]
    # Seen again, the fires are judged for what they are: no worker ran them.
    judged = only([a for a in seeing.advance.raised if a.activity_name == "wd-demo"])
    assert (judged.kind, judged.severity.value) == ("pending_unclaimed", "page")


@pytest.mark.parametrize(
    "watched",
    [{"misfire_policy": "catchup_all", "watch": {"min_runtime_seconds": 60}}],
    indirect=True,
)
async def test_a_mute_holds_pages_keeps_judging_and_sends_one_summary_at_its_end(
    watched: Watched, tmp_path: Path
) -> None:
    """Every run is too_fast (a page verdict). Muted, passes judge it and page nobody;
    the first pass after the mute ends sends one summary, a page as the problem lasts."""
    w = watched
    assert w.client is not None
    w.store = Store(f"sqlite+aiosqlite:///{tmp_path / 'mutes.db'}")
    await migrate.upgrade(w.store)
    now = datetime.now(UTC)
    mute_s = 14
    await Mutes(w.store).add("wd-demo", now, now + timedelta(seconds=mute_s), "deploy", "t", now)
    w.start_runs()
    w.start_watchdog()
    await w.sync()
    muted_passes: list[WatchdogPassResult] = []
    while datetime.now(UTC) < now + timedelta(seconds=mute_s - 1.5):
        result = await w.watchdog_pass()
        muted_passes.append(result)
        await asyncio.sleep(1)
    judged = [p for p in muted_passes if only(p.summaries).counts.get("too_fast")]
    assert judged, "no pass judged a fire during the mute"
    assert all(p.raised == [] and p.recovered == [] for p in muted_passes)
    held = only(judged[-1].state.open_alerts)  # recorded, open, flagged ...
    assert held.kind == "too_fast" and held.muted and "deploy" in held.muted
    assert "deploy" in (only(judged[-1].summaries).muted or "")
    assert w.notes("too_fast") == [] and w.hub_alerts() == []  # ... but nobody was paged
    during = await status_report(w.client, w.settings)
    assert during.exit_code() == 0 and "(held: muted until" in during.render()
    await asyncio.sleep(
        max(0.0, (now + timedelta(seconds=mute_s + 1) - datetime.now(UTC)).total_seconds())
    )
    after = await w.watchdog_pass()
    (summary_id,) = after.recovered
    assert after.raised == []
    summary_note = only(w.notes("mute_ended"))
    text = summary_note.read_text()
    assert "deploy" in text and "held back" in text and "still open" in text
    assert "[page]" in text  # the problem outlived the mute
    again = await w.watchdog_pass()
    assert again.raised == [] and again.recovered == []
    assert only(again.state.open_alerts).muted is None
    assert summary_id.startswith("alert-wd-demo-mute-ended-")


@pytest.mark.parametrize("watched", [{"misfire_policy": "catchup_latest"}], indirect=True)
async def test_two_definitions_on_a_queue_nobody_polls_page_once_as_one_incident(
    watched: Watched,
) -> None:
    w = watched
    assert w.client is not None
    defs = w.settings.definitions_dir
    body = yaml.safe_load((defs / "wd-demo.yaml").read_text())
    (defs / "wd-other.yaml").write_text(yaml.safe_dump({**body, "name": "wd-other"}))
    w.definitions = load_definitions(defs).definitions
    assert sorted(d.name for d in w.definitions) == ["wd-demo", "wd-other"]
    await w.healthy_then_stop_runs()

    async def incident() -> WatchdogPassResult:
        result = await w.watchdog_pass()
        assert result.raised, "nothing raised yet"
        return result

    first = await assert_eventually(incident, within=40, interval=1)
    raised = [a for a in first.state.open_alerts if a.alert_id in first.raised]
    (page,) = raised  # one page, not one per definition
    assert page.kind == "no_pollers" and "orchestrator-tq" in page.title()
    waiting = page.detail
    if "2 definition(s)" not in waiting:  # the second may join a pass later
        second = await w.watchdog_pass()
        assert second.raised == []
        waiting = next(a for a in second.state.open_alerts if a.kind == "no_pollers").detail
    assert "wd-demo" in waiting and "wd-other" in waiting
    only(w.notes("no_pollers"))
    assert w.notes("pending_unclaimed") == []  # their own alerts joined the incident
    w.start_runs()
    back = await w.pass_until("recovered", within=40)
    assert back.recovered == [f"{page.alert_id}-recovered"]
    settle = await w.watchdog_pass()
    assert settle.raised == [] and settle.recovered == []
    assert w.notes("recovered") and len(w.notes("recovered")) == 1


@pytest.mark.parametrize(
    "watched",
    [{"misfire_policy": "skip", "watch": {"min_runtime_seconds": 60, "pause_after": 2}}],
    indirect=True,
)
async def test_pause_after_two_failed_fires_pauses_the_schedule_and_sync_leaves_it_paused(
    watched: Watched,
) -> None:
    """Every run is too_fast (a failing verdict); after two in a row the watchdog pauses
    the schedule, pages once saying so, and a sync does not undo it."""
    w = watched
    assert w.client is not None
    w.start_runs()
    w.start_watchdog()
    await w.sync()
    paused = await w.pass_until("recovered", within=40)  # the pause page is a notice
    assert [r for r in paused.recovered if "paused-after-failures" in r] == paused.recovered
    handle = w.client.get_schedule_handle(schedule_id(w.definition))
    desc = await handle.describe()
    assert desc.schedule.state.paused
    assert desc.schedule.state.note.startswith("paused by the activity-core watchdog after 2")
    only(w.notes("paused_after_failures"))
    again = await w.watchdog_pass()
    assert again.recovered == []  # paused: no second order, no second page

    async def listed_paused() -> None:  # so the sync below reads the paused schedule
        assert w.client is not None
        async for entry in await w.client.list_schedules():
            if entry.id == handle.id:
                assert entry.schedule is not None and entry.schedule.state.paused
                return
        raise AssertionError("not listed yet")

    await assert_eventually(listed_paused, within=30, interval=0.5)
    await w.sync()
    assert (await handle.describe()).schedule.state.paused  # sync leaves it to an operator
    await handle.unpause(note="fixed")

    async def resynced() -> None:  # the schedule list catches up; sync restores its note
        await w.sync()
        desc = await handle.describe()
        assert not desc.schedule.state.paused
        assert "fingerprint" in (desc.schedule.state.note or "")

    await assert_eventually(resynced, within=30, interval=1)
