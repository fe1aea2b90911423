"""``actcore worker``: run the worker until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio

from activity_core.events import serve_router
from activity_core.settings import Settings
from activity_core.worker import serve


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``worker``."""
    p = sub.add_parser("worker", help="run the worker until SIGINT/SIGTERM")
    p.add_argument(
        "--role",
        choices=["all", "runs", "watchdog", "router"],
        default="all",
        help="all: runs and watchdog (default); watchdog: only the watchdog queue, "
        "deployed apart so it keeps alerting when run workers are down; router: the event "
        "router (same as `actcore router`)",
    )
    p.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the chosen task queues (or route events)."""
    if args.role == "router":
        asyncio.run(serve_router(settings))
        return 0
    asyncio.run(serve(settings, role=args.role))
    return 0
