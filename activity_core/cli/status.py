"""``actcore status`` and ``actcore verify``: did the runs happen, and did they arrive?"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from activity_core.cli.argtypes import iso_date
from activity_core.cli.output import in_force, print_table, said
from activity_core.events.jetstream import describe_router, event_router_status
from activity_core.services.registry import opened_catalog
from activity_core.services.status import status_report
from activity_core.services.verify import EXIT_CODES, PLAN, as_json, verdict, verify
from activity_core.settings import Settings
from activity_core.store import Ledger
from activity_core.temporal_client import connect


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``status`` and ``verify``."""
    st = sub.add_parser("status", help="every definition: last fire, next fire, open alerts")
    st.add_argument("name", nargs="?", help="only this definition")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument(
        "--live",
        action="store_true",
        help="judge every definition now (default: the last watchdog pass and the ledger)",
    )
    st.set_defaults(func=lambda args, settings: asyncio.run(_status(args, settings)))

    ve = sub.add_parser(
        "verify",
        help="did the run for a date happen and arrive?",
        description="Check the run that answers the day's latest due fire: schedule, run, "
        "outcome, note, each sink, time budget. Exit 0: it happened and arrived; 1: a "
        "check failed; 3: not due yet (the day's first fire has not come).",
    )
    ve.add_argument("name", help="definition name")
    ve.add_argument(
        "--date", type=iso_date, help="YYYY-MM-DD in the definition's zone (default: today)"
    )
    ve.add_argument("--plan", action="store_true", help="list the checks without running them")
    ve.add_argument("--live", action="store_true", help=argparse.SUPPRESS)  # the default now
    ve.add_argument("--json", action="store_true", help="machine-readable output")
    ve.set_defaults(func=lambda args, settings: asyncio.run(_verify(args, settings)))


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_catalog(settings) as catalog:
        if args.name:
            await in_force(catalog, args.name)  # an unknown name: exit 2, the known ones listed
        else:
            said(await catalog.view())
        store = catalog.store
        ledger = Ledger(store) if store is not None else None
        names = [args.name] if args.name else None
        report = await status_report(
            await connect(), settings, names, ledger, catalog, live=args.live
        )
        router = await event_router_status(settings, catalog)
    code = report.exit_code()
    if router is not None and router["state"] != "ok":
        code = max(code, 1)
    if args.json:
        body = report.as_json()
        body["event_router"] = router
        print(json.dumps(body, indent=2))
    else:
        print(report.render())
        if router is not None:
            print(describe_router(router))
    return code


async def _verify(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_catalog(settings) as catalog:
        definition = await in_force(catalog, args.name)
    day = args.date if args.date else datetime.now(ZoneInfo(definition.zone)).date()
    if args.plan:
        print(f"verify {definition.name} for {day} ({definition.zone}) checks:")
        for name, what in PLAN:
            print(f"  {name:12} {what}")
        return 0
    async with opened_catalog(settings) as catalog:
        ledger = Ledger(catalog.store) if catalog.store is not None else None
        checks = await verify(await connect(), settings, definition, day, ledger)
    result = verdict(checks)
    if args.json:
        print(json.dumps(as_json(checks), indent=2))
    else:
        print(f"verify {definition.name} for {day} ({definition.zone})")
        print_table([c.__dict__ for c in checks], ["status", "name", "detail"], keep=("detail",))
        print(VERDICT_TEXT[result])
    return EXIT_CODES[result]


VERDICT_TEXT = {
    "pass": "ok: the run happened and arrived",
    "fail": "FAILED: see the checks above (runbook: 'Did today's run happen?')",
    "not_due": "not due yet: run it again after the fire time",
}
