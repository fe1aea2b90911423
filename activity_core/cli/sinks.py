"""``actcore sinks list | check NAME`` and ``actcore tasks list``: the issue sinks, their
contract check, and the tasks runs emitted (filed, pending or a dry run)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from activity_core.cli.argtypes import whole
from activity_core.cli.output import print_table, said
from activity_core.domain import ActivityDefinition
from activity_core.services.registry import open_store, opened_catalog
from activity_core.services.sinks import check_sinks, issue_sink_uses
from activity_core.settings import Settings
from activity_core.store import Ledger
from activity_core.store.errors import STORE_ERRORS

TASK_STATES = ("dry_run", "pending", "filed", "already_filed", "rejected", "not_emitted")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sinks`` and ``tasks``."""
    p = sub.add_parser("sinks", help="issue sinks: where tasks go, and the contract check")
    ps = p.add_subparsers(dest="action", required=True)
    ps.add_parser("list", help="every issue sink, its backend, target and last check")
    check = ps.add_parser(
        "check",
        help="send the issue-core contract's dry-run requests; exit 0 only if all points hold",
    )
    check.add_argument("name", help="issue sink name (e.g. issues)")
    check.add_argument("--url", default=None, help="check this base URL instead")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=lambda args, settings: asyncio.run(_sinks(args, settings)))

    t = sub.add_parser("tasks", help="tasks runs emitted (from the ledger)")
    ts = t.add_subparsers(dest="action", required=True)
    ls = ts.add_parser("list", help="tasks, newest first")
    ls.add_argument("name", nargs="?", help="only this definition")
    ls.add_argument("--run", default=None, help="only this run id")
    ls.add_argument("--state", choices=TASK_STATES, default=None, help="only this state")
    ls.add_argument("--limit", type=whole(1, 100000), default=50, help="rows at most (default 50)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    t.set_defaults(func=lambda args, settings: asyncio.run(_tasks(args, settings)))


async def _sinks(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_catalog(settings) as catalog:
        defs = said(await catalog.view()).definitions
        if args.action == "list":
            store = catalog.store
            return await _list_sinks(defs, settings, Ledger(store) if store else None)
        # A check is remembered: it may create the embedded store (the definitions still
        # come from the directory until `actcore sync` imports them).
        store = catalog.store or await open_store(settings)
        try:
            ledger = Ledger(store) if store is not None else None
            checks = await check_sinks(args.name, defs, settings, url=args.url, ledger=ledger)
        except LookupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        finally:
            if store is not None and store is not catalog.store:
                await store.close()
    if args.json:
        out = [
            {
                "target": c.target,
                "passed": c.passed,
                "problem": c.problem,
                "definitions": c.definitions,
                "points": [p.__dict__ for p in c.points],
            }
            for c in checks
        ]
        print(json.dumps(out, indent=2))
    for c in checks if not args.json else []:
        verdict = "PASS" if c.passed else "FAIL"
        print(f"{verdict} {c.target} (sink {c.sink}; {', '.join(c.definitions)})")
        if c.problem:
            print(f"  cannot check: {c.problem}")
        for p in c.points:
            print(f"  {'ok  ' if p.ok else 'FAIL'} {p.field}: {p.detail}")
    if all(c.passed for c in checks):
        if not args.json:
            print("contract holds: switching to ACTCORE_ISSUE_SINK_TYPE=issue_core is safe")
        return 0
    return 1


async def _list_sinks(
    defs: list[ActivityDefinition], settings: Settings, ledger: Ledger | None
) -> int:
    checks: dict[str, dict[str, object]] = {}
    if ledger is not None:
        try:
            checks = await ledger.sink_checks()
        except STORE_ERRORS:
            checks = {}
    rows = []
    for use in issue_sink_uses(defs, settings):
        check = checks.get(use.check_key or "")
        passed = check.get("last_passed_at") if check else None
        rows.append(
            {
                "definition": use.definition,
                "sink": use.sink.name,
                "backend": use.backend,
                "target": use.target or "(none: set ACTCORE_ISSUE_CORE_URL)",
                "last_check": "never"
                if check is None
                else ("pass" if check.get("passed") else "FAIL"),
                "last_passed": str(passed)[:19] if passed else "never",
            }
        )
    if not rows:
        print("no definition has an issue sink (add `- type: issue` to its sinks)")
        return 0
    print_table(rows, ["definition", "sink", "backend", "target", "last_check", "last_passed"])
    return 0


async def _tasks(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings)
    if store is None:
        print("error: the ledger is off (ACTCORE_DB_URL=none)", file=sys.stderr)
        return 2
    try:
        rows = await Ledger(store).tasks(
            run_id=args.run, activity_name=args.name, state=args.state, limit=args.limit
        )
    finally:
        await store.close()
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return 0
    print_table(
        [
            {
                "key": r.key,
                "state": r.state,
                "when": f"{r.updated_at:%m-%d %H:%M}",
                "run": r.run_id,
                "priority": r.priority,
                "sink": f"{r.sink} ({r.backend})",
                "issue": r.issue_id or r.error or "-",
                "title": r.title,
            }
            for r in rows
        ],
        # The same key comes once per run that emitted it: the run and the time tell them
        # apart (newest first).
        ["key", "state", "when", "run", "priority", "sink", "issue", "title"],
        keep=("key", "run"),
    )
    return 0
