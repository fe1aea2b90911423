"""Response bodies of the API (the request bodies are the definition file schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from activity_core.store import StoredDefinition


class DefinitionOut(BaseModel):
    """A definition as stored: its fields, plus where it comes from and its version."""

    id: str
    """Stable id (uuid5 of the name unless given)."""
    name: str
    """Slug."""
    origin: Literal["file", "api"]
    """``file``: edit the file and sync; ``api``: managed through this API."""
    version: int
    """Raised on every change; the ETag is ``"<id>-<version>"``."""
    source: str | None = None
    """The file of a ``file`` definition."""
    created_at: datetime
    updated_at: datetime
    created_by: str
    updated_by: str
    definition: dict[str, Any]
    """The definition, every default spelled out (the file schema)."""
    warnings: list[str] = Field(default_factory=list)
    """Validation warnings of this write (e.g. a DST gap)."""

    @classmethod
    def of(cls, stored: StoredDefinition, warnings: list[str] | None = None) -> DefinitionOut:
        """From a registry row."""
        d = stored.definition
        return cls(
            id=str(d.id),
            name=d.name,
            origin=stored.origin,
            version=stored.version,
            source=stored.source,
            created_at=stored.created_at,
            updated_at=stored.updated_at,
            created_by=stored.created_by,
            updated_by=stored.updated_by,
            definition=d.model_dump(mode="json"),
            warnings=warnings or [],
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
