"""Mute and unmute (the CLI and the API): check the target, store the mute, list them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activity_core.catalog import Catalog
from activity_core.domain.mute import ALL, MAX_MUTE, Mute
from activity_core.store import Store
from activity_core.store.mutes import Mutes


class MuteError(ValueError):
    """A mute request that cannot be stored as asked (the message names the field)."""


async def mute(
    store: Store,
    catalog: Catalog,
    target: str,
    *,
    reason: str,
    duration: timedelta | None = None,
    until: datetime | None = None,
    by: str = "cli",
    now: datetime | None = None,
) -> Mute:
    """Hold back ``target``'s pages (a definition name, or ``*``) for ``duration`` or
    until ``until``.

    Raises:
        MuteError: No reason, neither or both of duration and until, an end in the past
            or more than 90 days ahead.
        DefinitionNotFound: ``target`` is no definition in force.
    """
    now = now or datetime.now(UTC)
    if not reason.strip():
        raise MuteError("reason: say why (it is shown beside every held alert and in the summary)")
    if (duration is None) == (until is None):
        raise MuteError("give exactly one of for (a duration, e.g. 2h) and until (a time)")
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    ends = now + duration if duration is not None else until
    assert ends is not None
    if ends <= now:
        raise MuteError(f"until: {ends.isoformat()} is not in the future")
    if ends - now > MAX_MUTE:
        raise MuteError(
            "until: a mute lasts at most 90 days (a longer one is how alerts go silent)"
        )
    if target != ALL:
        await catalog.find(target)  # DefinitionNotFound names the known ones
    return await Mutes(store).add(target, now, ends, reason.strip()[:500], by, now)


async def unmute(store: Store, target: str | None = None, mute_id: str | None = None) -> list[Mute]:
    """End the mutes in force for ``target`` (or the one ``mute_id``) now; the next
    watchdog pass sends each one's summary."""
    return await Mutes(store).end(datetime.now(UTC), target=target, mute_id=mute_id)


async def current_mutes(store: Store) -> list[Mute]:
    """Mutes in force or still to come, soonest end first."""
    return await Mutes(store).current(datetime.now(UTC))
