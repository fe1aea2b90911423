"""Which definitions are in force: the one catalogue that every part of the system reads
(the CLI, the API and the board, run activities, the event router, the watchdog, the sink
pollers).

The rule, in order:

1. **The registry**, when the store is on and answers: the definition files imported by
   the journaled sync (``origin=file``) and the definitions created through the API
   (``origin=api``). A file that was never imported is not in force; a miss says so.
2. **The registry as this process last read it**, when the store stops answering
   (long-running processes only: workers, the router, the API).
3. **The definitions directory**, when the store is off (``ACTCORE_DB_URL=none``), has not
   been created yet, holds no definition at all (nothing was ever imported), or cannot be
   reached and nothing was read before. Broken files are
   left out and named; the others still count.

Steps 2 and 3 are *degraded*: every answer carries the reason (:attr:`View.degraded`),
which the CLI prints on stderr, the API returns as a field, and workers log once per
change and export as a metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url

from activity_core.domain import ActivityDefinition
from activity_core.domain.events import EventType
from activity_core.errors import DefinitionNotFound, DefinitionsError
from activity_core.loader import LoadedDefinitions, read_definitions
from activity_core.settings import Settings
from activity_core.store import Registry, Store, StoredDefinition
from activity_core.store.errors import STORE_ERRORS
from activity_core.store.registry import Origin

log = logging.getLogger(__name__)

KNOWN_SHOWN = 20
"""How many known names an unknown-name error lists."""


@dataclass(frozen=True)
class Entry:
    """One definition in force, and where it comes from."""

    definition: ActivityDefinition
    origin: Origin
    """``file`` (imported from, or in degraded mode read from, a file) or ``api``."""
    source: str | None
    """The file it came from (None for API definitions)."""
    stored: StoredDefinition | None = None
    """The registry row (None when read from the directory)."""

    @property
    def name(self) -> str:
        """The definition's name."""
        return self.definition.name


@dataclass
class View:
    """The definitions in force at one moment, and whether the answer is degraded."""

    entries: list[Entry] = field(default_factory=list)
    event_types: list[EventType] = field(default_factory=list)
    degraded: str | None = None
    """None when the registry answered; else why another source did (a sentence)."""
    source: Literal["registry", "last read", "directory"] = "registry"
    """Which step of the rule answered."""
    problems: list[str] = field(default_factory=list)
    """Degraded from the directory: the files left out, with file, field and fix."""
    warnings: list[str] = field(default_factory=list)
    """Degraded from the directory: validation warnings of the files read."""
    hint: Callable[[str], str] = field(default=lambda _key: "", repr=False)
    """Extra words for an unknown key (a file that was never imported, an invalid file)."""

    @property
    def definitions(self) -> list[ActivityDefinition]:
        """Every definition, by name."""
        return [e.definition for e in self.entries]

    def names(self) -> list[str]:
        """Every definition's name, sorted."""
        return sorted(e.name for e in self.entries)

    def get(self, key: str) -> Entry | None:
        """The entry with this id or name, if any."""
        for e in self.entries:
            if e.name == key or str(e.definition.id) == key:
                return e
        return None

    def find(self, key: str) -> Entry:
        """The entry with this id or name.

        Raises:
            DefinitionNotFound: Nothing has it; the message lists the known names.
        """
        found = self.get(key)
        if found is None:
            raise DefinitionNotFound(not_found_message(key, self.names(), self.hint(key)))
        return found


def not_found_message(key: str, known: Sequence[str], hint: str = "") -> str:
    """``no definition named 'x' (known: a, b, ...)`` plus the hint, if any."""
    shown = ", ".join(list(known)[:KNOWN_SHOWN]) or "none"
    if len(known) > KNOWN_SHOWN:
        shown += f", ... ({len(known)} in all: actcore definitions list)"
    return f"no definition named {key!r} (known: {shown})" + (f"; {hint}" if hint else "")


def _from_files(loaded: LoadedDefinitions, reason: str) -> View:
    entries = [
        Entry(d, "file", str(loaded.sources[d.name]) if d.name in loaded.sources else None)
        for d in sorted(loaded.definitions, key=lambda d: d.name)
    ]

    def hint(key: str) -> str:
        own = [e for path, errs in loaded.invalid.items() if path.stem == key for e in errs]
        return ("its file is invalid: " + "; ".join(own)) if own else ""

    return View(
        entries=entries,
        event_types=loaded.event_types,
        degraded=reason,
        source="directory",
        problems=loaded.errors,
        warnings=loaded.warnings,
        hint=hint,
    )


