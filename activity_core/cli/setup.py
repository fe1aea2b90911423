"""``actcore setup``: what the Kubernetes Job runs before the roles start (and what an
operator runs once on a new cluster): migrate the database, add the search attributes,
sync the schedules. Each step says what it did; the first that fails stops the rest."""

from __future__ import annotations

import argparse
import asyncio

from activity_core.cli.schedules import run_sync
from activity_core.services.setup import ensure_search_attributes
from activity_core.settings import Settings
from activity_core.store import Store, migrate
from activity_core.temporal_client import connect


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``setup``."""
    p = sub.add_parser(
        "setup",
        help="migrate the database, add the search attributes, sync the schedules",
    )
    p.add_argument("--no-sync", action="store_true", help="stop after the search attributes")
    p.set_defaults(func=lambda args, settings: asyncio.run(_setup(args, settings)))


async def _setup(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.database_url()
    if url is None:
        print("database: off (ACTCORE_DB_URL=none); definitions are read from the files")
    else:
        store = Store(url)
        try:
            await migrate.upgrade(store)
            print(f"database: {store.label} at {await migrate.current(store)}")
        finally:
            await store.close()
    client = await connect()
    report = await ensure_search_attributes(client)
    print(
        f"search attributes ({client.namespace}): added {', '.join(report.added) or 'none'}; "
        f"present {', '.join(report.present) or 'none'}"
    )
    if args.no_sync:
        return 0
    return await run_sync(settings)
