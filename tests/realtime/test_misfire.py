"""Each misfire policy means the same thing whether the server or the worker was down.

Real time on a dev server with a SQLite file (schedules are never time-skipped): three
interval definitions fire every few seconds, then either the server is stopped and
restarted on the same file, or only the worker is stopped, for several intervals.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
import yaml
from temporalio.client import Client, ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from activities.schedule import matching_times
from activity_core.dev.statehub import StateHub
from activity_core.domain import ActivityDefinition, RunOutcome, RunResult
from activity_core.domain.schedule_spec import run_id_prefix, schedule_id
from activity_core.loader import load_definitions
from activity_core.services.schedules import sync_schedules
from activity_core.settings import Settings
from activity_core.worker import Workers, build_workers
from tests.helpers import RestartableServer, assert_eventually
from workflows.activity_run import ActivityRunWorkflow

INTERVAL_S = 4
OUTAGE_S = 22
WINDOW_S = 10
EXECUTED = {RunOutcome.RAN, RunOutcome.RAN_LATE, RunOutcome.RAN_AS_LATEST}
POLICIES = ("skip", "catchup_all", "catchup_latest")


@dataclass
class Outcome:
    """What happened to one definition's fires around the outage."""

    policy: str
    outage_fires: list[datetime]
    runs: list[RunResult] = field(default_factory=list)

    def executed_in_outage(self) -> list[RunResult]:
        lo, hi = self.outage_fires[0], self.outage_fires[-1]
        return [
            r
            for r in self.runs
            if r.outcome in EXECUTED and any(lo <= f <= hi for f in r.covered_fires)
        ]

    def summary(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "fires_during_outage": len(self.outage_fires),
            "runs_executed_for_them": len(self.executed_in_outage()),
            "outcomes": sorted(r.outcome.value for r in self.runs),
            "outage": [f"{f:%H:%M:%S}" for f in self.outage_fires],
            "runs": [
                f"{r.nominal_fire:%H:%M:%S}->{r.scheduled_for:%H:%M:%S} {r.outcome.value} "
                f"late={r.lateness_seconds:.1f}s covers={len(r.covered_fires)}"
                for r in self.runs
            ],
        }


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.server = RestartableServer(tmp_path / "temporal.db")
        self.defs = tmp_path / "definitions"
        self.defs.mkdir()
        self.settings = Settings(definitions_dir=self.defs, working_memory_dir=tmp_path / "notes")
        self.client: Client | None = None
        self._worker: tuple[Workers, asyncio.Event, asyncio.Task[None]] | None = None
        for policy in POLICIES:
            trigger: dict[str, object] = {
                "trigger_type": "interval",
                "every_seconds": INTERVAL_S,
                "misfire_policy": policy,
            }
            if policy != "catchup_all":
                trigger["catchup_window_seconds"] = WINDOW_S
            body = {
                "name": f"rt-{policy.replace('_', '-')}",
                "handler": "static_report",
                "trigger_config": trigger,
            }
            (self.defs / f"{policy}.yaml").write_text(yaml.safe_dump(body))
        self.definitions: dict[str, ActivityDefinition] = {
            str(d.trigger_config.misfire_policy): d  # type: ignore[union-attr]
            for d in load_definitions(self.defs).definitions
        }

    async def start_server(self) -> None:
        self.client = await self.server.start()

    def start_worker(self) -> None:
        assert self.client is not None
        workers = build_workers(self.client, self.settings)
        stop = asyncio.Event()
        self._worker = (workers, stop, asyncio.create_task(workers.run_until(stop)))

    async def stop_worker(self) -> None:
        assert self._worker is not None
        _, stop, task = self._worker
        stop.set()
        await asyncio.wait_for(task, 30)
        self._worker = None

    async def results(self, policy: str, since: datetime) -> list[RunResult]:
        """The run of every fire since ``since``, found by its deterministic workflow id.

        Each fire's run is looked up by id (``<prefix>-<nominal time>``) and its result
        read from history, so nothing depends on visibility being up to date.
        """
        assert self.client is not None
        d = self.definitions[policy]
        fires = await matching_times(self.client, schedule_id(d), since, datetime.now(UTC))
        out = []
        for fire in fires:
            run_id = f"{run_id_prefix(d)}-{fire:%Y-%m-%dT%H:%M:%SZ}"
            handle = self.client.get_workflow_handle_for(ActivityRunWorkflow.run, run_id)
            try:
                out.append(await asyncio.wait_for(handle.result(), 30))
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
        return out

    async def scheduler_idle(self) -> None:
        """Wait until every schedule knows its runs finished and the next fire is not imminent."""
        assert self.client is not None

        async def idle() -> None:
            assert self.client is not None
            for d in self.definitions.values():
                desc = await self.client.get_schedule_handle(schedule_id(d)).describe()
                assert not desc.info.running_actions
                nxt = desc.info.next_action_times[0]
                assert (nxt - datetime.now(UTC)).total_seconds() > 1.5

        await assert_eventually(idle, within=30, interval=0.05)

    async def quiesce(self) -> None:
        """Pause every schedule and wait until no run is open."""
        assert self.client is not None
        for d in self.definitions.values():
            await self.client.get_schedule_handle(schedule_id(d)).pause(note="test over")

        async def idle() -> None:
            assert self.client is not None
            n = await self.client.count_workflows(
                "WorkflowType = 'ActivityRunWorkflow' AND ExecutionStatus = 'Running'"
            )
            assert n.count == 0

        await assert_eventually(idle, within=60)

    async def close(self) -> None:
        if self._worker is not None:
            await self.stop_worker()
        self.server.stop()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path)
    await h.start_server()
    try:
        yield h
    finally:
        await h.close()


