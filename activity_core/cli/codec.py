"""``actcore codec new-key`` and ``actcore codec serve``: payload encryption keys and the
codec server the Temporal Web UI and CLI read sealed payloads through."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from activity_core.cli.argtypes import PORT
from activity_core.codec import KEYS_ENV, codec_from_env, new_key
from activity_core.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``codec``."""
    p = sub.add_parser("codec", help="payload encryption keys and the codec server")
    p_sub = p.add_subparsers(dest="action", required=True)
    key = p_sub.add_parser("new-key", help="print a new `id:key` entry for ACTCORE_CODEC_KEYS")
    key.add_argument("--id", default=None, help="key id (default: today's date)")
    serve = p_sub.add_parser("serve", help="serve /encode and /decode for the Web UI and CLI")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=PORT, default=None, help="port (default ACTCORE_CODEC_PORT)")
    p.set_defaults(func=cmd_codec)


def cmd_codec(args: argparse.Namespace, settings: Settings) -> int:
    """Print a key, or serve until SIGINT/SIGTERM."""
    if args.action == "new-key":
        key_id = args.id or datetime.now(UTC).strftime("%Y-%m-%d")
        print(f"{key_id}:{new_key()}")
        print(
            f"# put it first in {KEYS_ENV} on every worker, router, API and CLI; keep the "
            "old keys after it until nothing sealed with them is read any more",
            file=sys.stderr,
        )
        return 0
    codec = codec_from_env()
    if codec is None:
        print(
            f"error: no codec keys: set {KEYS_ENV} (or {KEYS_ENV}_FILE); "
            "`actcore codec new-key` makes one",
            file=sys.stderr,
        )
        return 2
    token = settings.codec_server_token.get_secret_value() if settings.codec_server_token else None
    # Loaded here, as for `actcore api`: FastAPI and the API package are slow to import.
    import uvicorn

    from activity_core.api.codec_server import create_codec_app

    app = create_codec_app(codec, settings.codec_ui_origins(), token)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port or settings.codec_port,
        log_config=None,
        access_log=False,
        server_header=False,
    )
    return 0
