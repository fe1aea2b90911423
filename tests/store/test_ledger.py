"""The run ledger: idempotent upserts where the newest state wins, whoever writes last."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from activities.ledger import SharedCommits
from activity_core.domain import DeliveryRecord, RunRecord
from activity_core.domain.ledger import ScheduleChange
from activity_core.store import Ledger, Store

T0 = datetime(2026, 11, 23, 6, 20, tzinfo=UTC)


def run(state: str, at: datetime, **extra: object) -> RunRecord:
    return RunRecord.model_validate(
        {
            "run_id": "activity-run-daily-2026-11-23T06:20:00Z",
            "activity_id": "0f4c",
            "activity_name": "daily",
            "state": state,
            "scheduled_for": T0,
            "updated_at": at,
            **extra,
        }
    )


async def test_newest_state_wins_in_any_order(store: Store) -> None:
    ledger = Ledger(store)
    done = run("completed", T0 + timedelta(seconds=5), outcome="ran", note_path="/n.md")
    assert await ledger.record_runs([done]) == 1
    assert await ledger.record_runs([run("running", T0 + timedelta(seconds=1))]) == 0
    stored = await ledger.run(done.run_id)
    assert stored is not None
    assert (stored.state, stored.outcome, stored.note_path) == ("completed", "ran", "/n.md")
    assert stored.updated_at == done.updated_at
    assert stored.scheduled_for == T0  # times come back aware, in UTC
    assert await ledger.record_runs([done]) == 0  # the same state again writes nothing


async def test_two_writers_racing_leave_one_row_with_the_latest_state(store_url: str) -> None:
    first, second = Store(store_url), Store(store_url)
    await first.engine.dispose()
    from activity_core.store import migrate

    await migrate.upgrade(first)
    states = [("running", 1), ("running", 2), ("completed", 9), ("running", 3), ("failed", 4)]
    writes = [
        Ledger(random.choice([first, second])).record_runs(
            [run(state, T0 + timedelta(seconds=s), outcome=state)]
        )
        for state, s in states * 4
    ]
    random.shuffle(writes)
    await asyncio.gather(*writes)
    rows = await Ledger(first).runs(activity_name="daily")
    assert [(r.state, r.updated_at) for r in rows] == [("completed", T0 + timedelta(seconds=9))]
    await first.close()
    await second.close()


async def test_deliveries_by_run_and_states(store: Store) -> None:
    ledger = Ledger(store)
    rid = "activity-run-daily-2026-11-23T06:20:00Z"
    records = [
        DeliveryRecord(
            workflow_id=f"delivery-{rid}-{sink}",
            run_id=rid,
            activity_id="0f4c",
            activity_name="daily",
            sink=sink,
            state=state,
            updated_at=T0,
        )
        for sink, state in (("state_hub", "waiting"), ("inbox", "delivered"))
    ]
    assert await ledger.record_deliveries(records) == 2
    assert sorted(d.sink for d in await ledger.deliveries(rid)) == ["inbox", "state_hub"]
    assert await ledger.delivery_states([r.workflow_id for r in records] + ["unknown"]) == {
        records[0].workflow_id: "waiting",
        records[1].workflow_id: "delivered",
    }


async def test_runs_are_listed_newest_fire_first_and_filtered(store: Store) -> None:
    ledger = Ledger(store)
    for day in range(5):
        fire = T0 - timedelta(days=day)
        await ledger.record_runs(
            [
                RunRecord(
                    run_id=f"activity-run-daily-{fire:%Y-%m-%d}",
                    activity_id="0f4c",
                    activity_name="daily",
                    state="completed",
                    scheduled_for=fire,
                    updated_at=fire,
                )
            ]
        )
    rows = await ledger.runs(activity_name="daily", since=T0 - timedelta(days=2), limit=10)
    assert [r.scheduled_for for r in rows] == [T0 - timedelta(days=d) for d in range(3)]
    assert await ledger.runs(activity_name="other") == []


async def test_prune_drops_old_runs_with_their_deliveries(store: Store) -> None:
    ledger = Ledger(store)
    old, new = run("completed", T0 - timedelta(days=500)), run("completed", T0)
    old = old.model_copy(update={"run_id": "old-run"})
    await ledger.record_runs([old, new])
    await ledger.record_deliveries(
        [
            DeliveryRecord(
                workflow_id="delivery-old-run-hub",
                run_id="old-run",
                activity_id="0f4c",
                activity_name="daily",
                sink="hub",
                state="delivered",
                updated_at=T0 - timedelta(days=500),
            )
        ]
    )
    assert await ledger.prune(T0 - timedelta(days=400)) == 2
    assert await ledger.run("old-run") is None
    assert await ledger.run(new.run_id) is not None
    assert await ledger.deliveries("old-run") == []


async def test_schedule_journal_keeps_every_change_in_order(store: Store) -> None:
    ledger = Ledger(store)
    entries = [
        ScheduleChange(
            schedule_id="activity-schedule-0f4c",
            label="daily",
            action=action,  # type: ignore[arg-type]
            fingerprint=f"fp{i}",
            policy="skip",
            overlap="SKIP",
            catchup_window_seconds=60.0,
            actor="actcore sync (ops@host)",
            at=T0 + timedelta(minutes=i),
        )
        for i, action in enumerate(["create", "pause", "unpause", "update"])
    ]
    assert await ledger.record_schedule_changes(entries) == 4
    journal = await ledger.schedule_changes("activity-schedule-0f4c")
    assert [j["action"] for j in journal] == ["create", "pause", "unpause", "update"]
    assert journal[-1]["fingerprint"] == "fp3"


def _delivery(i: int, state: str, at: datetime) -> DeliveryRecord:
    return DeliveryRecord(
        workflow_id=f"delivery-run-{i}-state_hub",
        run_id=f"run-{i}",
        activity_id="0f4c",
        activity_name="daily",
        sink="state_hub",
        state=state,
        updated_at=at,
    )


async def test_a_burst_of_writes_shares_commits_and_every_row_lands(store: Store) -> None:
    """Runs and deliveries written at once (a top of the hour) land with their newest
    state, in far fewer transactions than writes."""
    shared = SharedCommits(Ledger(store))
    writes = []
    for i in range(60):
        rid = f"activity-run-top-{i:03d}"
        writes += [
            shared.write(run("running", T0 + timedelta(seconds=1), run_id=rid)),
            shared.write(run("completed", T0 + timedelta(seconds=2), run_id=rid, outcome="ran")),
            shared.write(_delivery(i, "delivered", T0 + timedelta(seconds=3))),
        ]
    random.shuffle(writes)
    await asyncio.gather(*writes)
    ledger = Ledger(store)
    runs = await ledger.runs(activity_name="daily", limit=1000)
    assert len(runs) == 60
    assert {(r.state, r.outcome) for r in runs} == {("completed", "ran")}
    delivered = await ledger.deliveries_of([f"run-{i}" for i in range(60)])
    assert sum(len(d) for d in delivered.values()) == 60
    assert shared.batches < 180 / 4


async def test_a_refused_row_does_not_take_its_batch_with_it(store: Store) -> None:
    shared = SharedCommits(Ledger(store))
    bad = run("running", T0).model_copy(update={"activity_id": None})  # NOT NULL column
    good = [run("running", T0, run_id=f"activity-run-ok-{i}") for i in range(5)]
    results = await asyncio.gather(
        shared.write(good[0]),
        *(shared.write(r) for r in [*good[1:3], bad, *good[3:]]),
        return_exceptions=True,
    )
    assert [r is None for r in results] == [True, True, True, False, True, True]
    stored = await Ledger(store).runs(activity_name="daily", limit=100)
    assert sorted(r.run_id for r in stored) == sorted(r.run_id for r in good)