async def _scenario(h: Harness, fault: Literal["server", "worker"]) -> dict[str, Outcome]:
    assert h.client is not None
    h.start_worker()
    test_start = datetime.now(UTC)
    changes = await sync_schedules(h.client, list(h.definitions.values()))
    assert [c.action for c in changes] == ["create"] * 3
    await asyncio.sleep(INTERVAL_S * 2)  # on-time fires first

    # Both faults start between fires, from a scheduler that has seen its runs complete:
    # its completion tracking lags by a second or so, and with 4 s intervals a fire right
    # after a run would otherwise be skipped as an overlap (docs/misfire-policies.md).
    await h.scheduler_idle()
    await h.stop_worker()
    if fault == "server":
        h.server.stop()
    outage_start = datetime.now(UTC)
    await asyncio.sleep(OUTAGE_S)
    outage_end = datetime.now(UTC)
    if fault == "server":
        await h.start_server()
    h.start_worker()
    await asyncio.sleep(WINDOW_S + 3 * INTERVAL_S)  # catch-up and a couple of normal fires
    await h.quiesce()

    outcomes = {}
    for policy, d in h.definitions.items():
        fires = await matching_times(h.client, schedule_id(d), outage_start, outage_end)
        assert len(fires) >= OUTAGE_S // INTERVAL_S - 1
        outcomes[policy] = Outcome(policy, fires, await h.results(policy, test_start))
        desc = await h.client.get_schedule_handle(schedule_id(d)).describe()
        print(
            policy,
            "actions",
            desc.info.num_actions,
            "skipped_overlap",
            desc.info.num_actions_skipped_overlap,
            "missed",
            desc.info.num_actions_missed_catchup_window,
            [
                f"{a.scheduled_at:%H:%M:%S}/{a.started_at:%H:%M:%S}"
                for a in desc.info.recent_actions
            ],
        )
    print(json.dumps({fault: [o.summary() for o in outcomes.values()]}, indent=1))
    return outcomes


def _assert_policies(outcomes: dict[str, Outcome], outage_end_slack: float) -> None:
    # skip: no fire missed by more than its grace ever runs.
    skip = outcomes["skip"]
    for run in skip.executed_in_outage():
        assert run.lateness_seconds <= WINDOW_S + outage_end_slack, run
    missed = [
        f for f in skip.outage_fires if f < skip.outage_fires[-1] - timedelta(seconds=WINDOW_S)
    ]
    assert missed
    assert not [r for r in skip.executed_in_outage() if set(r.covered_fires) & set(missed)]

    # catchup_all: every missed fire runs once, in order, each with its own nominal time.
    all_ = outcomes["catchup_all"]
    ran = all_.executed_in_outage()
    assert [r.scheduled_for for r in ran] == all_.outage_fires
    assert all(r.nominal_fire == r.scheduled_for for r in ran)

    # catchup_latest: exactly one run for the outage, dated for the latest due fire.
    latest = outcomes["catchup_latest"]
    (one,) = latest.executed_in_outage()
    assert one.scheduled_for >= latest.outage_fires[-1] - timedelta(seconds=INTERVAL_S)
    assert one.scheduled_for == max(one.covered_fires)


async def test_worker_down_each_policy_holds(harness: Harness) -> None:
    outcomes = await _scenario(harness, "worker")
    _assert_policies(outcomes, outage_end_slack=0)
    # The worker-down case is the one schedule settings alone get wrong: the first
    # missed fire's run waited unclaimed and must have recorded its skip.
    skip_outcomes = [r.outcome for r in outcomes["skip"].runs]
    assert RunOutcome.SKIPPED_MISSED in skip_outcomes
    (one,) = outcomes["catchup_latest"].executed_in_outage()
    assert one.outcome == RunOutcome.RAN_AS_LATEST
    assert len(one.covered_fires) >= 3


async def test_server_down_each_policy_holds(harness: Harness) -> None:
    outcomes = await _scenario(harness, "server")
    _assert_policies(outcomes, outage_end_slack=5)
    # The server started only the latest in-window fire: that run records every fire of
    # the outage it stands for (the dropped ones included), as in the worker-down case.
    latest = outcomes["catchup_latest"]
    (one,) = latest.executed_in_outage()
    assert one.outcome == RunOutcome.RAN_AS_LATEST
    dropped = [f for f in latest.outage_fires if f < one.scheduled_for]
    assert dropped and set(dropped) <= set(one.covered_fires), latest.summary()
    # The runs after it cover only their own fire (nothing counted twice).
    after = [r for r in latest.runs if r.scheduled_for > one.scheduled_for]
    assert after and all(r.covered_fires == [r.scheduled_for] for r in after)


