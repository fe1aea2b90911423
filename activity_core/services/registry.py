"""Opening the store, and the one sync that both ``actcore sync`` and the worker run:
definition files into the registry (all or nothing), the registry into Temporal
Schedules, and every schedule write into the ``schedule_changes`` journal."""

from __future__ import annotations

import getpass
import logging
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client

from activity_core.domain import ActivityDefinition
from activity_core.errors import MassRemovalRefused, StoreUnavailable
from activity_core.loader import LoadedDefinitions
from activity_core.services.schedules import (
    SyncChange,
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
            stored = await registry.all()
            files = {d.name for d in loaded.definitions}
            definitions += [
                s.definition for s in stored if s.origin == "api" and s.definition.name not in files
            ]
        except STORE_ERRORS as exc:
            error = f"store {store.safe_url} unavailable ({type(exc).__name__})"
            if require_store:
                raise StoreUnavailable(
                    f"{error}; is the database up? (`actcore db current`)"
                ) from None
            log.error("registry not synced; schedules follow the files", extra={"error": error})
    changes = await sync_schedules(
        client,
        definitions,
        dry_run=dry_run,
        prune=prune,
        extras=system_schedules(settings),
        prune_all=prune_all,
    )
    if store is not None and imported is not None and not dry_run:
        now = datetime.now(UTC)
        entries = [c.journal_entry(who, now) for c in changes if c.action != "unchanged"]
        try:
            await Ledger(store).record_schedule_changes(entries)
        except STORE_ERRORS as exc:
            log.error("schedule journal not written", extra={"error": type(exc).__name__})
    warnings = await unchecked_sinks(
        definitions, settings, Ledger(store) if store is not None and error is None else None
    )
    for warning in warnings:
        log.warning("sync: %s", warning)
    return SyncReport(imported=imported, changes=changes, registry_error=error, warnings=warnings)
