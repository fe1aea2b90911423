"""The run ledger: runs and deliveries as Temporal saw them, kept past its retention.

Written by the runs' own local activities and by reconciliation from visibility; read by
``actcore runs``, ``verify`` and the digest handler. Every write is an idempotent upsert
that keeps the newest state (:func:`activity_core.store.upsert.upsert_newest`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from activity_core.domain import DeliveryRecord, RunRecord
from activity_core.domain.ledger import ScheduleChange
from activity_core.domain.run import SUCCESS_OUTCOMES
from activity_core.domain.tasks import TaskRecord
from activity_core.domain.watchdog import Alert
from activity_core.store.engine import Store
from activity_core.store.models import (
    AlertRow,
    DeliveryRow,
    EmittedTaskRow,
    RunRow,
    ScheduleChangeRow,
    SinkCheckRow,
)
from activity_core.store.upsert import upsert_newest

RUN_FIELDS = tuple(RunRecord.model_fields)
IN_BATCH = 500
"""Ids per ``IN (...)`` query (SQLite allows at most 999 parameters)."""


def _run_row(record: RunRecord, recorded_by: str) -> dict[str, Any]:
    row = record.model_dump()
    row["covered_fires"] = [f.isoformat() for f in record.covered_fires]
    row["recorded_by"] = recorded_by
    return row


async def _upsert_runs(
    session: AsyncSession, records: Sequence[RunRecord], recorded_by: str
) -> int:
    return await upsert_newest(
        session,
        RunRow.__table__,  # type: ignore[arg-type]
        "run_id",
        [_run_row(r, recorded_by) for r in records],
    )


async def _upsert_deliveries(session: AsyncSession, records: Sequence[DeliveryRecord]) -> int:
    return await upsert_newest(
        session,
        DeliveryRow.__table__,  # type: ignore[arg-type]
        "workflow_id",
        [r.model_dump() for r in records],
    )


def _run_record(row: RunRow) -> RunRecord:
    values = {f: getattr(row, f) for f in RUN_FIELDS if f != "covered_fires"}
    values["covered_fires"] = [datetime.fromisoformat(str(c)) for c in row.covered_fires or []]
    # Rows were validated as records when written: build, do not validate again.
    return RunRecord.model_construct(**values)


class Ledger:
    """Reads and writes of ``activity_runs``, ``report_deliveries``, ``alerts`` and
    ``schedule_changes``."""

    def __init__(self, store: Store) -> None:
        """Use ``store``'s engine."""
        self._store = store

    @property
    def store(self) -> Store:
        """The store this ledger lives in (its registry is there too)."""
        return self._store

    @property
    def where(self) -> str:
        """The database, without its password (for people)."""
        return self._store.safe_url

    async def record_runs(self, records: Sequence[RunRecord], recorded_by: str = "run") -> int:
        """Upsert runs (newest state wins); returns how many rows changed."""
        async with self._store.sessions.begin() as session:
            return await _upsert_runs(session, records, recorded_by)

    async def record_batch(
        self, runs: Sequence[RunRecord], deliveries: Sequence[DeliveryRecord]
    ) -> int:
        """Upsert runs and deliveries in one transaction (newest state wins); returns how
        many rows changed. A burst of runs shares one commit instead of one each."""
        async with self._store.sessions.begin() as session:
            written = await _upsert_runs(session, runs, "run")
            return written + await _upsert_deliveries(session, deliveries)

    async def record_deliveries(self, records: Sequence[DeliveryRecord]) -> int:
        """Upsert deliveries (newest state wins); returns how many rows changed."""
        async with self._store.sessions.begin() as session:
            return await _upsert_deliveries(session, records)

    async def record_tasks(self, records: Sequence[TaskRecord]) -> int:
        """Upsert emitted tasks (newest state of each wins); returns rows changed."""
        rows = [{"task_id": f"{r.run_id}:{r.sink}:{r.key}", **r.model_dump()} for r in records]
        async with self._store.sessions.begin() as session:
            return await upsert_newest(session, EmittedTaskRow.__table__, "task_id", rows)  # type: ignore[arg-type]

    async def tasks(
        self,
        *,
        run_id: str | None = None,
        activity_name: str | None = None,
        state: str | None = None,
        limit: int = 200,
    ) -> list[TaskRecord]:
        """Emitted tasks, newest first."""
        stmt = select(EmittedTaskRow)
        if run_id:
            stmt = stmt.where(EmittedTaskRow.run_id == run_id)
        if activity_name:
            stmt = stmt.where(EmittedTaskRow.activity_name == activity_name)
        if state:
            stmt = stmt.where(EmittedTaskRow.state == state)
        stmt = stmt.order_by(EmittedTaskRow.updated_at.desc(), EmittedTaskRow.task_id).limit(limit)
        async with self._store.sessions() as session:
            rows = (await session.scalars(stmt)).all()
        return [
            TaskRecord.model_validate({f: getattr(r, f) for f in TaskRecord.model_fields})
            for r in rows
        ]

    async def record_sink_check(
        self, target: str, sink: str, passed: bool, fields: list[dict[str, Any]], at: datetime
    ) -> None:
        """Store the result of a contract check (a pass is remembered through later fails)."""
        async with self._store.sessions.begin() as session:
            row = await session.get(SinkCheckRow, target)
            if row is None:
                row = SinkCheckRow(target=target, last_passed_at=None)
                session.add(row)
            row.sink = sink
            row.passed = passed
            row.fields = fields
            row.checked_at = at
            row.updated_at = at
            if passed:
                row.last_passed_at = at

    async def sink_checks(self) -> dict[str, dict[str, Any]]:
        """Target URL -> its last check (``passed``, ``last_passed_at``, ``fields``...)."""
        async with self._store.sessions() as session:
            rows = (await session.scalars(select(SinkCheckRow))).all()
        return {
            r.target: {c.name: getattr(r, c.name) for c in SinkCheckRow.__table__.columns}
            for r in rows
        }

    async def run(self, run_id: str) -> RunRecord | None:
        """One run by its id."""
        async with self._store.sessions() as session:
            row = await session.get(RunRow, run_id)
            return _run_record(row) if row is not None else None

    async def runs(
        self,
        *,
        activity_name: str | None = None,
        activity_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Runs, newest fire first; ``since``/``until`` bound ``scheduled_for`` (else the
        time the run was fired)."""
        stmt = select(RunRow)
        if activity_name:
            stmt = stmt.where(RunRow.activity_name == activity_name)
        if activity_id:
            stmt = stmt.where(RunRow.activity_id == activity_id)
        if since is not None:
            stmt = stmt.where(RunRow.scheduled_for >= since)
        if until is not None:
            stmt = stmt.where(RunRow.scheduled_for < until)
        stmt = stmt.order_by(RunRow.scheduled_for.desc(), RunRow.run_id.desc()).limit(limit)
        async with self._store.sessions() as session:
            return [_run_record(r) for r in (await session.scalars(stmt)).all()]

    async def states(self, run_ids: Iterable[str]) -> dict[str, str]:
        """Run id -> stored state, for the ids that have a row."""
        return await self._states(RunRow.run_id, RunRow.state, run_ids)

    async def delivery_states(self, workflow_ids: Iterable[str]) -> dict[str, str]:
        """Delivery workflow id -> stored state, for the ids that have a row."""
        return await self._states(DeliveryRow.workflow_id, DeliveryRow.state, workflow_ids)

    async def _states(
        self, key: InstrumentedAttribute[str], state: InstrumentedAttribute[str], ids: Iterable[str]
    ) -> dict[str, str]:
        wanted = list(ids)
        out: dict[str, str] = {}
        async with self._store.sessions() as session:
            for i in range(0, len(wanted), IN_BATCH):
                stmt = select(key, state).where(key.in_(wanted[i : i + IN_BATCH]))
                out.update({k: v for k, v in (await session.execute(stmt)).all()})
        return out

    async def delivery_counts(self, states: Sequence[str]) -> dict[str, dict[str, int]]:
        """Activity id -> state -> how many deliveries are in it (for ``states``)."""
        stmt = (
            select(DeliveryRow.activity_id, DeliveryRow.state, func.count())
            .where(DeliveryRow.state.in_(list(states)))
            .group_by(DeliveryRow.activity_id, DeliveryRow.state)
        )
        out: dict[str, dict[str, int]] = {}
        async with self._store.sessions() as session:
            for activity_id, state, n in (await session.execute(stmt)).all():
                out.setdefault(activity_id, {})[state] = int(n)
        return out

    async def latest_runs(self, activity_ids: Sequence[str]) -> dict[str, RunRecord]:
        """Activity id -> its run with the latest ``scheduled_for`` (one query)."""
        newest = (
            select(RunRow.activity_id, func.max(RunRow.scheduled_for).label("fire"))
            .where(RunRow.activity_id.in_(list(activity_ids)))
            .group_by(RunRow.activity_id)
            .subquery()
        )
        stmt = select(*RunRow.__table__.c).join(
            newest,
            (RunRow.activity_id == newest.c.activity_id) & (RunRow.scheduled_for == newest.c.fire),
        )
        async with self._store.sessions() as session:
            rows = (await session.execute(stmt)).all()
        return {r.activity_id: _run_record(cast(RunRow, r)) for r in rows}

    async def last_successes(self) -> dict[str, datetime]:
        """Definition name -> when its latest successful run finished (one query)."""
        stmt = (
            select(RunRow.activity_name, func.max(RunRow.finished_at))
            .where(RunRow.state == "completed")
            .where(RunRow.outcome.in_([o.value for o in SUCCESS_OUTCOMES]))
            .where(RunRow.finished_at.is_not(None))
            .group_by(RunRow.activity_name)
        )
        async with self._store.sessions() as session:
            rows = (await session.execute(stmt)).all()
        return {name: at for name, at in rows if at is not None}

    async def deliveries(self, run_id: str) -> list[DeliveryRecord]:
        """The deliveries of one run."""
        return (await self.deliveries_of([run_id])).get(run_id, [])

    async def deliveries_of(self, run_ids: Sequence[str]) -> dict[str, list[DeliveryRecord]]:
        """The deliveries of several runs, by run id (one query)."""
        if not run_ids:
            return {}
        stmt = (
            select(DeliveryRow)
            .where(DeliveryRow.run_id.in_(list(run_ids)))
            .order_by(DeliveryRow.sink)
        )
        async with self._store.sessions() as session:
            rows = (await session.scalars(stmt)).all()
        found: dict[str, list[DeliveryRecord]] = {}
        for r in rows:
            record = DeliveryRecord.model_validate(
                {f: getattr(r, f) for f in DeliveryRecord.model_fields}
            )
            found.setdefault(r.run_id, []).append(record)
        return found

    async def record_alerts(self, alerts: Sequence[Alert], at: datetime) -> int:
        """Upsert open alerts as they stand at ``at`` (fires gained since are added)."""
        rows = [
            {
                "alert_id": a.alert_id,
                "activity_id": a.activity_id,
                "activity_name": a.activity_name,
                "kind": a.kind,
                "severity": a.severity.value,
                "opened_at": a.opened_at,
                "closed_at": None,
                "fires": [f.model_dump(mode="json") for f in a.fires],
                "detail": a.detail,
                "updated_at": at,
                "muted": a.muted,
            }
            for a in alerts
        ]
        async with self._store.sessions.begin() as session:
            return await upsert_newest(session, AlertRow.__table__, "alert_id", rows)  # type: ignore[arg-type]

    async def alerts(self, *, open_only: bool = True, limit: int = 200) -> list[dict[str, Any]]:
        """Alerts, newest first (open ones only unless ``open_only`` is False)."""
        stmt = select(AlertRow)
        if open_only:
            stmt = stmt.where(AlertRow.closed_at.is_(None))
        stmt = stmt.order_by(AlertRow.opened_at.desc()).limit(limit)
        async with self._store.sessions() as session:
            rows = (await session.scalars(stmt)).all()
        return [{c.name: getattr(r, c.name) for c in AlertRow.__table__.columns} for r in rows]

    async def close_alerts(self, alert_ids: Sequence[str], at: datetime) -> int:
        """Mark alerts closed (a recovery notice resolved them)."""
        if not alert_ids:
            return 0
        async with self._store.sessions.begin() as session:
            done = await session.execute(
                update(AlertRow)
                .where(AlertRow.alert_id.in_(list(alert_ids)), AlertRow.closed_at.is_(None))
                .values(closed_at=at, updated_at=at)
            )
            return int(getattr(done, "rowcount", 0) or 0)

    async def record_schedule_changes(self, entries: Sequence[ScheduleChange]) -> int:
        """Append to the schedule-change journal."""
        if not entries:
            return 0
        async with self._store.sessions.begin() as session:
            session.add_all(ScheduleChangeRow(**e.model_dump()) for e in entries)
        return len(entries)

    async def schedule_changes(self, schedule_id: str) -> list[dict[str, Any]]:
        """The journal of one schedule, oldest first."""
        stmt = (
            select(ScheduleChangeRow)
            .where(ScheduleChangeRow.schedule_id == schedule_id)
            .order_by(ScheduleChangeRow.at, ScheduleChangeRow.id)
        )
        async with self._store.sessions() as session:
            rows = (await session.scalars(stmt)).all()
        return [
            {c.name: getattr(r, c.name) for c in ScheduleChangeRow.__table__.columns} for r in rows
        ]

    async def journals(self, schedule_ids: Sequence[str]) -> dict[str, list[ScheduleChange]]:
        """Schedule id -> its journal, oldest first (one query for all)."""
        stmt = (
            select(ScheduleChangeRow)
            .where(ScheduleChangeRow.schedule_id.in_(list(schedule_ids)))
            .order_by(ScheduleChangeRow.at, ScheduleChangeRow.id)
        )
        async with self._store.sessions() as session:
            rows = (await session.scalars(stmt)).all()
        out: dict[str, list[ScheduleChange]] = {}
        for r in rows:
            out.setdefault(r.schedule_id, []).append(
                ScheduleChange.model_validate(
                    {f: getattr(r, f) for f in ScheduleChange.model_fields}
                )
            )
        return out

    async def prune(self, before: datetime) -> int:
        """Delete runs fired before ``before`` and their deliveries; returns rows deleted."""
        async with self._store.sessions.begin() as session:
            old = select(RunRow.run_id).where(RunRow.updated_at < before)
            gone = await session.execute(delete(DeliveryRow).where(DeliveryRow.run_id.in_(old)))
            await session.execute(delete(EmittedTaskRow).where(EmittedTaskRow.run_id.in_(old)))
            runs = await session.execute(delete(RunRow).where(RunRow.updated_at < before))
            return int(getattr(gone, "rowcount", 0) or 0) + int(getattr(runs, "rowcount", 0) or 0)