async def test_sync_is_idempotent_prunes_and_pauses_disabled(harness: Harness) -> None:
    h = harness
    assert h.client is not None
    defs = list(h.definitions.values())
    first = await sync_schedules(h.client, defs)
    assert sorted(c.action for c in first) == ["create"] * 3

    async def no_writes() -> None:
        assert h.client is not None
        again = await sync_schedules(h.client, defs, dry_run=True)
        assert {c.action for c in again} == {"unchanged"}

    await assert_eventually(no_writes, within=20)
    assert {c.action for c in await sync_schedules(h.client, defs)} == {"unchanged"}

    skip_def = h.definitions["skip"]
    disabled = skip_def.model_copy(update={"enabled": False})
    kept = [disabled, h.definitions["catchup_all"]]  # catchup_latest no longer defined
    changes = {c.label: c.action for c in await sync_schedules(h.client, kept)}
    assert changes[skip_def.name] == "pause"
    assert changes[h.definitions["catchup_all"].name] == "unchanged"
    assert changes["(no definition)"] == "delete"
    desc = await h.client.get_schedule_handle(schedule_id(skip_def)).describe()
    assert desc.schedule.state.paused
    ids = [s.id async for s in await h.client.list_schedules()]
    assert schedule_id(h.definitions["catchup_latest"]) not in ids


async def test_catchup_latest_fire_skipped_behind_a_long_run_is_stood_for_by_the_next_run(
    tmp_path: Path,
) -> None:
    """A ``catchup_latest`` run still open at the next fire (a slow source) makes the
    server skip that fire as an overlap; the run of the fire after it stands for the
    skipped one (``ran_as_latest``), so every fire has exactly one run standing for it."""
    hub = StateHub(seed_demo=True).start()
    server = RestartableServer(tmp_path / "temporal.db")
    defs = tmp_path / "definitions"
    defs.mkdir()
    every = 5
    body = {
        "name": "rt-long-latest",
        "handler": "wsjf_triage",
        "params": {"top_n": 3},
        "trigger_config": {
            "trigger_type": "interval",
            "every_seconds": every,
            "misfire_policy": "catchup_latest",
        },
        "resolvers": [{"name": "work_items", "url": hub.url, "tries": 1, "timeout_seconds": 20}],
        "sinks": [{"type": "working_memory"}],
    }
    (defs / "long.yaml").write_text(yaml.safe_dump(body))
    settings = Settings(
        definitions_dir=defs, working_memory_dir=tmp_path / "notes", state_hub_url=hub.url
    )
    definition = load_definitions(defs).definitions[0]
    stop = asyncio.Event()
    client = await server.start()
    task = asyncio.create_task(build_workers(client, settings).run_until(stop))
    sched = client.get_schedule_handle(schedule_id(definition))
    try:
        hub.set_fault("slow", delay=8)  # each read of the source takes 8 s
        test_start = datetime.now(UTC)
        await sync_schedules(client, [definition])

        async def skipped_behind_the_open_run() -> None:
            info = (await sched.describe()).info
            assert info.running_actions and info.num_actions_skipped_overlap >= 1

        await assert_eventually(skipped_behind_the_open_run, within=60, interval=0.2)
        hub.set_fault("none")

        async def a_later_run_closed() -> None:
            info = (await sched.describe()).info
            assert not info.running_actions and info.num_actions >= 3

        await assert_eventually(a_later_run_closed, within=90, interval=0.5)
        await sched.pause(note="test over")
        await assert_eventually(lambda: _no_open_run(sched), within=60, interval=0.5)
        fires = await matching_times(client, schedule_id(definition), test_start, datetime.now(UTC))
        runs: dict[datetime, RunResult] = {}
        for fire in fires:
            handle = client.get_workflow_handle_for(
                ActivityRunWorkflow.run,
                f"{run_id_prefix(definition)}-{fire:%Y-%m-%dT%H:%M:%SZ}",
            )
            try:
                runs[fire] = await asyncio.wait_for(handle.result(), 30)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
        first = min(runs)
        skipped = [f for f in fires if f > first and f not in runs and f < max(runs)]
        assert skipped, [f"{f:%H:%M:%S}" for f in fires]
        stands = {
            f: [
                (r.nominal_fire, r.outcome.value)
                for r in runs.values()
                if r.outcome in EXECUTED and f in r.covered_fires
            ]
            for f in fires
            if first <= f <= max(runs)
        }
        # Every fire from the first run on has exactly one run that ran for it ...
        assert all(len(s) == 1 for s in stands.values()), stands
        # ... and a skipped one has the next run, as the latest due fire.
        for f in skipped:
            ((nominal, outcome),) = stands[f]
            assert nominal is not None and nominal > f, (f, stands[f])
            assert outcome == "ran_as_latest", (f, stands[f])
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        server.stop()
        hub.stop()


async def _no_open_run(sched: ScheduleHandle) -> None:
    assert not (await sched.describe()).info.running_actions
