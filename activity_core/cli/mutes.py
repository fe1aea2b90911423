"""``actcore mute``, ``actcore unmute`` and ``actcore mutes``: hold pages back for a while
(the watchdog keeps judging; one summary goes out when the mute ends)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta

from activity_core.cli.argtypes import iso_datetime, name
from activity_core.cli.output import print_table
from activity_core.domain.mute import ALL, Mute, parse_duration
from activity_core.errors import StoreUnavailable
from activity_core.services.mutes import MuteError, current_mutes, mute, unmute
from activity_core.services.registry import actor, opened_catalog
from activity_core.settings import Settings


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``mute``, ``unmute`` and ``mutes``."""
    m = sub.add_parser(
        "mute",
        help="hold back a definition's (or every) page for a while; verdicts are still recorded",
    )
    which = m.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", type=name, help="the definition")
    which.add_argument("--all", action="store_true", help="everything: definitions, sinks, router")
    span = m.add_mutually_exclusive_group(required=True)
    span.add_argument("--for", dest="duration", type=_duration, help="how long, e.g. 30m, 2h, 1d")
    span.add_argument(
        "--until", type=iso_datetime, help="until this time (ISO 8601, UTC if no zone)"
    )
    m.add_argument("--reason", required=True, help="why (shown with every held alert)")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    m.set_defaults(func=lambda args, settings: asyncio.run(_mute(args, settings)))

    u = sub.add_parser("unmute", help="end a mute now (the next watchdog pass sends its summary)")
    which = u.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", type=name, help="the definition")
    which.add_argument("--all", action="store_true", help="the mute of everything")
    which.add_argument("--id", dest="mute_id", help="one mute, by its id")
    u.set_defaults(func=lambda args, settings: asyncio.run(_unmute(args, settings)))

    ls = sub.add_parser("mutes", help="mutes in force or to come")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=lambda args, settings: asyncio.run(_list(args, settings)))


def _row(m: Mute) -> dict[str, str]:
    return {
        "mute_id": m.mute_id,
        "target": "everything" if m.target == ALL else m.target,
        "until": f"{m.until:%Y-%m-%d %H:%M} UTC",
        "reason": m.reason,
        "by": m.created_by,
    }


async def _mute(args: argparse.Namespace, settings: Settings) -> int:
    until: datetime | None = args.until
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    async with opened_catalog(settings, create=True) as catalog:
        if catalog.store is None:
            raise StoreUnavailable(
                "mutes are kept in the store: it is turned off (ACTCORE_DB_URL=none)"
            )
        try:
            made = await mute(
                catalog.store,
                catalog,
                ALL if args.all else args.name,
                reason=args.reason,
                duration=args.duration,
                until=until,
                by=actor("actcore mute"),
            )
        except MuteError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(made.model_dump(mode="json"), indent=2))
    else:
        row = _row(made)
        print(
            f"muted {row['target']} until {row['until']} ({made.reason}); id {made.mute_id}. "
            "Verdicts are still recorded; pages wait, and one summary goes out when it ends."
        )
    return 0


async def _unmute(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_catalog(settings) as catalog:
        if catalog.store is None:
            raise StoreUnavailable("no store: nothing is muted")
        target = None if args.mute_id else ALL if args.all else args.name
        ended = await unmute(catalog.store, target=target, mute_id=args.mute_id)
    if not ended:
        what = args.mute_id or ("everything" if args.all else args.name)
        print(f"nothing to unmute: no mute of {what} is in force (`actcore mutes` lists them)")
        return 0
    for m in ended:
        print(
            f"unmuted {_row(m)['target']} (id {m.mute_id}); "
            "the next watchdog pass sends its summary"
        )
    return 0


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_catalog(settings) as catalog:
        found = await current_mutes(catalog.store) if catalog.store is not None else []
    if args.json:
        print(json.dumps([m.model_dump(mode="json") for m in found], indent=2))
        return 0
    if not found:
        print("nothing is muted")
        return 0
    print_table(
        [_row(m) for m in found], ["target", "until", "reason", "by", "mute_id"], keep=("mute_id",)
    )
    return 0
