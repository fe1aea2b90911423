"""What the router matches against: the registry's definitions and event types (or the
definition files when there is no store), reloaded at most every
``ACTCORE_ROUTER_REFRESH_SECONDS``, with a compiled payload validator per event type."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from activity_core.domain import ActivityDefinition, EventTrigger
from activity_core.domain.events import EventType
from activity_core.loader import load_definitions
from activity_core.settings import Settings
from activity_core.store import Registry, Store
from activity_core.store.errors import STORE_ERRORS

log = logging.getLogger(__name__)


@dataclass
class Catalogue:
    """Event definitions by type, and the known event types with their validators."""

    by_type: dict[str, list[ActivityDefinition]] = field(default_factory=dict)
    types: dict[str, EventType] = field(default_factory=dict)
    validators: dict[str, Any] = field(default_factory=dict)

    def schema_errors(self, event_type: str, payload: dict[str, Any]) -> list[str]:
        """Where the payload breaks its type's JSON Schema (paths only, never values)."""
        validator = self.validators.get(event_type)
        if validator is None:
            return []
        out = []
        for err in sorted(validator.iter_errors(payload), key=lambda e: list(e.path))[:10]:
            where = "/".join(str(p) for p in err.absolute_path) or "(payload)"
            out.append(f"payload/{where}: fails `{err.validator}` of the {event_type} schema")
        return out


def build_catalogue(definitions: list[ActivityDefinition], types: list[EventType]) -> Catalogue:
    """Index definitions by event type and compile each type's schema."""
    cat = Catalogue(types={t.name: t for t in types})
    for d in definitions:
        trig = d.trigger_config
        if d.enabled and isinstance(trig, EventTrigger):
            cat.by_type.setdefault(trig.event_type, []).append(d)
    for t in types:
        if t.payload_schema is not None:
            cls = jsonschema.validators.validator_for(t.payload_schema)
            cat.validators[t.name] = cls(t.payload_schema)
    return cat


class DefinitionSource:
    """The registry when there is a store (files otherwise), cached for a few seconds.

    A registry that cannot be reached keeps the last catalogue (and says so once);
    before the first successful read the router waits rather than dead-letter events
    as unknown.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._registry = Registry(store) if store is not None else None
        self._clock = clock
        self._cat: Catalogue | None = None
        self._at = 0.0
        self._degraded = False

    async def catalogue(self) -> Catalogue:
        """The current catalogue.

        Raises:
            StoreUnavailable-like errors from the store, only when nothing was ever loaded.
        """
        now = self._clock()
        if self._cat is not None and now - self._at < self._settings.router_refresh_seconds:
            return self._cat
        try:
            self._cat = await self._load()
            self._at = now
            if self._degraded:
                log.info("registry reachable again")
                self._degraded = False
        except STORE_ERRORS as exc:
            if self._cat is None:
                raise
            if not self._degraded:
                log.warning(
                    "registry unavailable; routing with the definitions last read",
                    extra={"error": type(exc).__name__},
                )
                self._degraded = True
        return self._cat

    async def _load(self) -> Catalogue:
        if self._registry is not None:
            stored = await self._registry.all()
            types = await self._registry.event_types()
            return build_catalogue([s.definition for s in stored], types)
        loaded = load_definitions(
            self._settings.definitions_dir, self._settings.activity_timeout_seconds
        )
        return build_catalogue(loaded.definitions, loaded.event_types)
