"""``actcore definitions validate | list | preview NAME``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from zoneinfo import ZoneInfo

from activity_core.cli.argtypes import whole
from activity_core.cli.output import in_force, print_table, said
from activity_core.errors import DefinitionsError
from activity_core.loader import load_definitions, unset_token_envs
from activity_core.services.registry import opened_catalog
from activity_core.services.schedules import preview_fires
from activity_core.settings import Settings
from activity_core.temporal_client import connect


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``definitions``."""
    p = sub.add_parser("definitions", help="check definition files, preview fire times")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    validate = actions.add_parser(
        "validate",
        help="load every definition file; exit 1 on any error (file, field and fix named)",
        description="Load every file in ACTCORE_DEFINITIONS_DIR as the worker would. Each "
        "problem names the file, the field and the fix; exit 1 when any file is refused.",
    )
    validate.set_defaults(func=cmd_definitions, name=None)
    listing = actions.add_parser(
        "list", help="the definitions in force: trigger, handler, sinks, origin, version, id"
    )
    listing.add_argument("--wide", action="store_true", help="every column, nothing shortened")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_definitions, name=None)
    preview = actions.add_parser(
        "preview",
        help="the next fire times of one definition, computed by the Temporal server",
    )
    preview.add_argument("name", help="definition name")
    preview.add_argument("--count", type=whole(1, 1000), default=10, help="fires to show")
    preview.set_defaults(func=cmd_definitions)


def cmd_definitions(args: argparse.Namespace, settings: Settings) -> int:
    """Validate, list, or preview the next fires of one definition."""
    if args.action == "preview":
        if not args.name:
            print("error: preview needs a definition NAME", file=sys.stderr)
            return 2
        return asyncio.run(_preview(args, settings))
    if args.action == "list":
        return asyncio.run(_list(args, settings))
    try:
        loaded = load_definitions(
            settings.definitions_dir, settings.activity_timeout_seconds, settings.egress_policy()
        )
    except DefinitionsError as exc:
        if args.action != "validate":
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1  # validate's verdict: refused (2 stays for bad usage)
    for w in loaded.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.action == "validate":
        if not loaded.definitions:
            print(
                f"error: no definition files in {settings.definitions_dir}: is "
                "ACTCORE_DEFINITIONS_DIR right? (sync refuses to prune everything without "
                "--prune-all)",
                file=sys.stderr,
            )
            return 1
        for problem in unset_token_envs(loaded.definitions, settings):
            print(f"warning: {problem}", file=sys.stderr)
        print(f"{len(loaded.definitions)} definitions OK in {settings.definitions_dir}")
    return 0


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_catalog(settings) as catalog:
        view = said(await catalog.view())
    if args.json:
        body = [
            {
                **e.definition.model_dump(mode="json"),
                "origin": e.origin,
                "source": e.source,
                "version": e.stored.version if e.stored is not None else None,
            }
            for e in view.entries
        ]
        print(json.dumps({"definitions": body, "degraded": view.degraded}, indent=2))
        return 0
    if not view.entries:
        print("no definitions in force (`actcore sync` imports the files)")
        return 0
    rows = [
        {
            "name": d.name,
            "id": str(d.id),
            "trigger": d.trigger_config.trigger_type,
            "handler": d.handler,
            "enabled": d.enabled,
            "sinks": ",".join(s.name for s in d.sinks) or "-",
            "origin": e.origin,
            "version": e.stored.version if e.stored is not None else None,
        }
        for e in view.entries
        for d in [e.definition]
    ]
    print_table(
        rows,
        ["name", "trigger", "handler", "enabled", "sinks", "origin", "version", "id"],
        keep=("name", "id"),
        wide=args.wide,
    )
    return 0


async def _preview(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_catalog(settings) as catalog:
        definition = await in_force(catalog, args.name)
    fires = await preview_fires(await connect(), definition, args.count)
    if fires is None:
        print(f"{definition.name} has no schedule ({definition.trigger_config.trigger_type})")
        return 2
    zone = ZoneInfo(definition.zone)
    print(f"next fires of {definition.name} (computed by the Temporal server):")
    for fire in fires:
        local = fire.astimezone(zone)
        print(f"  {fire:%Y-%m-%d %H:%M:%S} UTC   {local:%Y-%m-%d %H:%M:%S %Z} ({definition.zone})")
    return 0
