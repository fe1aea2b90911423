"""Response bodies of the API (the request bodies are the definition file schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from activity_core.catalog import Entry


class DefinitionOut(BaseModel):
    """A definition as stored: its fields, plus where it comes from and its version."""

    id: str
    """Stable id (uuid5 of the name unless given)."""
    name: str
    """Slug."""
    origin: Literal["file", "api"]
    """``file``: edit the file and sync; ``api``: managed through this API."""
    version: int | None
    """Raised on every change; the ETag is ``"<id>-<version>"`` (None: read from a file
    while the registry could not answer)."""
    source: str | None = None
    """The file of a ``file`` definition."""
    created_at: datetime | None
    updated_at: datetime | None
    created_by: str | None
    updated_by: str | None
    definition: dict[str, Any]
    """The definition, every default spelled out (the file schema)."""
    warnings: list[str] = Field(default_factory=list)
    """Validation warnings of this write (e.g. a DST gap)."""
    degraded: str | None = None
    """Why this answer did not come from the registry (None: it did)."""

    @classmethod
    def of(
        cls, entry: Entry, warnings: list[str] | None = None, degraded: str | None = None
    ) -> DefinitionOut:
        """From a catalogue entry."""
        d, row = entry.definition, entry.stored
        return cls(
            id=str(d.id),
            name=d.name,
            origin=entry.origin,
            version=row.version if row else None,
            source=entry.source,
            created_at=row.created_at if row else None,
            updated_at=row.updated_at if row else None,
            created_by=row.created_by if row else None,
            updated_by=row.updated_by if row else None,
            definition=d.model_dump(mode="json"),
            warnings=warnings or [],
            degraded=degraded,
        )


class TriggerOut(BaseModel):
    """A run started by hand."""

    run_id: str
    """The run's workflow id (``activity_core_run_id``)."""
    web_ui: str | None
    """The run's page in the Temporal Web UI, when ``ACTCORE_UI_URL`` is known."""


class Health(BaseModel):
    """``/health``: is each part reachable?"""

    status: Literal["ok", "degraded"]
    db: bool
    temporal: bool


class RetryOut(BaseModel):
    """How many deliveries were sent ``retry_now``."""

    woken: int
    rate_per_second: float


class RetryAll(BaseModel):
    """Which deliveries to wake, oldest first, at a pace."""

    status: Literal["waiting", "dead"] = "waiting"
    sink: str | None = None
    rate_per_second: float | None = Field(default=None, gt=0, le=1000)
