"""Opening the store and the catalogue, and the one journaled sync: definition files
into the registry (all or nothing), the registry into Temporal Schedules, and every
schedule write, from ``actcore sync``, a worker start or the API alike, into the
``schedule_changes`` journal (:func:`write_schedules`)."""

from __future__ import annotations

import getpass
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client

from activity_core.catalog import Catalog, sqlite_missing
from activity_core.domain import ActivityDefinition
from activity_core.domain.schedule_spec import DesiredSchedule, schedule_id
from activity_core.errors import MassRemovalRefused, StoreUnavailable
from activity_core.loader import LoadedDefinitions
from activity_core.services.schedules import (
    SyncChange,
    delete_schedule,
    mass_removal,
    sync_schedules,
    system_schedules,
)
from activity_core.services.sinks import unchecked_sinks
from activity_core.settings import Settings
from activity_core.store import ImportResult, Ledger, Registry, Store, migrate
from activity_core.store.errors import STORE_ERRORS

log = logging.getLogger(__name__)


def actor(role: str) -> str:
    """Who is writing: ``actcore sync (user@host)`` or ``worker (host)``."""
    host = socket.gethostname()
    if role == "worker":
        return f"worker ({host})"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{role} ({user}@{host})"


async def open_store(settings: Settings, *, migrate_embedded: bool = True) -> Store | None:
    """The store of ``ACTCORE_DB_URL`` (None when turned off).

    The embedded SQLite default is migrated here; PostgreSQL is migrated by the operator
    with ``actcore db upgrade`` (a worker only warns when it is behind).
    """
    url = settings.database_url()
    if url is None:
        return None
    store = Store(url)
    await prepare_store(store, migrate_embedded=migrate_embedded)
    return store


@asynccontextmanager
async def opened_catalog(settings: Settings, *, create: bool = False) -> AsyncIterator[Catalog]:
    """The catalogue over the configured store, closed on exit.

    Args:
        settings: Where the store and the definitions directory are.
        create: Create (and migrate) an embedded SQLite store that does not exist yet.
            Without it a missing file is not created: the catalogue reads the directory
            and says that no registry exists yet (a read must not leave state behind).
    """
    missing = None if create else sqlite_missing(settings.database_url())
    if missing is not None:
        yield Catalog(
            settings,
            None,
            unavailable=f"no registry at {missing} yet (`actcore sync` or `make run` creates it)",
        )
        return
    store = await open_store(settings)
    try:
        yield Catalog(settings, store)
    finally:
        if store is not None:
            await store.close()


async def write_schedules(
    client: Client,
    store: Store | None,
    definitions: Sequence[ActivityDefinition],
    *,
    who: str,
    dry_run: bool = False,
    prune: bool = True,
    extras: Sequence[DesiredSchedule] | None = None,
    prune_all: bool = False,
) -> list[SyncChange]:
    """Make the schedules match ``definitions`` and journal every write (the only way a
    schedule is written: the watchdog judges each fire by the journal entry in force).

    Arguments as :func:`activity_core.services.schedules.sync_schedules`; ``store`` None
    or down: the writes happen and the journal miss is logged.
    """
    changes = await sync_schedules(
        client, definitions, dry_run=dry_run, prune=prune, extras=extras, prune_all=prune_all
    )
    if not dry_run:
        await _journal(store, changes, who)
    return changes


async def remove_schedule(
    client: Client, store: Store | None, definition: ActivityDefinition, *, who: str
) -> SyncChange:
    """Delete one definition's schedule (gone already is fine) and journal it."""
    change = await delete_schedule(client, schedule_id(definition), definition.name)
    await _journal(store, [change], who)
    return change


async def _journal(store: Store | None, changes: Sequence[SyncChange], who: str) -> None:
    entries = [c.journal_entry(who, datetime.now(UTC)) for c in changes if c.action != "unchanged"]
    if store is None or not entries:
        return
    try:
        await Ledger(store).record_schedule_changes(entries)
    except STORE_ERRORS as exc:
        log.error("schedule journal not written", extra={"error": type(exc).__name__})


