"""``actcore api``: serve the REST API and the status board with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from activity_core.api import create_app
from activity_core.cli.argtypes import PORT
from activity_core.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``api``."""
    p = sub.add_parser("api", help="serve the REST API and the status board")
    p.add_argument("--host", default=None, help="address (default ACTCORE_API_HOST)")
    p.add_argument("--port", type=PORT, default=None, help="port (default ACTCORE_API_PORT)")
    p.set_defaults(func=cmd_api)


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM."""
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_config=None,  # our JSON logging stays in charge
        access_log=False,
        server_header=False,
    )
    return 0
