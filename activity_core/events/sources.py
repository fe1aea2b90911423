"""What the router matches against: the catalogue's definitions and event types,
reloaded at most every
``ACTCORE_ROUTER_REFRESH_SECONDS``, with a compiled payload validator per event type."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from activity_core.catalog import Catalog
from activity_core.domain import ActivityDefinition, EventTrigger
from activity_core.domain.events import EventType
from activity_core.errors import StoreUnavailable
from activity_core.settings import Settings

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
    """The catalogue's event definitions and types (:mod:`activity_core.catalog`), cached
    for ``ACTCORE_ROUTER_REFRESH_SECONDS``.

    A registry that stops answering keeps the registry as last read (the catalogue says so
    once); before the first registry read the router waits rather than route by the files
    alone and dead-letter events of API definitions as unknown.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._clock = clock
        self._cat: Catalogue | None = None
        self._at = 0.0

    async def catalogue(self) -> Catalogue:
        """The current catalogue.

        Raises:
            StoreUnavailable: A store is configured and was never read.
        """
        now = self._clock()
        if self._cat is not None and now - self._at < self._settings.router_refresh_seconds:
            return self._cat
        view = await self._catalog.view()
        if view.source == "directory" and self._catalog.store is not None:
            raise StoreUnavailable(f"{view.degraded}; the router waits for the registry")
        self._cat = build_catalogue(view.definitions, view.event_types)
        self._at = now
        return self._cat
