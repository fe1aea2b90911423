"""The definitions registry: what workers, schedules and the API read.

Definition files stay the GitOps path: :meth:`Registry.import_files` makes the
``origin=file`` rows match a validated directory in one transaction (all or nothing).
Definitions created through the API are ``origin=api``; a file may not take over an API
definition's name, and the API may not edit a file's definition.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select

from activity_core.domain import ActivityDefinition
from activity_core.errors import DefinitionNotFound, DefinitionsError
from activity_core.store.engine import Store
from activity_core.store.models import DefinitionRow

Origin = Literal["file", "api"]


def canonical_body(definition: ActivityDefinition) -> dict[str, object]:
    """The definition as JSON, every default spelled out (what is stored and compared)."""
    body: dict[str, object] = definition.model_dump(mode="json")
    return body


def digest(body: dict[str, object]) -> str:
    """sha256 of the canonical JSON of a body."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class StoredDefinition:
    """A registry row with its definition parsed."""

    definition: ActivityDefinition
    origin: Origin
    source: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: str
    updated_by: str

    @property
    def etag(self) -> str:
        """Strong ETag of this version (``"<id>-<version>"``)."""
        return f'"{self.definition.id}-{self.version}"'


def _stored(row: DefinitionRow) -> StoredDefinition:
    return StoredDefinition(
        definition=ActivityDefinition.model_validate(row.body),
        origin="api" if row.origin == "api" else "file",
        source=row.source,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
        updated_by=row.updated_by,
    )


@dataclass
class ImportResult:
    """What an import of the definition files changed in the registry."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class Registry:
    """Reads and writes of ``activity_definitions``."""

    def __init__(self, store: Store) -> None:
        """Use ``store``'s engine."""
        self._store = store

    async def import_files(
        self,
        definitions: Sequence[ActivityDefinition],
        sources: dict[str, Path],
        actor: str,
        *,
        dry_run: bool = False,
    ) -> ImportResult:
        """Make the ``origin=file`` rows match ``definitions`` (already validated), in one
        transaction: new ones are created, changed ones updated (version + 1), file rows
        without a file deleted. Nothing is written when any name belongs to an API
        definition.

        Raises:
            DefinitionsError: A file names a definition created through the API.
        """
        now = datetime.now(UTC)
        result = ImportResult()
        async with self._store.sessions.begin() as session:
            rows = {r.name: r for r in (await session.scalars(select(DefinitionRow))).all()}
            by_id = {r.id: r for r in rows.values()}
            clashes = [
                f"{sources.get(d.name, d.name)}: name: {d.name!r} was created through the API; "
                "rename the file's definition or delete the API one first"
                for d in definitions
                if (row := rows.get(d.name) or by_id.get(d.id)) is not None and row.origin == "api"
            ]
            if clashes:
                raise DefinitionsError(clashes)
            wanted = {d.name for d in definitions}
            for d in definitions:
                body = canonical_body(d)
                sig = digest(body)
                source = str(sources.get(d.name, "")) or None
                row = rows.get(d.name) or by_id.get(d.id)
                if row is None:
                    result.created.append(d.name)
                    session.add(
                        DefinitionRow(
                            id=d.id,
                            name=d.name,
                            origin="file",
                            source=source,
                            body=body,
                            digest=sig,
                            enabled=d.enabled,
                            version=1,
                            created_at=now,
                            updated_at=now,
                            created_by=actor,
                            updated_by=actor,
                        )
                    )
                elif row.digest != sig or row.name != d.name or row.source != source:
                    result.updated.append(d.name)
                    row.name, row.source, row.body, row.digest = d.name, source, body, sig
                    row.enabled, row.version = d.enabled, row.version + 1
                    row.updated_at, row.updated_by = now, actor
                else:
                    result.unchanged.append(d.name)
            for name, row in rows.items():
                if (
                    row.origin == "file"
                    and name not in wanted
                    and row.id not in {d.id for d in definitions}
                ):
                    result.deleted.append(name)
                    await session.delete(row)
            if dry_run:
                await session.rollback()
        return result

    async def all(self) -> list[StoredDefinition]:
        """Every definition, by name."""
        async with self._store.sessions() as session:
            rows = (await session.scalars(select(DefinitionRow).order_by(DefinitionRow.name))).all()
        return [_stored(r) for r in rows]

    async def get(self, key: str) -> StoredDefinition | None:
        """A definition by id or by name."""
        async with self._store.sessions() as session:
            row = None
            with contextlib.suppress(ValueError):
                row = await session.get(DefinitionRow, uuid.UUID(key))
            if row is None:
                row = await session.scalar(select(DefinitionRow).where(DefinitionRow.name == key))
        return _stored(row) if row is not None else None

    async def find(self, activity_id: str | None, activity_name: str | None) -> ActivityDefinition:
        """The definition with this id, else this name.

        Raises:
            DefinitionNotFound: Neither is in the registry.
        """
        for key in (activity_id, activity_name):
            if key:
                found = await self.get(key)
                if found is not None:
                    return found.definition
        raise DefinitionNotFound(
            f"no definition with id {activity_id!r} or name {activity_name!r} in the registry"
        )
