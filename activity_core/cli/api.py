"""``actcore api``: serve the REST API and the status board with uvicorn."""

from __future__ import annotations

import argparse

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
    # Loaded here: the API and board (FastAPI, templates) take about 2 s to import, which
    # every other command would pay at start.
    from activity_core.api.serve import serve

    serve(settings, args.host, args.port)
    return 0
