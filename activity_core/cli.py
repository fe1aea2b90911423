"""``actcore``: the command line of activity-core.

Commands::

    actcore worker [--role all|runs|watchdog]       run the worker (workflows + activities)
    actcore status [NAME] [--json]                  last fire, next fire, open alerts
    actcore dev up [--detach] [--no-demo]           Temporal dev server + State Hub + worker
    actcore dev status | dev down
    actcore trigger NAME [--wait] [--json]          start a run now
    actcore deliveries list [--status S] [--json]   delivery workflows from visibility
    actcore deliveries retry ID                     signal retry_now to one delivery
    actcore definitions validate | list             check the definitions directory
    actcore definitions preview NAME [--count N]    next fire times, computed by the server
    actcore sync [--dry-run] [--no-prune]           make schedules match the definitions
    actcore verify NAME [--date D] [--live] [--json]  did the run happen and arrive?
    actcore statehub serve | fault MODE | events    the reference State Hub

Exit codes: 0 success, 1 a check failed, a run did not succeed or a page alert is open,
2 bad input or setup.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx
from temporalio.service import RPCError

from activity_core import logs
from activity_core.definitions import load_definitions
from activity_core.errors import ActivityCoreError
from activity_core.settings import Settings, get_settings

log = logging.getLogger("actcore")


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


# -- definitions ------------------------------------------------------------------------


def cmd_definitions(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "preview":
        if not args.name:
            print("error: preview needs a definition NAME", file=sys.stderr)
            return 2
        return asyncio.run(_preview(args, settings))
    loaded = load_definitions(settings.definitions_dir, settings.activity_timeout_seconds)
    for w in loaded.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.action == "validate":
        print(f"{len(loaded.definitions)} definitions OK in {settings.definitions_dir}")
        return 0
    rows = [
        {
            "name": d.name,
            "id": str(d.id),
            "trigger": d.trigger_config.trigger_type,
            "handler": d.handler,
            "enabled": d.enabled,
            "sinks": ",".join(s.name for s in d.sinks) or "-",
        }
        for d in loaded.definitions
    ]
    _print_table(rows, ["name", "trigger", "handler", "enabled", "sinks", "id"])
    return 0


async def _preview(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from activities.schedule import matching_times
    from activity_core.schedules import build_schedule, is_scheduled, schedule_id
    from activity_core.temporal_client import connect

    definition = load_definitions(
        settings.definitions_dir, settings.activity_timeout_seconds
    ).by_name(args.name)
    if not is_scheduled(definition):
        print(f"{definition.name} has no schedule ({definition.trigger_config.trigger_type})")
        return 2
    client = await connect()
    desired = build_schedule(definition)
    sid = schedule_id(definition)
    temp = None
    try:
        await client.get_schedule_handle(sid).describe()
    except Exception:
        temp = f"activity-preview-{definition.id}-{int(datetime.now(UTC).timestamp())}"
        desired.schedule.state.paused = True
        await client.create_schedule(temp, desired.schedule)
    try:
        now = datetime.now(UTC)
        fires = await matching_times(client, temp or sid, now, now + timedelta(days=400))
    finally:
        if temp:
            await client.get_schedule_handle(temp).delete()
    zone = ZoneInfo(definition.zone)
    print(f"next fires of {definition.name} (computed by the Temporal server):")
    for fire in fires[: args.count]:
        local = fire.astimezone(zone)
        print(f"  {fire:%Y-%m-%d %H:%M:%S} UTC   {local:%Y-%m-%d %H:%M:%S %Z} ({definition.zone})")
    return 0


async def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from activity_core.schedules import sync_schedules, system_schedules
    from activity_core.temporal_client import connect

    loaded = load_definitions(
        settings.definitions_dir, settings.activity_timeout_seconds
    )  # all-or-nothing: raises first
    for w in loaded.warnings:
        print(f"warning: {w}", file=sys.stderr)
    client = await connect()
    changes = await sync_schedules(
        client,
        loaded.definitions,
        dry_run=args.dry_run,
        prune=not args.no_prune,
        extras=system_schedules(settings),
    )
    rows = [c.as_dict() for c in sorted(changes, key=lambda c: (c.action == "unchanged", c.label))]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    _print_table(rows, ["action", "label", "policy", "overlap", "catchup_window", "schedule_id"])
    written = sum(1 for c in changes if c.action != "unchanged")
    verb = "would change" if args.dry_run else "changed"
    print(f"{written} {verb}, {len(changes) - written} unchanged")
    return 0


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    from activity_core.status import status_report
    from activity_core.temporal_client import connect

    client = await connect()
    report = await status_report(client, settings, [args.name] if args.name else None)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(report.render())
    return report.exit_code()


async def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date as date_cls
    from datetime import datetime as dt
    from zoneinfo import ZoneInfo

    from activity_core.temporal_client import connect
    from activity_core.verify import PLAN, as_json, verify

    definition = load_definitions(
        settings.definitions_dir, settings.activity_timeout_seconds
    ).by_name(args.name)
    day = (
        date_cls.fromisoformat(args.date) if args.date else dt.now(ZoneInfo(definition.zone)).date()
    )
    if not args.live:
        print(f"verify {definition.name} for {day} ({definition.zone}) would check:")
        for name, what in PLAN:
            print(f"  {name:12} {what}")
        print("add --live to run the checks")
        return 0
    checks = await verify(await connect(), settings, definition, day)
    if args.json:
        print(json.dumps(as_json(checks), indent=2))
    else:
        print(f"verify {definition.name} for {day} ({definition.zone})")
        _print_table([c.__dict__ for c in checks], ["status", "name", "detail"])
    return 1 if any(c.status == "fail" for c in checks) else 0


# -- runs and deliveries ----------------------------------------------------------------


async def _trigger(args: argparse.Namespace, settings: Settings) -> int:
    from activity_core.models import RunResult
    from activity_core.runs import start_manual_run
    from activity_core.temporal_client import connect

    definition = load_definitions(
        settings.definitions_dir, settings.activity_timeout_seconds
    ).by_name(args.name)
    client = await connect()
    handle = await start_manual_run(client, definition)
    if not args.wait:
        print(json.dumps({"run_id": handle.id}) if args.json else handle.id)
        return 0
    result: RunResult = await asyncio.wait_for(handle.result(), args.timeout)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(f"{result.run_id} {result.outcome.value}")
        print(f"  note: {result.report_path} ({result.note_status})")
        for d in result.deliveries:
            print(f"  delivery: {d.workflow_id} ({d.status})")
    return 0


async def _deliveries(args: argparse.Namespace) -> int:
    from activity_core.runs import list_deliveries
    from activity_core.temporal_client import connect

    client = await connect()
    if args.action == "retry":
        from activities.monitor import paced_retry_now

        if args.all:
            found = await list_deliveries(client, args.status, live=False)
            chosen = [r for r in found if r.execution == "running" and args.sink in (None, r.sink)]
            ids = [r.workflow_id for r in sorted(chosen, key=lambda r: r.started_at)]
        elif args.id:
            ids = [args.id]
        else:
            print("error: give a delivery id or --all", file=sys.stderr)
            return 2
        rate = args.rate or get_settings().wake_rate
        woken = await paced_retry_now(client, ids, rate)
        print(f"retry_now sent to {woken} deliveries (pace {rate:g}/s, oldest first)")
        return 0
    rows = [r.as_dict() for r in await list_deliveries(client, args.status)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(
            rows,
            ["workflow_id", "activity_name", "sink", "status", "attempts", "next_attempt_at"],
        )
    return 0


# -- dev stack --------------------------------------------------------------------------


async def _dev_up(args: argparse.Namespace, settings: Settings) -> int:
    from activity_core.devstack import DEMO_DEFINITIONS, DevStack

    stack = DevStack(settings)
    try:
        await stack.start()
        print(stack.banner(), flush=True)
        if not args.no_demo:
            for name in args.demo or list(DEMO_DEFINITIONS):
                print(f"\nRunning {name} once ...", flush=True)
                print(await stack.run_demo(name), flush=True)
        if args.detach:
            print(
                "\nDetached: `actcore dev status`, `actcore dev down`; "
                "`actcore status` for every definition and open alerts."
            )
            return 0
        print("\nCtrl-C stops everything.", flush=True)
        while True:
            for name, proc in stack.procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited (code {proc.returncode}); stopping", file=sys.stderr)
                    return 1
            await asyncio.sleep(0.5)
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0
    except BaseException:
        args.detach = False
        raise
    finally:
        if not args.detach:
            print("stopping the dev stack ...", file=sys.stderr, flush=True)
            stack.stop_children()


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    from activity_core.devstack import DevStack

    if args.action == "up":
        try:
            return asyncio.run(_dev_up(args, settings))
        except KeyboardInterrupt:
            return 0
    stack = DevStack(settings)
    if args.action == "down":
        stopped = stack.down()
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    status = stack.status()
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        for name, info in status.items():
            if name != "addresses":
                print(f"{name:9} {'running' if info['alive'] else 'stopped'} (pid {info['pid']})")
        for k, v in status.get("addresses", {}).items():
            print(f"{k:22} {v}")
    return 0 if all(status[n]["alive"] for n in ("temporal", "statehub", "worker")) else 1


# -- reference State Hub ----------------------------------------------------------------


def cmd_statehub(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "serve":
        from activity_core.statehub import StateHub

        token = settings.state_hub_bearer()
        hub = StateHub(
            args.db,
            host=args.host,
            port=args.port or settings.state_hub_port,
            admin_port=args.admin_port or settings.state_hub_admin_port,
            token=token,
            seed_demo=not args.no_demo_data,
        ).start()
        log.info(
            "statehub serving",
            extra={"url": hub.url, "admin": hub.admin_url, "db": str(args.db), "auth": bool(token)},
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            hub.stop()
        return 0
    admin = f"http://127.0.0.1:{getattr(args, 'admin_port', None) or settings.state_hub_admin_port}"
    if args.action == "fault":
        body: dict[str, Any] = {"mode": args.mode}
        if args.retry_after is not None:
            body["retry_after"] = args.retry_after
        if args.delay is not None:
            body["delay"] = args.delay
        if args.rate is not None:
            body["rate"] = args.rate
        response = httpx.post(f"{admin}/fault", json=body, timeout=10)
        print(response.text)
        return 0 if response.status_code == 200 else 2
    params = {"event_type": args.event_type} if args.event_type else {}
    url = args.url or settings.state_hub_url
    response = httpx.get(f"{url.rstrip('/')}/progress/", params=params, timeout=10)
    response.raise_for_status()
    print(json.dumps(response.json(), indent=2))
    return 0


# -- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="actcore", description=__doc__.split("\n")[0] if __doc__ else ""
    )
    sub = p.add_subparsers(dest="command", required=True)

    wk = sub.add_parser("worker", help="run the worker until SIGINT/SIGTERM")
    wk.add_argument(
        "--role",
        choices=["all", "runs", "watchdog"],
        default="all",
        help="all: runs and watchdog (default); watchdog: only the watchdog queue, "
        "deployed apart so it keeps alerting when run workers are down",
    )

    st = sub.add_parser("status", help="every definition: last fire, next fire, open alerts")
    st.add_argument("name", nargs="?", help="only this definition")
    st.add_argument("--json", action="store_true")

    dev = sub.add_parser("dev", help="the embedded dev stack")
    dev_sub = dev.add_subparsers(dest="action", required=True)
    up = dev_sub.add_parser("up", help="start Temporal + Web UI, State Hub and worker")
    up.add_argument("--detach", action="store_true", help="leave it running in the background")
    up.add_argument("--no-demo", action="store_true", help="do not trigger the demo run")
    up.add_argument(
        "--demo",
        action="append",
        help="definition to run once (repeatable; default: the digest and the WSJF triage)",
    )
    st = dev_sub.add_parser("status", help="is a detached stack running?")
    st.add_argument("--json", action="store_true")
    dev_sub.add_parser("down", help="stop a detached stack")

    trig = sub.add_parser("trigger", help="start a run of a definition now")
    trig.add_argument("name")
    trig.add_argument("--wait", action="store_true", help="wait for the run's result")
    trig.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (--wait)")
    trig.add_argument("--json", action="store_true")

    dl = sub.add_parser("deliveries", help="report deliveries")
    dl_sub = dl.add_subparsers(dest="action", required=True)
    ls = dl_sub.add_parser("list", help="list delivery workflows")
    ls.add_argument("--status", choices=["pending", "waiting", "delivered", "dead", "given_up"])
    ls.add_argument("--json", action="store_true")
    rt = dl_sub.add_parser("retry", help="signal retry_now (one delivery, or --all, paced)")
    rt.add_argument("id", nargs="?", help="delivery workflow id (delivery-<run id>-<sink>)")
    rt.add_argument("--all", action="store_true", help="every open delivery (oldest first)")
    rt.add_argument("--sink", help="with --all: only this sink name")
    rt.add_argument("--status", choices=["waiting", "dead"], default="waiting")
    rt.add_argument("--rate", type=float, help="signals per second (default ACTCORE_WAKE_RATE)")

    defs = sub.add_parser("definitions", help="check definition files, preview fire times")
    defs.add_argument("action", choices=["validate", "list", "preview"])
    defs.add_argument("name", nargs="?", help="definition (preview)")
    defs.add_argument("--count", type=int, default=10, help="fires to show (preview)")

    ve = sub.add_parser("verify", help="did the run for a date happen and arrive?")
    ve.add_argument("name")
    ve.add_argument("--date", help="YYYY-MM-DD in the definition's zone (default: today)")
    ve.add_argument("--live", action="store_true", help="run the checks (default: list them)")
    ve.add_argument("--json", action="store_true")

    sy = sub.add_parser("sync", help="make Temporal Schedules match the definitions")
    sy.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    sy.add_argument("--no-prune", action="store_true", help="keep schedules with no definition")
    sy.add_argument("--json", action="store_true")

    hubp = sub.add_parser("statehub", help="the reference State Hub")
    hub_sub = hubp.add_subparsers(dest="action", required=True)
    serve = hub_sub.add_parser("serve", help="run the reference State Hub")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--admin-port", type=int, default=None)
    serve.add_argument("--db", default=".actcore/statehub.db")
    serve.add_argument(
        "--no-demo-data", action="store_true", help="start without the seeded demo work items"
    )
    fault = hub_sub.add_parser("fault", help="switch the running hub's fault mode")
    fault.add_argument(
        "mode",
        choices=["none", "refuse", "500", "503", "429", "slow", "400", "409", "malformed", "flaky"],
    )
    fault.add_argument("--rate", type=float, default=None, help="share of failures for 'flaky'")
    fault.add_argument("--retry-after", type=int, default=None, help="Retry-After for 503/429")
    fault.add_argument("--delay", type=float, default=None, help="seconds for 'slow'")
    fault.add_argument("--admin-port", type=int, default=None)
    ev = hub_sub.add_parser("events", help="print stored progress events")
    ev.add_argument("--event-type", default=None)
    ev.add_argument("--url", default=None)
    return p


def run(argv: Sequence[str] | None = None) -> int:
    """Parse and run a command; returns the exit code."""
    args = build_parser().parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    try:
        if args.command == "worker":
            from activity_core.worker import serve

            asyncio.run(serve(settings, role=args.role))
            return 0
        if args.command == "status":
            return asyncio.run(_status(args, settings))
        if args.command == "dev":
            return cmd_dev(args, settings)
        if args.command == "trigger":
            return asyncio.run(_trigger(args, settings))
        if args.command == "deliveries":
            return asyncio.run(_deliveries(args))
        if args.command == "verify":
            return asyncio.run(_verify(args, settings))
        if args.command == "sync":
            return asyncio.run(_sync(args, settings))
        if args.command == "definitions":
            return cmd_definitions(args, settings)
        if args.command == "statehub":
            return cmd_statehub(args, settings)
    except ActivityCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if "Failed client connect" not in str(exc):
            raise
        from activity_core.temporal_client import connect_config

        target = connect_config().get("target_host")
        print(
            f"error: cannot reach Temporal at {target}: {str(exc).split(': ', 1)[-1][:200]}\n"
            "Is the server up (`actcore dev status`)? Set TEMPORAL_ADDRESS (or TEMPORAL_HOST) "
            "to reach another one.",
            file=sys.stderr,
        )
        return 2
    except RPCError as exc:
        print(f"error: Temporal refused the request: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


def main() -> None:
    """Console entry point. Leaves with ``os._exit`` to dodge an SDK finaliser crash."""
    code = run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
