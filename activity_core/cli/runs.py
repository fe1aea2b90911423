"""``actcore trigger`` and ``actcore deliveries list | retry``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime

from activity_core.cli.argtypes import name, number
from activity_core.cli.backfill import register_recover
from activity_core.cli.output import in_force, print_table
from activity_core.domain import RunResult
from activity_core.services.registry import opened_catalog
from activity_core.services.runs import (
    ended_delivery,
    list_deliveries,
    retry_deliveries,
    start_manual_run,
)
from activity_core.settings import Settings
from activity_core.temporal_client import connect

DELIVERY_STATES = ["pending", "waiting", "delivered", "dead", "given_up"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``trigger`` and ``deliveries``."""
    trig = sub.add_parser("trigger", help="start a run of a definition now")
    trig.add_argument("name", help="definition name")
    trig.add_argument("--wait", action="store_true", help="wait for the run's result")
    trig.add_argument(
        "--timeout", type=number(1, 86400), default=300.0, help="seconds to wait (--wait)"
    )
    trig.add_argument("--json", action="store_true", help="machine-readable output")
    trig.set_defaults(func=lambda args, settings: asyncio.run(_trigger(args, settings)))

    dl = sub.add_parser("deliveries", help="report deliveries")
    dl_sub = dl.add_subparsers(dest="action", required=True)
    ls = dl_sub.add_parser("list", help="list delivery workflows")
    ls.add_argument("--status", choices=DELIVERY_STATES, help="only deliveries in this state")
    ls.add_argument("--activity", type=name, help="only this definition's deliveries")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.add_argument(
        "--wide",
        action="store_true",
        help="every column (definition, sink, start time...), nothing shortened",
    )
    ls.set_defaults(func=lambda args, settings: asyncio.run(_list(args)))
    rt = dl_sub.add_parser("retry", help="signal retry_now (one delivery, or --all, paced)")
    rt.add_argument("id", nargs="?", help="delivery workflow id (delivery-<run id>-<sink>)")
    rt.add_argument("--all", action="store_true", help="every open delivery (oldest first)")
    rt.add_argument("--sink", help="with --all: only this sink name")
    rt.add_argument(
        "--status",
        choices=["waiting", "dead"],
        default="waiting",
        help="with --all: wake deliveries in this state (default waiting)",
    )
    rt.add_argument(
        "--rate", type=number(0.01, 1000), help="signals per second (default ACTCORE_WAKE_RATE)"
    )
    rt.set_defaults(func=lambda args, settings: asyncio.run(_retry(args, settings)))
    register_recover(dl_sub)


async def _trigger(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_catalog(settings) as catalog:
        definition = await in_force(catalog, args.name)
    handle = await start_manual_run(await connect(), definition)
    if not args.wait:
        print(json.dumps({"run_id": handle.id}) if args.json else handle.id)
        return 0
    try:
        result: RunResult = await asyncio.wait_for(handle.result(), args.timeout)
    except TimeoutError:
        print(
            f"{handle.id}: still running after {args.timeout:g} s; it goes on without this "
            f"command (`actcore runs list {definition.name}`, or the Web UI's workflow "
            f"{handle.id}); wait longer with --timeout",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(f"{result.run_id} {result.outcome.value}")
        print(f"  note: {result.report_path} ({result.note_status})")
        for d in result.deliveries:
            print(f"  delivery: {d.workflow_id} ({d.status})")
    return 0


NARROW = ["workflow_id", "status", "attempts", "next_attempt_at", "last_error"]
WIDE = [
    "workflow_id",
    "activity_name",
    "sink",
    "status",
    "execution",
    "attempts",
    "filed",
    "started_at",
    "next_attempt_at",
    "last_error",
]
TITLES = {
    "workflow_id": "ID",
    "activity_name": "ACTIVITY",
    "attempts": "TRIES",
    "started_at": "STARTED (UTC)",
    "next_attempt_at": "NEXT (UTC)",
}


def _when(iso: object, wide: bool) -> str | None:
    """An ISO time as ``11-24 09:30:32`` (``2026-11-24 09:30:32`` with ``--wide``)."""
    if not isinstance(iso, str):
        return None
    return f"{datetime.fromisoformat(iso):{'%Y-' if wide else ''}%m-%d %H:%M:%S}"


async def _list(args: argparse.Namespace) -> int:
    found = await list_deliveries(await connect(), args.status, activity=args.activity)
    rows = [r.as_dict() for r in found]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no deliveries" + (f" in state {args.status}" if args.status else ""))
        return 0
    columns = list(WIDE if args.wide else NARROW)
    if not args.wide and any(r.get("filed") for r in rows):
        columns.insert(3, "filed")  # issue sinks: how much of the batch is filed
    times = ("started_at", "next_attempt_at")
    shown = [{**r, **{k: _when(r.get(k), args.wide) for k in times}} for r in rows]
    print_table(
        shown,
        columns,
        keep=("workflow_id",),
        wide=args.wide,
        titles=TITLES,
        floors={"last_error": 28},  # the reason is what the operator came for
    )
    return 0


async def _retry(args: argparse.Namespace, settings: Settings) -> int:
    if not args.all and not args.id:
        print("error: give a delivery id or --all", file=sys.stderr)
        return 2
    rate = args.rate or settings.wake_rate
    client = await connect()
    woken = await retry_deliveries(
        client,
        delivery_id=None if args.all else args.id,
        status=args.status,
        sink=args.sink,
        rate=rate,
    )
    if not args.all and woken == 0:
        ended = await ended_delivery(client, args.id)
        if ended == "delivered":
            print(f"{args.id} is already delivered: nothing to retry")
            return 0
        if ended is not None:
            print(
                f"error: {args.id} has ended ({ended}): nothing to retry; its report is in "
                "its note (see `actcore verify`)",
                file=sys.stderr,
            )
            return 1
        print(f"error: no delivery {args.id!r} (see `actcore deliveries list`)", file=sys.stderr)
        return 1
    print(f"retry_now sent to {woken} deliveries (pace {rate:g}/s, oldest first)")
    return 0
