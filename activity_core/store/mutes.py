"""Mutes in the registry database: set, end early, and read the ones that matter now."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import or_, select, update

from activity_core.domain.mute import Mute
from activity_core.store.engine import Store
from activity_core.store.models import MuteRow


class Mutes:
    """The ``mutes`` table."""

    def __init__(self, store: Store) -> None:
        """Read and write ``store``'s mutes."""
        self._store = store

    async def add(
        self,
        target: str,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
        created_by: str,
        now: datetime,
    ) -> Mute:
        """Store a new mute and return it."""
        mute = Mute(
            mute_id=str(uuid.uuid4()),
            target=target,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_by=created_by,
            created_at=now,
        )
        async with self._store.sessions.begin() as session:
            session.add(MuteRow(**mute.model_dump()))
        return mute

    async def end(
        self, now: datetime, *, target: str | None = None, mute_id: str | None = None
    ) -> list[Mute]:
        """End the mutes in force (of ``target``, or the one ``mute_id``) at ``now``."""
        async with self._store.sessions.begin() as session:
            stmt = select(MuteRow).where(
                MuteRow.ends_at > now, MuteRow.ended_early_at.is_(None), MuteRow.starts_at <= now
            )
            if target is not None:
                stmt = stmt.where(MuteRow.target == target)
            if mute_id is not None:
                stmt = select(MuteRow).where(
                    MuteRow.mute_id == mute_id,
                    MuteRow.ended_early_at.is_(None),
                    MuteRow.ends_at > now,
                )
            rows = list((await session.scalars(stmt)).all())
            if rows:
                await session.execute(
                    update(MuteRow)
                    .where(MuteRow.mute_id.in_([r.mute_id for r in rows]))
                    .values(ended_early_at=now)
                )
        return [_mute(r).model_copy(update={"ended_early_at": now}) for r in rows]

    async def current(self, now: datetime) -> list[Mute]:
        """Mutes in force at ``now`` or still to come, soonest end first."""
        stmt = (
            select(MuteRow)
            .where(
                MuteRow.ends_at > now,
                or_(MuteRow.ended_early_at.is_(None), MuteRow.ended_early_at > now),
            )
            .order_by(MuteRow.ends_at)
        )
        async with self._store.sessions() as session:
            return [_mute(r) for r in (await session.scalars(stmt)).all()]

    async def recent(self, since: datetime, limit: int = 200) -> list[Mute]:
        """Mutes that were in force at some point since ``since``, newest first."""
        stmt = (
            select(MuteRow)
            .where(MuteRow.ends_at > since)
            .order_by(MuteRow.created_at.desc())
            .limit(limit)
        )
        async with self._store.sessions() as session:
            return [_mute(r) for r in (await session.scalars(stmt)).all()]


def _mute(row: MuteRow) -> Mute:
    return Mute.model_validate({c: getattr(row, c) for c in Mute.model_fields})