async def prepare_store(store: Store, *, migrate_embedded: bool = True) -> None:
    """Migrate the embedded SQLite store; warn when PostgreSQL is behind. Never raises:
    a database that is down is logged, and the callers degrade."""
    try:
        if store.dialect == "sqlite" and migrate_embedded:
            await migrate.upgrade(store)
        elif not await migrate.is_current(store):
            log.error(
                "database schema is behind: run `actcore db upgrade`",
                extra={"db": store.safe_url, "head": migrate.head()},
            )
    except STORE_ERRORS as exc:
        log.error("store unavailable", extra={"db": store.safe_url, "error": type(exc).__name__})


async def _refuse_mass_removal(registry: Registry, loaded: LoadedDefinitions, who: str) -> None:
    planned = await registry.import_files(
        loaded.definitions, loaded.sources, who, dry_run=True, event_types=loaded.event_types
    )
    kept = len(planned.updated) + len(planned.unchanged)
    existing = kept + len(planned.deleted)
    if mass_removal(existing, len(planned.deleted)):
        names = ", ".join(planned.deleted[:5]) + (" ..." if len(planned.deleted) > 5 else "")
        raise MassRemovalRefused(
            f"sync would remove {len(planned.deleted)} of the {existing} definitions imported "
            f"from files ({names}): their files are no longer in the definitions directory. "
            "If that is what you want, run `actcore sync --prune-all`; otherwise check "
            "ACTCORE_DEFINITIONS_DIR."
        )


@dataclass
class SyncReport:
    """What a sync did to the registry and to the schedules."""

    imported: ImportResult | None
    """None when there is no store, or it could not be reached."""
    changes: list[SyncChange]
    registry_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    """Things that will not work as the files say (an unchecked issue-core endpoint)."""


async def sync(
    client: Client,
    settings: Settings,
    store: Store | None,
    loaded: LoadedDefinitions,
    *,
    who: str,
    dry_run: bool = False,
    prune: bool = True,
    require_store: bool = False,
    prune_all: bool = False,
) -> SyncReport:
    """Import the files into the registry, then make the schedules match the registry.

    Args:
        client: Temporal client.
        settings: For the system schedules (watchdog).
        store: The registry; None: schedules follow the files alone.
        loaded: The validated definition files.
        who: The actor recorded in the registry and the journal.
        dry_run: Write nothing anywhere; say what would change.
        prune: Delete schedules no definition claims.
        require_store: Fail (``StoreUnavailable``) instead of falling back to the files
            when the store cannot be reached (the CLI; a worker falls back).
        prune_all: Allow removing all or most file definitions and schedules at once.

    Raises:
        DefinitionsError: A file takes the name of an API definition.
        StoreUnavailable: ``require_store`` and the store cannot be reached.
        MassRemovalRefused: The files would remove all or most file definitions or
            schedules and ``prune_all`` is not set; nothing is written.
    """
    definitions: list[ActivityDefinition] = list(loaded.definitions)
    imported: ImportResult | None = None
    error: str | None = None
    if store is not None:
        registry = Registry(store)
        try:
            if not prune_all and not dry_run:
                await _refuse_mass_removal(registry, loaded, who)
            imported = await registry.import_files(
                loaded.definitions,
                loaded.sources,
                who,
                dry_run=dry_run,
                event_types=loaded.event_types,
            )
            if not dry_run:
                # The registry is the truth: the files as imported plus the API's.
                definitions = [s.definition for s in await registry.all()]
            else:
                files = {d.name for d in loaded.definitions}
                definitions += [
                    s.definition
                    for s in await registry.all()
                    if s.origin == "api" and s.definition.name not in files
                ]
        except STORE_ERRORS as exc:
            error = f"store {store.safe_url} unavailable ({type(exc).__name__})"
            if require_store:
                raise StoreUnavailable(
                    f"{error}; is the database up? (`actcore db current`)"
                ) from None
            log.error("registry not synced; schedules follow the files", extra={"error": error})
    changes = await write_schedules(
        client,
        store if imported is not None else None,
        definitions,
        who=who,
        dry_run=dry_run,
        prune=prune,
        extras=system_schedules(settings),
        prune_all=prune_all,
    )
    warnings = await unchecked_sinks(
        definitions, settings, Ledger(store) if store is not None and error is None else None
    )
    for warning in warnings:
        log.warning("sync: %s", warning)
    return SyncReport(imported=imported, changes=changes, registry_error=error, warnings=warnings)
