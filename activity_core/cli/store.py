"""``actcore db upgrade | current | history``, ``actcore runs list`` and
``actcore ledger reconcile``: the SQL store from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from activity_core.catalog import Catalog, sqlite_missing
from activity_core.cli.argtypes import iso_datetime, number, whole
from activity_core.cli.output import print_table
from activity_core.errors import StoreUnavailable
from activity_core.services.ledger import list_runs, reconcile
from activity_core.settings import Settings
from activity_core.store import Store, migrate
from activity_core.store.errors import STORE_ERRORS
from activity_core.temporal_client import connect


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``db``, ``runs`` and ``ledger``."""
    db = sub.add_parser("db", help="the registry and ledger database (ACTCORE_DB_URL)")
    db_sub = db.add_subparsers(dest="action", required=True)
    up = db_sub.add_parser("upgrade", help="apply the shipped migrations")
    up.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    db_sub.add_parser("current", help="the revision the database is at")
    db_sub.add_parser("history", help="every shipped revision")
    db.set_defaults(func=lambda args, settings: asyncio.run(_db(args, settings)))

    runs = sub.add_parser("runs", help="the run ledger")
    runs_sub = runs.add_subparsers(dest="action", required=True)
    ls = runs_sub.add_parser("list", help="runs from the ledger, newest fire first")
    ls.add_argument("name", nargs="?", help="only this definition")
    ls.add_argument(
        "--since", type=iso_datetime, help="fires on or after this date or time (ISO 8601)"
    )
    ls.add_argument("--limit", type=whole(1, 100000), default=50, help="rows at most (default 50)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    runs.set_defaults(func=lambda args, settings: asyncio.run(_runs(args, settings)))

    ledger = sub.add_parser("ledger", help="keep the ledger in step with Temporal")
    ledger_sub = ledger.add_subparsers(dest="action", required=True)
    rc = ledger_sub.add_parser("reconcile", help="back-fill missing or stale rows from visibility")
    rc.add_argument(
        "--days", type=number(0.01, 3660), default=8.0, help="look back this many days (default 8)"
    )
    ledger.set_defaults(func=lambda args, settings: asyncio.run(_reconcile(args, settings)))


@asynccontextmanager
async def _store(settings: Settings, *, create: bool = False) -> AsyncIterator[Store]:
    """The configured store; an embedded one that does not exist yet is an error unless
    ``create`` (reading must not leave a new ``.actcore/`` behind)."""
    url = settings.database_url()
    if url is None:
        raise StoreUnavailable("the store is turned off (ACTCORE_DB_URL=none)")
    missing = None if create else sqlite_missing(url)
    if missing is not None:
        raise StoreUnavailable(
            f"no ledger at {missing} yet: nothing has run with this ACTCORE_HOME "
            "(`make run` or `actcore sync` creates it; is ACTCORE_HOME or ACTCORE_DB_URL right?)"
        )
    store = Store(url)
    try:
        yield store
    except STORE_ERRORS as exc:
        raise StoreUnavailable(
            f"database {store.safe_url} unavailable ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160] if str(exc) else ''})"
        ) from None
    finally:
        await store.close()


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "history":
        for revision, message in migrate.history():
            print(f"{revision}  {message.splitlines()[0] if message else ''}")
        return 0
    async with _store(settings, create=args.action == "upgrade") as store:
        if args.action == "upgrade":
            await migrate.upgrade(store, args.revision)
        at = await migrate.current(store)
        head = migrate.head()
        state = "up to date" if at == head else f"behind head {head}: run `actcore db upgrade`"
        print(f"{store.safe_url}: at {at or 'no schema'} ({state})")
        return 0 if at == head else 1


async def _runs(args: argparse.Namespace, settings: Settings) -> int:
    since: datetime | None = args.since
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    async with _store(settings) as store:
        rows = await list_runs(store, name=args.name, since=since, limit=args.limit)
        if args.name and not rows:
            # No run of that name: a typo is an error (exit 2, the known names listed).
            await Catalog(settings, store).entry(args.name)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return 0
    print_table(
        [
            {
                "scheduled_for": f"{r.scheduled_for:%Y-%m-%d %H:%M:%S}" if r.scheduled_for else "-",
                "activity": r.activity_name,
                "trigger": r.trigger,
                "state": r.state,
                "outcome": r.outcome or "-",
                "run_id": r.run_id,
            }
            for r in rows
        ],
        ["scheduled_for", "activity", "trigger", "state", "outcome", "run_id"],
        keep=("run_id",),
    )
    print(f"{len(rows)} runs from the ledger at {store.safe_url} (times UTC)")
    return 0


async def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    since = datetime.now(UTC) - timedelta(days=args.days)
    async with _store(settings) as store:
        result = await reconcile(await connect(), store, since)
    print(
        f"runs: {result.runs_seen} seen, {result.runs_written} written; "
        f"deliveries: {result.deliveries_seen} seen, {result.deliveries_written} written"
    )
    return 0
