"""``actcore backfill`` and ``actcore deliveries recover``: after an outage, run only the
fires that need it and wake only the deliveries that failed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime

from temporalio.client import WorkflowFailureError

from activity_core.cli.argtypes import moment, name, number
from activity_core.domain.backfill import BackfillPlan, parse_only, plan_lines
from activity_core.domain.recover import RecoverResult
from activity_core.services.backfill import (
    BackfillError,
    PlanNotFound,
    approve,
    plan_backfill,
    start_plan,
    start_recover,
    store_plan,
)
from activity_core.services.registry import actor, opened_catalog
from activity_core.settings import Settings
from activity_core.store.backfills import Backfills
from activity_core.store.errors import STORE_ERRORS
from activity_core.temporal_client import connect

VERBS = ("approve", "show", "list")


def _only(text: str) -> list[str]:
    try:
        return [n.value for n in parse_only([text])]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``backfill`` (and its ``approve``, ``show``, ``list``)."""
    b = sub.add_parser(
        "backfill",
        help="run the fires of a range the watchdog judged missing or failed (plan first)",
        description="Plan, and unless --dry-run or --plan-only start, a backfill: each fire "
        "of the range with its verdict and what happens to it. `actcore backfill approve "
        "PLAN_ID` starts a stored plan; `backfill show PLAN_ID` and `backfill list` read them.",
    )
    b.add_argument(
        "target",
        nargs="*",
        help="definition names; or `approve PLAN_ID`, `show PLAN_ID`, `list`",
    )
    b.add_argument("--all", action="store_true", help="every enabled scheduled definition")
    b.add_argument("--since", type=moment, help="range start: a time, or a duration ago (6h)")
    b.add_argument("--until", type=moment, help="range end (default now)")
    b.add_argument(
        "--only",
        type=_only,
        default=None,
        help="which fires run: missing, failed, skipped, comma-separated (default missing,failed)",
    )
    b.add_argument(
        "--every", action="store_true", help="catchup_latest: every fire, not the latest"
    )
    b.add_argument("--force", action="store_true", help="also fires beyond max_lateness_seconds")
    b.add_argument("--dry-run", action="store_true", help="print the plan; store and start nothing")
    b.add_argument(
        "--plan-only", action="store_true", help="store the plan; `backfill approve` starts it"
    )
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.set_defaults(func=lambda args, settings: asyncio.run(_backfill(args, settings)))