def _directory_signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Every file under ``directory`` with its modification time and size."""
    found = []
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                st = os.stat(path)
                found.append((path, st.st_mtime_ns, st.st_size))
    return tuple(sorted(found))


class Catalog:
    """The definitions in force for one process (see the module docstring for the rule).

    Build one per process and keep it: it remembers the last registry read so a store
    that stops answering does not change what a worker or the router acts on.
    """

    def __init__(
        self, settings: Settings, store: Store | None, *, unavailable: str | None = None
    ) -> None:
        """Read ``store``'s registry, or ``settings.definitions_dir`` without one.

        Args:
            settings: The definitions directory and the time budget files are checked with.
            store: The registry (None: the store is off, or was not opened).
            unavailable: Why there is no store although one is configured (said in every
                degraded answer).
        """
        self._settings = settings
        self._store = store
        self._registry = Registry(store) if store is not None else None
        if store is None:
            self._absent = unavailable or (
                "the store is off (ACTCORE_DB_URL=none)"
                if settings.database_url() is None
                else "the store could not be opened"
            )
        else:
            self._absent = ""
        self._last: View | None = None
        self._last_at: datetime | None = None
        self._files: tuple[tuple[tuple[str, int, int], ...], LoadedDefinitions] | None = None
        self._files_lock = threading.Lock()
        self.degraded: str | None = None
        """Why the last answer did not come from the registry (None: it did)."""

    @property
    def store(self) -> Store | None:
        """The store the registry lives in."""
        return self._store

    def _note(self, reason: str | None) -> None:
        if reason != self.degraded:
            if reason is None:
                log.info("catalogue: the registry answers again")
            else:
                log.warning("catalogue degraded", extra={"why": reason})
        self.degraded = reason

    async def _directory(self, reason: str) -> View:
        loaded = await asyncio.to_thread(self._read_directory)
        return _from_files(
            loaded, f"{reason}: definitions read from {self._settings.definitions_dir}"
        )

    def _read_directory(self) -> LoadedDefinitions:
        """The directory's definitions, parsed again only when a file changed (every run
        looks its definition up: a thousand runs at the top of the hour each re-reading a
        thousand files saturated the worker)."""
        directory = self._settings.definitions_dir
        # One reader at a time: lookups arriving together wait for one parse, not N.
        with self._files_lock:
            signature = _directory_signature(directory)
            cached = self._files
            if cached is not None and cached[0] == signature:
                return cached[1]
            loaded = read_definitions(
                directory, self._settings.activity_timeout_seconds, self._settings.egress_policy()
            )
            self._files = (signature, loaded)
            return loaded

    async def view(self) -> View:
        """Every definition in force and the event types, by the rule."""
        if self._registry is None:
            found = await self._directory(self._absent)
            self._note(found.degraded)
            return found
        try:
            rows = await self._registry.all()
            types = await self._registry.event_types()
        except STORE_ERRORS as exc:
            where = self._registry.store.safe_url
            reason = f"the registry ({where}) is unavailable ({type(exc).__name__})"
            if self._last is not None and self._last_at is not None:
                found = View(
                    entries=self._last.entries,
                    event_types=self._last.event_types,
                    degraded=f"{reason}: using the registry as read at "
                    f"{self._last_at:%H:%M:%S} UTC",
                    source="last read",
                    hint=self._last.hint,
                )
            else:
                found = await self._directory(reason)
            self._note(found.degraded)
            return found
        if not rows and not types:
            # Nothing was ever imported (a new store): the files are all there is.
            found = await self._directory(
                "the registry holds no definitions yet (`actcore sync` imports the files)"
            )
            self._note(found.degraded)
            return found
        found = View(
            entries=[Entry(r.definition, r.origin, r.source, r) for r in rows],
            event_types=types,
            hint=self._unimported_hint,
        )
        self._last, self._last_at = found, datetime.now(UTC)
        self._note(None)
        return found

    async def all(self) -> list[ActivityDefinition]:
        """Every definition in force, by name."""
        return (await self.view()).definitions

    async def kinds(self) -> tuple[dict[str, str], bool]:
        """Name -> ``scheduled``, ``event`` or ``manual`` for every definition in force, and
        whether the answer is degraded (the metrics' view)."""
        view = await self.view()
        return {e.name: trigger_kind(e.definition) for e in view.entries}, bool(view.degraded)

    async def event_types(self) -> list[EventType]:
        """The event types in force, by name."""
        return (await self.view()).event_types

    async def entry(self, key: str, *, name: str | None = None) -> Entry:
        """The definition with id or name ``key`` (else ``name``), with where it comes from.

        One registry read when the registry answers (not the whole catalogue).

        Raises:
            DefinitionNotFound: Nothing in force has it; the message lists the known names
                and says when a file holds it that was never imported.
            DefinitionsError: Read from the directory, and the definition's own file (by
                name) is invalid.
        """
        keys = [k for k in (key, name) if k]
        if self._registry is not None:
            with contextlib.suppress(*STORE_ERRORS):  # else view() says why, by the rule
                for k in keys:
                    row = await self._registry.get(k)
                    if row is not None:
                        self._note(None)
                        return Entry(row.definition, row.origin, row.source, row)
        view = await self.view()
        for k in keys:
            found = view.get(k)
            if found is not None:
                return found
        wanted = keys[-1] if keys else ""
        hint = view.hint(wanted)
        if hint.startswith("its file is invalid:") and view.source == "directory":
            raise DefinitionsError([hint.removeprefix("its file is invalid: ")])
        raise DefinitionNotFound(not_found_message(wanted, view.names(), hint))

    async def find(self, key: str, *, name: str | None = None) -> ActivityDefinition:
        """:meth:`entry`'s definition."""
        return (await self.entry(key, name=name)).definition

    def _unimported_hint(self, key: str) -> str:
        """Registry mode, an unknown key: does a file in the directory define it?"""
        directory = self._settings.definitions_dir
        with contextlib.suppress(OSError):
            loaded = read_definitions(
                directory,
                self._settings.activity_timeout_seconds,
                self._settings.egress_policy(),
            )
            if any(d.name == key for d in loaded.definitions):
                return (
                    f"{loaded.sources[key]} defines it but has not been imported into the "
                    "registry: run `actcore sync`"
                )
            own = [e for path, errs in loaded.invalid.items() if path.stem == key for e in errs]
            if own:
                return "its file is invalid, so it was never imported: " + "; ".join(own)
        return ""


def trigger_kind(definition: ActivityDefinition) -> str:
    """``scheduled`` (cron, interval), ``event`` or ``manual``."""
    kind = definition.trigger_config.trigger_type
    return "scheduled" if kind in ("cron", "interval") else str(kind)


def sqlite_missing(url: str | None) -> Path | None:
    """The SQLite file of ``url`` when it does not exist yet (None otherwise)."""
    if url is None:
        return None
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    file = Path(parsed.database)
    return None if file.exists() else file
