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
from typing import Any, Literal, Protocol, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activity_core.domain import ActivityDefinition
from activity_core.domain.events import EventType
from activity_core.errors import DefinitionConflict, DefinitionNotFound, DefinitionsError
from activity_core.store.engine import Store
from activity_core.store.models import DefinitionRow, EventTypeRow

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


_PARSED: dict[str, ActivityDefinition] = {}
"""Parsed definitions by body digest: a stored body was validated when it was written, and
parsing a thousand cron expressions again on every read costs a quarter of a second."""
PARSED_CACHE_MAX = 10_000


class _RowLike(Protocol):
    """A registry row: the ORM object, or a plain result row of the same columns."""

    digest: str
    body: dict[str, Any]
    origin: str
    source: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: str
    updated_by: str


def _parse(row: _RowLike) -> ActivityDefinition:
    found = _PARSED.get(row.digest)
    if found is None:
        if len(_PARSED) >= PARSED_CACHE_MAX:
            _PARSED.clear()
        found = _PARSED[row.digest] = ActivityDefinition.model_validate(row.body)
    return found


def _stored(row: _RowLike) -> StoredDefinition:
    return StoredDefinition(
        definition=_parse(row),
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

    @property
    def store(self) -> Store:
        """The store the registry lives in (the ledger and the journal are there too)."""
        return self._store

    async def import_files(
        self,
        definitions: Sequence[ActivityDefinition],
        sources: dict[str, Path],
        actor: str,
        *,
        dry_run: bool = False,
        event_types: Sequence[EventType] | None = None,
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
                path = sources.get(d.name)
                source = str(path.absolute()) if path is not None else None
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
                elif row.digest != sig or row.name != d.name:
                    result.updated.append(d.name)
                    row.name, row.source, row.body, row.digest = d.name, source, body, sig
                    row.enabled, row.version = d.enabled, row.version + 1
                    row.updated_at, row.updated_by = now, actor
                else:
                    # The same definition read through another path (a relative
                    # ACTCORE_DEFINITIONS_DIR, a moved checkout): same version and ETag.
                    if row.source != source:
                        row.source = source
                    result.unchanged.append(d.name)
            for name, row in rows.items():
                if (
                    row.origin == "file"
                    and name not in wanted
                    and row.id not in {d.id for d in definitions}
                ):
                    result.deleted.append(name)
                    await session.delete(row)
            if event_types is not None:
                await _replace_event_types(session, event_types, actor, now)
            if dry_run:
                await session.rollback()
        return result

    async def create(self, definition: ActivityDefinition, actor: str) -> StoredDefinition:
        """Store an API definition (``origin=api``, version 1).

        Raises:
            DefinitionConflict: The name or id is taken.
        """
        now = datetime.now(UTC)
        async with self._store.sessions.begin() as session:
            taken = await session.scalar(
                select(DefinitionRow).where(
                    (DefinitionRow.name == definition.name) | (DefinitionRow.id == definition.id)
                )
            )
            if taken is not None:
                raise DefinitionConflict(
                    f"a definition named {taken.name!r} (id {taken.id}) exists already; "
                    "PUT or PATCH it, or choose another name"
                )
            body = canonical_body(definition)
            row = DefinitionRow(
                id=definition.id,
                name=definition.name,
                origin="api",
                source=None,
                body=body,
                digest=digest(body),
                enabled=definition.enabled,
                version=1,
                created_at=now,
                updated_at=now,
                created_by=actor,
                updated_by=actor,
            )
            session.add(row)
        return _stored(row)

    async def replace(
        self,
        current: StoredDefinition,
        definition: ActivityDefinition,
        actor: str,
        if_version: int | None = None,
    ) -> StoredDefinition:
        """Replace an API definition with a new version (id and origin stay).

        Raises:
            DefinitionConflict: It comes from a file (409), was changed since ``if_version``
                (412), or the new name is taken (409).
        """
        now = datetime.now(UTC)
        async with self._store.sessions.begin() as session:
            row = await self._writable(session, current, if_version)
            if definition.name != row.name:
                other = await session.scalar(
                    select(DefinitionRow).where(DefinitionRow.name == definition.name)
                )
                if other is not None:
                    raise DefinitionConflict(f"the name {definition.name!r} is taken")
            body = canonical_body(definition.model_copy(update={"id": row.id}))
            row.name, row.body, row.digest = definition.name, body, digest(body)
            row.enabled, row.version = definition.enabled, row.version + 1
            row.updated_at, row.updated_by = now, actor
        return _stored(row)

    async def delete(
        self, current: StoredDefinition, actor: str, if_version: int | None = None
    ) -> None:
        """Delete an API definition.

        Raises:
            DefinitionConflict: It comes from a file (409) or changed since ``if_version`` (412).
        """
        async with self._store.sessions.begin() as session:
            row = await self._writable(session, current, if_version)
            await session.delete(row)

    async def _writable(
        self, session: AsyncSession, current: StoredDefinition, if_version: int | None
    ) -> DefinitionRow:
        row = await session.get(DefinitionRow, current.definition.id, with_for_update=True)
        if row is None:
            raise DefinitionNotFound(f"definition {current.definition.name!r} was deleted")
        if row.origin != "api":
            raise DefinitionConflict(
                f"{row.name!r} comes from the file {row.source}: edit the file, then "
                "`actcore sync` (the API changes only definitions created through it)"
            )
        if if_version is not None and row.version != if_version:
            raise DefinitionConflict(
                f"{row.name!r} is at version {row.version}, not {if_version}: "
                "GET it again and retry with its ETag",
                status=412,
            )
        return row

    async def event_types(self) -> list[EventType]:
        """Every registered event type, by name."""
        async with self._store.sessions() as session:
            rows = (await session.scalars(select(EventTypeRow).order_by(EventTypeRow.name))).all()
        return [
            EventType.model_validate(
                {"name": r.name, "description": r.description, "schema": r.payload_schema}
            )
            for r in rows
        ]

    async def all(self) -> list[StoredDefinition]:
        """Every definition, by name."""
        # Plain rows, not ORM objects: a thousand definitions load in a fraction of the time.
        stmt = select(*DefinitionRow.__table__.c).order_by(DefinitionRow.name)
        async with self._store.sessions() as session:
            rows = (await session.execute(stmt)).all()
        return [_stored(cast(_RowLike, r)) for r in rows]

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


async def _replace_event_types(
    session: AsyncSession, event_types: Sequence[EventType], actor: str, now: datetime
) -> None:
    """Make ``event_types`` hold exactly these (rows unchanged are left alone)."""
    rows = {r.name: r for r in (await session.scalars(select(EventTypeRow))).all()}
    for t in event_types:
        row = rows.pop(t.name, None)
        if row is None:
            session.add(
                EventTypeRow(
                    name=t.name,
                    description=t.description,
                    payload_schema=t.payload_schema,
                    updated_at=now,
                    updated_by=actor,
                )
            )
        elif row.description != t.description or row.payload_schema != t.payload_schema:
            row.description, row.payload_schema = t.description, t.payload_schema
            row.updated_at, row.updated_by = now, actor
    for row in rows.values():
        await session.delete(row)