def register_recover(dl_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``deliveries recover``."""
    r = dl_sub.add_parser(
        "recover",
        help="wake the dead and waiting deliveries of a window, paced, with one summary note",
    )
    r.add_argument("--since", type=moment, required=True, help="a time, or a duration ago (6h)")
    r.add_argument("--until", type=moment, help="window end (default now)")
    r.add_argument("--sink", help="only deliveries to this sink name")
    r.add_argument(
        "--settle",
        type=number(0, 3600),
        default=60.0,
        help="seconds to wait for the woken deliveries before the summary note (default 60)",
    )
    r.add_argument("--dry-run", action="store_true", help="list them; wake nothing")
    r.add_argument("--wait", action="store_true", help="wait for the summary and print it")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=lambda args, settings: asyncio.run(_recover(args, settings)))


def _print_plan(plan: BackfillPlan, as_json: bool) -> None:
    if as_json:
        print(json.dumps(plan.model_dump(mode="json"), indent=2))
    else:
        print("\n".join(plan_lines(plan)))


async def _verb(args: argparse.Namespace, settings: Settings) -> int:
    verb, rest = args.target[0], args.target[1:]
    if verb != "list" and len(rest) != 1:
        print(f"error: backfill {verb} takes one PLAN_ID", file=sys.stderr)
        return 2
    async with opened_catalog(settings) as catalog:
        if verb == "approve":
            plan = await approve(
                await connect(), settings, catalog, rest[0], actor("actcore backfill approve")
            )
            _print_plan(plan, args.json)
            if not args.json:
                print(_started_line(plan, settings))
            return 0
        if catalog.store is None:
            raise BackfillError("plans are kept in the registry database (ACTCORE_DB_URL is off)")
        backfills = Backfills(catalog.store)
        if verb == "show":
            found = await backfills.get(rest[0])
            if found is None:
                raise PlanNotFound(
                    f"plan_id: no backfill plan {rest[0]!r} (`actcore backfill list`)"
                )
            _print_plan(found, args.json)
            return 0
        plans = await backfills.recent()
    if args.json:
        print(json.dumps([p.model_dump(mode="json") for p in plans], indent=2))
        return 0
    for p in plans:
        print(
            f"{p.plan_id}  {p.state:<8} {p.created_at:%F %H:%M} UTC by {p.created_by}: "
            f"{len(p.to_run)} to run of {len(p.items)} fires"
        )
    if not plans:
        print("no backfill plans")
    return 0


def _started_line(plan: BackfillPlan, settings: Settings) -> str:
    n = len(plan.to_run)
    if not n:
        return "nothing to run"
    return (
        f"started: workflow {plan.workflow_id} starts {n} runs at {settings.backfill_rate:g}/s "
        f"(ACTCORE_BACKFILL_RATE); they show as RunTrigger = 'backfill' in the Web UI"
    )


async def _backfill(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.target and args.target[0] in VERBS:
            return await _verb(args, settings)
        if bool(args.target) == args.all:
            print("error: name the definitions or give --all (not both)", file=sys.stderr)
            return 2
        for given in args.target:
            name(given)
        if args.since is None:
            print(
                "error: --since is required (a time, or a duration ago such as 6h)", file=sys.stderr
            )
            return 2
        if args.dry_run and args.plan_only:
            print("error: --dry-run and --plan-only: choose one", file=sys.stderr)
            return 2
        return await _plan_and_start(args, settings)
    except (BackfillError, PlanNotFound, argparse.ArgumentTypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except STORE_ERRORS as exc:
        print(
            f"error: the registry database did not answer ({type(exc).__name__}); is it up "
            "and migrated (`actcore db upgrade`)?",
            file=sys.stderr,
        )
        return 2


async def _plan_and_start(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect()
    async with opened_catalog(settings) as catalog:
        plan = await plan_backfill(
            client,
            catalog,
            names=args.target,
            since=args.since,
            until=args.until,
            only=parse_only(args.only or []),
            every=args.every,
            force=args.force,
            who=actor("actcore backfill"),
            dry_run=args.dry_run,
        )
        if args.dry_run:
            _print_plan(plan, args.json)
            return 0
        if args.plan_only:
            await store_plan(catalog, plan)
            _print_plan(plan, args.json)
            if not args.json:
                print(f"stored; start it with: actcore backfill approve {plan.plan_id}")
            return 0
        plan = plan.model_copy(
            update={
                "state": "started",
                "started_by": plan.created_by,
                "started_at": plan.created_at,
            }
        )
        await start_plan(client, settings, plan)  # first: a plan stored as started has run
        if catalog.store is not None:
            await store_plan(catalog, plan)
    _print_plan(plan, args.json)
    if not args.json:
        print(_started_line(plan, settings))
    return 0


async def _recover(args: argparse.Namespace, settings: Settings) -> int:
    until: datetime | None = args.until
    client = await connect()
    try:
        inp, handle = await start_recover(
            client,
            settings,
            since=args.since,
            until=until,
            sink=args.sink,
            settle_seconds=args.settle,
            dry_run=args.dry_run,
        )
    except BackfillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json and not args.wait:
        print(json.dumps({**inp.model_dump(mode="json"), "workflow_id": handle and handle.id}))
        return 0
    n = len(inp.delivery_ids)
    if not n:
        print(f"no dead or waiting deliveries started since {inp.since:%F %H:%M} UTC")
        return 0
    if handle is None:
        print(f"{n} deliveries would be woken, oldest first ({', '.join(inp.sinks)}):")
        for d in inp.delivery_ids:
            print(f"  {d}")
        return 0
    if inp.left_for_next:
        print(f"{inp.left_for_next} more in the window: run the recover again afterwards")
    print(
        f"recover {inp.recover_id}: waking {n} deliveries ({', '.join(inp.sinks)}) at "
        f"{inp.rate_per_second:g}/s; one summary note after {inp.settle_seconds:g} s "
        f"(workflow {handle.id})"
    )
    if args.wait:
        try:
            result = RecoverResult.model_validate(await handle.result())
        except WorkflowFailureError as exc:
            print(f"error: recover {handle.id} failed: {exc.cause or exc}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(result.model_dump(mode="json")))
        else:
            counts: dict[str, int] = {}
            for state in result.states.values():
                counts[state] = counts.get(state, 0) + 1
            print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
            print(f"summary note: {result.note_path}")
    return 0
