"""``actcore dev up | status | down`` and ``actcore statehub serve | fault | events``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shlex
import signal
import sys
import time
from typing import Any

import httpx

from activity_core.cli.argtypes import PORT, number, whole
from activity_core.dev import demo
from activity_core.dev.paths import running_stack_env
from activity_core.dev.stack import DEMO_DEFINITIONS, PROCESSES, DevStack
from activity_core.dev.statehub import StateHub
from activity_core.dev.statehub_store import FAULT_MODES
from activity_core.settings import Settings

log = logging.getLogger("actcore")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dev`` and ``statehub``."""
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
    st.add_argument("--json", action="store_true", help="machine-readable output")
    dev_sub.add_parser("down", help="stop a detached stack")
    dev_sub.add_parser(
        "env",
        help='the stack\'s addresses as shell exports: eval "$(actcore dev env)" (so '
        "temporal, curl and the runbook's commands reach it on any ports)",
    )
    dev.set_defaults(func=cmd_dev)

    hubp = sub.add_parser("statehub", help="the reference State Hub")
    hub_sub = hubp.add_subparsers(dest="action", required=True)
    serve = hub_sub.add_parser("serve", help="run the reference State Hub")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=PORT, default=None, help="API port")
    serve.add_argument("--admin-port", type=PORT, default=None, help="fault-injection port")
    serve.add_argument("--db", default=".actcore/statehub.db", help="SQLite file")
    serve.add_argument(
        "--no-demo-data", action="store_true", help="start without the seeded demo work items"
    )
    fault = hub_sub.add_parser("fault", help="switch the running hub's fault mode")
    fault.add_argument(
        "mode", choices=list(FAULT_MODES), help="the fault to inject (none clears it)"
    )
    fault.add_argument(
        "--rate", type=number(0, 1), default=None, help="share of failures for 'flaky'"
    )
    fault.add_argument(
        "--retry-after", type=whole(0, 86400), default=None, help="Retry-After for 503/429"
    )
    fault.add_argument("--delay", type=number(0, 600), default=None, help="seconds for 'slow'")
    fault.add_argument(
        "--after",
        type=whole(0, 100000),
        default=None,
        help="let this many requests through first (a failure in the middle of a batch)",
    )
    fault.add_argument(
        "--path", default=None, help="fault only paths starting with this (e.g. /issues)"
    )
    fault.add_argument("--admin-port", type=PORT, default=None, help="the hub's admin port")
    ev = hub_sub.add_parser("events", help="print stored progress events")
    ev.add_argument("--event-type", default=None, help="only this event type")
    ev.add_argument("--url", default=None, help="State Hub base URL")
    hubp.set_defaults(func=cmd_statehub)


async def _dev_up(args: argparse.Namespace, settings: Settings) -> int:
    stack = DevStack(settings)
    # SIGTERM (a supervisor, `kill`, a CI runner) stops the stack like Ctrl-C does.
    me = asyncio.current_task()
    if me is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, me.cancel)
    try:
        await stack.start()
        print(stack.banner(), flush=True)
        if not args.no_demo:
            print(
                "\nThe demo runs each demo definition once and publishes one event: every "
                "`make run` adds their reports to the State Hub (`make run NO_DEMO=1` skips it).",
                flush=True,
            )
            for name in args.demo or list(DEMO_DEFINITIONS):
                print(f"\nRunning {name} once ...", flush=True)
                print(await demo.run_demo(stack, name), flush=True)
            print("\nPublishing a demo event ...", flush=True)
            print(await demo.run_event_demo(stack) or "(no definition listens to it)", flush=True)
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
        if not args.detach and stack.procs:  # a refused start has nothing to stop
            print("stopping the dev stack ...", file=sys.stderr, flush=True)
            stack.stop_children()


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    """Start, inspect or stop the dev stack."""
    if args.action == "up":
        try:
            return asyncio.run(_dev_up(args, settings))
        except KeyboardInterrupt:
            return 0
    stack = DevStack(settings)
    if args.action == "env":
        exports = running_stack_env(stack.paths.home, {})
        if not exports:
            print(f"error: no dev stack is running from {stack.paths.home}", file=sys.stderr)
            return 1
        addresses = stack.status().get("addresses", {})
        if addresses.get("api_url"):
            exports["ACTCORE_API_URL"] = str(addresses["api_url"])
        if addresses.get("codec_keys_file") and addresses.get("codec_url"):
            # The temporal CLI decodes the stack's sealed payloads (summaries, inputs).
            exports["TEMPORAL_CODEC_ENDPOINT"] = str(addresses["codec_url"])
        for variable, value in exports.items():
            print(f"export {variable}={shlex.quote(value)}")
        return 0
    if args.action == "down":
        stopped = stack.down()
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    status = stack.status()
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        for name, info in status.items():
            if name == "addresses":
                continue
            line = f"{name:9} {info['state']}"
            if info["state"] == "running":
                line += f" (pid {info['pid']})"
            elif info["state"] == "dead":
                line += f": it exited or was killed; see {stack.paths.logs / (name + '.log')}"
            if "ready" in info:
                failing = {k: v for k, v in info["checks"].items() if v != "ok"}
                line += ", ready" if info["ready"] else f", NOT READY {failing or '(draining)'}"
            print(line)
        for k, v in status.get("addresses", {}).items():
            print(f"{k:22} {v}")
    healthy = all(status[n]["alive"] and status[n].get("ready", True) for n in PROCESSES)
    return 0 if healthy else 1


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.state_hub_bearer()
    hub = StateHub(
        args.db,
        host=args.host,
        port=args.port or settings.state_hub_port,
        admin_port=args.admin_port or settings.state_hub_admin_port,
        token=token,
        seed_demo=not args.no_demo_data,
        signing_secret=(
            settings.state_hub_signing_secret.get_secret_value()
            if settings.state_hub_signing_secret
            else None
        ),
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


def cmd_statehub(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the reference hub, switch its fault mode, or print its events."""
    if args.action == "serve":
        return _serve(args, settings)
    if args.action == "fault":
        admin = f"http://127.0.0.1:{args.admin_port or settings.state_hub_admin_port}"
        body: dict[str, Any] = {"mode": args.mode}
        for key in ("retry_after", "delay", "rate", "after", "path"):
            if getattr(args, key) is not None:
                body[key] = getattr(args, key)
        response = httpx.post(f"{admin}/fault", json=body, timeout=10)
        print(response.text)
        return 0 if response.status_code == 200 else 2
    params = {"event_type": args.event_type} if args.event_type else {}
    url = args.url or settings.state_hub_url
    token = settings.state_hub_bearer()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url.rstrip('/')}/progress/", params=params, headers=headers, timeout=10)
    if response.status_code in (401, 403):
        print(
            f"error: the State Hub at {url} refused the request (HTTP {response.status_code}): "
            + (
                "its token is not the one in ACTCORE_STATE_HUB_TOKEN (or _FILE)"
                if token
                else "it needs a token: set ACTCORE_STATE_HUB_TOKEN (or _FILE)"
            ),
            file=sys.stderr,
        )
        return 2
    if response.status_code >= 400:
        print(
            f"error: the State Hub at {url} answered HTTP {response.status_code}", file=sys.stderr
        )
        return 2
    print(json.dumps(response.json(), indent=2))
    return 0
