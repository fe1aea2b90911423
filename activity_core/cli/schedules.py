"""``actcore sync``: make Temporal Schedules match the definitions."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from activity_core.cli.output import print_table
from activity_core.loader import load_definitions
from activity_core.services.registry import actor, open_store, sync
from activity_core.settings import Settings
from activity_core.temporal_client import connect


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sync``."""
    p = sub.add_parser("sync", help="make Temporal Schedules match the definitions")
    p.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    p.add_argument("--no-prune", action="store_true", help="keep schedules with no definition")
    p.add_argument(
        "--prune-all",
        action="store_true",
        help="allow removing all or most definitions and schedules at once (refused "
        "otherwise: an empty or half-copied definitions directory looks like that)",
    )
    p.add_argument("--json", action="store_true", help="print the changes as JSON")
    p.set_defaults(
        func=lambda args, settings: asyncio.run(
            run_sync(
                settings,
                dry_run=args.dry_run,
                prune=not args.no_prune,
                prune_all=args.prune_all,
                as_json=args.json,
            )
        )
    )


async def run_sync(
    settings: Settings,
    *,
    dry_run: bool = False,
    prune: bool = True,
    prune_all: bool = False,
    as_json: bool = False,
) -> int:
    """Import the files and make the schedules match; print the changes."""
    # The files are what sync imports: all or nothing, so it raises first.
    loaded = load_definitions(
        settings.definitions_dir, settings.activity_timeout_seconds, settings.egress_policy()
    )
    for w in loaded.warnings:
        print(f"warning: {w}", file=sys.stderr)
    store = await open_store(settings)
    try:
        report = await sync(
            await connect(),
            settings,
            store,
            loaded,
            who=actor("actcore sync"),
            dry_run=dry_run,
            prune=prune,
            require_store=True,
            prune_all=prune_all,
        )
    finally:
        if store is not None:
            await store.close()
    changes = report.changes
    rows = [c.as_dict() for c in sorted(changes, key=lambda c: (c.action == "unchanged", c.label))]
    if as_json:
        print(json.dumps(rows, indent=2))
        for warning in report.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return 0
    print_table(
        rows,
        ["action", "label", "policy", "overlap", "catchup_window", "schedule_id"],
        keep=("schedule_id",),
    )
    written = sum(1 for c in changes if c.action != "unchanged")
    verb = "would change" if dry_run else "changed"
    print(f"schedules: {written} {verb}, {len(changes) - written} unchanged")
    if report.imported is not None:
        i = report.imported
        print(
            f"registry ({store.safe_url if store else '-'}): {len(i.created)} created, "
            f"{len(i.updated)} updated, {len(i.deleted)} deleted, {len(i.unchanged)} unchanged"
        )
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
