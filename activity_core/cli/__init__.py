"""``actcore``: the command line of activity-core.

One module per command group; each adds its parsers with ``register`` and points them
at a handler with ``set_defaults(func=...)``. Handlers call :mod:`activity_core.services`
and print; they hold no logic of their own.

Commands::

    actcore worker [--role all|runs|watchdog|router]  run the worker (or the event router)
    actcore status [NAME] [--json]                  last fire, next fire, open alerts
    actcore dev up [--detach] [--no-demo]           Temporal dev server + State Hub + worker
    actcore dev status | dev down
    actcore trigger NAME [--wait] [--json]          start a run now
    actcore deliveries list [--status S] [--wide]   deliveries: state, tries, last error
    actcore deliveries retry ID                     signal retry_now to one delivery
    actcore deliveries recover --since T [--sink S]  wake a window's dead/waiting, one note
    actcore backfill NAME|--all --since T [--dry-run]  run the fires that need it
    actcore backfill approve PLAN_ID | show | list  start or read stored plans
    actcore definitions validate | list             check the definitions directory
    actcore definitions preview NAME [--count N]    next fire times, computed by the server
    actcore sync [--dry-run] [--no-prune]           make schedules match the definitions
    actcore setup [--no-sync]                       db upgrade, search attributes, sync
    actcore verify NAME [--date D] [--json] [--plan]  did the day's run happen and arrive?
    actcore statehub serve | fault MODE | events    the reference State Hub (and issue-core)
    actcore tasks list [NAME] [--state S] [--json]  tasks runs emitted (dry run, filed...)
    actcore sinks list | check NAME                 issue sinks and the issue-core contract
    actcore db upgrade | current | history          the registry and ledger database
    actcore runs list [NAME] [--since D] [--json]   runs from the ledger
    actcore ledger reconcile [--days N]             back-fill the ledger from visibility
    actcore api [--port P]                          the REST API and status board (8010)
    actcore router                                  the event router (NATS JetStream)
    actcore events publish TYPE [--payload JSON]    publish one event
    actcore events lag | dead-letters               the router's backlog and rejects
    actcore codec new-key | serve                   payload encryption keys, codec server
    actcore --version                               the installed version

Exit codes: 0 success, 1 a check failed, a run did not succeed or a page alert is open,
2 bad input or setup, 3 (verify) not due yet.

Addresses: a command run where a dev stack is up (``ACTCORE_HOME``, default ``.actcore``)
talks to that stack for every address the environment does not set, and says so.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata

import argcomplete
import httpx
import nats.errors
from pydantic import ValidationError
from temporalio.service import RPCError

from activity_core import logs
from activity_core.cli import (
    api,
    backfill,
    codec,
    definitions,
    dev,
    events,
    mutes,
    runs,
    schedules,
    setup,
    sinks,
    status,
    store,
    worker,
)
from activity_core.dev.paths import running_stack_env
from activity_core.errors import ActivityCoreError
from activity_core.settings import Settings, get_settings
from activity_core.temporal_client import connect_config

GROUPS = (
    worker,
    status,
    mutes,
    dev,
    runs,
    backfill,
    definitions,
    schedules,
    setup,
    sinks,
    store,
    api,
    events,
    codec,
)


def _version() -> str:
    try:
        return metadata.version("activity-core")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The ``actcore`` parser with every command group's subcommands."""
    p = argparse.ArgumentParser(
        prog="actcore",
        description="activity-core: scheduled and triggered work on Temporal, "
        "without silent failures.",
        epilog="Exit codes: 0 success; 1 a check failed, a run did not succeed or a page "
        "alert is open; 2 bad input or setup; 3 (verify) not due yet. Run where a dev stack "
        "is up, commands talk to it. `actcore COMMAND --help` for each command.",
    )
    p.add_argument("--version", action="version", version=f"actcore {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return p


def _adopt_dev_stack(settings: Settings) -> Settings:
    """Talk to the dev stack running from ``ACTCORE_HOME`` for every address the
    environment leaves unset, and say so on stderr."""
    home = settings.home.resolve()
    adopted = running_stack_env(home, os.environ)
    if not adopted:
        return settings
    os.environ.update(adopted)
    named = {"TEMPORAL_ADDRESS": "Temporal", "ACTCORE_STATE_HUB_URL": "State Hub"}
    parts = [f"{label} {adopted[var]}" for var, label in named.items() if var in adopted]
    print(
        f"actcore: using the dev stack in {home}: {', '.join(parts or sorted(adopted))}\n"
        "  (an address set in the environment, e.g. TEMPORAL_ADDRESS, takes precedence)",
        file=sys.stderr,
    )
    return get_settings()


def run(argv: Sequence[str] | None = None) -> int:
    """Parse and run a command; returns the exit code."""
    parser = build_parser()
    # Shell completion (`eval "$(register-python-argcomplete actcore)"`): answers and exits
    # only when the shell asks.
    argcomplete.autocomplete(parser)
    if not (sys.argv[1:] if argv is None else argv):
        # A bare `actcore`: what there is to do, not only "COMMAND is required".
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            print(f"error: {where}: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    if args.command != "dev":
        settings = _adopt_dev_stack(settings)
    logs.configure(settings.log_level, settings.log_format)
    try:
        code: int = args.func(args, settings)
        return code
    except ActivityCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if "Failed client connect" not in str(exc):
            raise
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
    except (nats.errors.NoServersError, nats.errors.TimeoutError, ConnectionRefusedError):
        hosts = ", ".join(s.split("@")[-1] for s in settings.nats_servers())
        print(
            f"error: cannot reach NATS at {hosts}. Is it up (`actcore dev status`)? "
            "Set NATS_URL to reach another one.",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


def main() -> None:
    """Console entry point. Leaves with ``os._exit`` to dodge an SDK finaliser crash."""
    try:
        code = run()
    except BrokenPipeError:
        # The reader went away (`actcore ... | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
