"""Load and validate ActivityDefinitions from a directory of YAML or JSON files.

Reads files; the schema itself is :mod:`activity_core.domain.definition`.

Validation is all-or-nothing: :func:`load_definitions` either returns every
definition or raises :class:`DefinitionsError` listing every problem, each as
``<file>: <field>: <what is wrong and what is expected>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import ValidationError

from activity_core.domain.budget import budget_error
from activity_core.domain.constants import HANDLER_NAMES
from activity_core.domain.cron import dst_warnings
from activity_core.domain.definition import MISFIRE_ALIASES, ActivityDefinition, CronTrigger
from activity_core.domain.events import EventType, unknown_event_types
from activity_core.domain.validation import error_lines
from activity_core.errors import DefinitionNotFound, DefinitionsError

SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 1_000_000
EVENT_TYPES_DIR = "event-types"
"""Subdirectory of the definitions directory: one file per event type."""


@dataclass
class LoadedDefinitions:
    """Every valid definition, with the file it came from, and validation warnings."""

    definitions: list[ActivityDefinition] = field(default_factory=list)
    sources: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    event_types: list[EventType] = field(default_factory=list)
    """The files of ``event-types/``, by name."""

    def by_name(self, name: str) -> ActivityDefinition:
        """The definition called ``name``.

        Raises:
            DefinitionNotFound: No definition has that name.
        """
        for d in self.definitions:
            if d.name == name:
                return d
        known = ", ".join(sorted(d.name for d in self.definitions)) or "none"
        raise DefinitionNotFound(f"no definition named {name!r} (known: {known})")

    def find(self, activity_id: str | None, activity_name: str | None) -> ActivityDefinition:
        """The definition with this id, or else this name.

        Raises:
            DefinitionNotFound: Nothing matches.
        """
        if activity_id:
            for d in self.definitions:
                if str(d.id) == activity_id:
                    return d
            if not activity_name:
                raise DefinitionNotFound(f"no definition with id {activity_id}")
        if activity_name:
            return self.by_name(activity_name)
        raise DefinitionNotFound("neither an activity id nor a name was given")


def read_document(path: Path) -> Any:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"file is {size} bytes; a definition file may be at most {MAX_FILE_BYTES}")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError("file is empty; it should hold one definition (a mapping)")
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValueError(f"invalid YAML{where}: {problem}") from None


def parse_definition(
    path: Path, label: str | None = None, budget_seconds: float = 900.0
) -> tuple[ActivityDefinition, list[str]]:
    """Parse one file.

    Args:
        path: The file.
        label: How to name the file in messages (default: the path as given).
        budget_seconds: ACTIVITY_TIMEOUT_SECONDS: resolvers and handler must fit in it.

    Returns:
        The definition and any warnings.

    Raises:
        DefinitionsError: The file is invalid (every problem is listed).
    """
    name = label or str(path)
    try:
        raw = read_document(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DefinitionsError([f"{name}: {exc}"]) from None
    return validate_definition(raw, name, budget_seconds)


def validate_definition(
    raw: Any, name: str, budget_seconds: float = 900.0
) -> tuple[ActivityDefinition, list[str]]:
    """Validate one definition document, from a file or an API request body alike.

    Args:
        raw: The parsed document.
        name: How to name its source in messages (a file path, or ``request body``).
        budget_seconds: ACTIVITY_TIMEOUT_SECONDS: resolvers and handler must fit in it.

    Returns:
        The definition and any warnings.

    Raises:
        DefinitionsError: The document is invalid (every problem is listed as
            ``<name>: <field>: <what is wrong and the fix>``).
    """
    if not isinstance(raw, dict):
        raise DefinitionsError(
            [
                f"{name}: expected a mapping of fields (name, handler, trigger_config, ...), "
                f"got {type(raw).__name__}"
            ]
        )
    warnings: list[str] = []
    policy = (
        (raw.get("trigger_config") or {}).get("misfire_policy")
        if isinstance(raw.get("trigger_config"), dict)
        else None
    )
    if isinstance(policy, str) and policy in MISFIRE_ALIASES:
        warnings.append(
            f"{name}: trigger_config.misfire_policy: {policy!r} is deprecated; "
            f"write {MISFIRE_ALIASES[policy]!r}"
        )
    try:
        definition = ActivityDefinition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionsError(error_lines(exc, name)) from None
    trig = definition.trigger_config
    if isinstance(trig, CronTrigger):
        for warning in dst_warnings(trig.cron_expression, trig.timezone, datetime.now(UTC)):
            warnings.append(f"{name}: trigger_config.cron_expression: {warning}")
    if definition.handler not in HANDLER_NAMES:
        raise DefinitionsError(
            [
                f"{name}: handler: unknown handler {definition.handler!r} "
                f"(known: {', '.join(sorted(HANDLER_NAMES))})"
            ]
        )
    over = budget_error(definition, budget_seconds)
    if over:
        raise DefinitionsError([f"{name}: resolvers: {over}"])
    return definition, warnings


def load_definitions(directory: Path, budget_seconds: float = 900.0) -> LoadedDefinitions:
    """Load every definition file in ``directory`` (not recursive).

    Raises:
        DefinitionsError: Any file is invalid, or names/ids collide; nothing is returned.
    """
    if not directory.is_dir():
        raise DefinitionsError([f"{directory}: definitions directory does not exist"])
    loaded = LoadedDefinitions()
    errors: list[str] = []
    files = sorted(
        p for p in directory.iterdir() if p.suffix in SUFFIXES and not p.name.startswith(".")
    )
    for path in files:
        try:
            definition, warnings = parse_definition(path, budget_seconds=budget_seconds)
        except DefinitionsError as exc:
            errors.extend(exc.errors)
            continue
        loaded.warnings.extend(warnings)
        for other in loaded.definitions:
            where = loaded.sources[other.name]
            if other.name == definition.name:
                errors.append(f"{path}: name: {definition.name!r} is already defined in {where}")
            elif other.id == definition.id:
                errors.append(f"{path}: id: {definition.id} is already used by {where}")
        loaded.definitions.append(definition)
        loaded.sources.setdefault(definition.name, path)
    try:
        loaded.event_types = load_event_types(directory / EVENT_TYPES_DIR)
    except DefinitionsError as exc:
        errors.extend(exc.errors)
    else:
        for d, problem in unknown_event_types(
            loaded.definitions, (t.name for t in loaded.event_types)
        ):
            errors.append(f"{loaded.sources[d.name]}: trigger_config.event_type: {problem}")
    if errors:
        raise DefinitionsError(errors)
    return loaded


def parse_event_type(path: Path, label: str | None = None) -> EventType:
    """Parse one event type file (``name``, ``description``, optional JSON ``schema``).

    Raises:
        DefinitionsError: The file is invalid, or its schema is not a valid JSON Schema.
    """
    name = label or str(path)
    try:
        raw = read_document(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DefinitionsError([f"{name}: {exc}"]) from None
    if not isinstance(raw, dict):
        raise DefinitionsError(
            [f"{name}: expected a mapping (name, description, schema), got {type(raw).__name__}"]
        )
    try:
        event_type = EventType.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionsError(error_lines(exc, name)) from None
    if event_type.payload_schema is not None:
        validator = jsonschema.validators.validator_for(event_type.payload_schema)
        try:
            validator.check_schema(event_type.payload_schema)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.path) or "(top)"
            raise DefinitionsError(
                [f"{name}: schema: not a valid JSON Schema at {where}: {exc.message}"]
            ) from None
    return event_type


def load_event_types(directory: Path) -> list[EventType]:
    """Every event type file in ``directory`` (none when it does not exist).

    Raises:
        DefinitionsError: Any file is invalid, or two files name the same type.
    """
    if not directory.is_dir():
        return []
    errors: list[str] = []
    found: dict[str, Path] = {}
    out: list[EventType] = []
    for path in sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES):
        if path.name.startswith("."):
            continue
        try:
            event_type = parse_event_type(path)
        except DefinitionsError as exc:
            errors.extend(exc.errors)
            continue
        if event_type.name in found:
            errors.append(
                f"{path}: name: {event_type.name!r} is already defined in {found[event_type.name]}"
            )
            continue
        found[event_type.name] = path
        out.append(event_type)
    if errors:
        raise DefinitionsError(errors)
    return sorted(out, key=lambda t: t.name)
