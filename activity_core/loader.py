"""Load and validate ActivityDefinitions from a directory of YAML or JSON files.

Reads files; the schema itself is :mod:`activity_core.domain.definition`.

Validation is all-or-nothing: :func:`load_definitions` either returns every
definition or raises :class:`DefinitionsError` listing every problem, each as
``<file>: <field>: <what is wrong and what is expected>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import ValidationError

from activity_core.documents import LOOKALIKE, read_document
from activity_core.domain.budget import budget_error
from activity_core.domain.constants import HANDLER_NAMES
from activity_core.domain.cron import dst_warnings
from activity_core.domain.definition import MISFIRE_ALIASES, ActivityDefinition, CronTrigger
from activity_core.domain.egress import EgressPolicy, url_refusal
from activity_core.domain.events import EventType, unknown_event_types
from activity_core.domain.handler_params import HANDLER_PARAMS, HANDLER_RESOLVERS
from activity_core.domain.sinks import IssueSink, borrowed_variable, secret_of
from activity_core.domain.validation import error_lines
from activity_core.errors import DefinitionNotFound, DefinitionsError
from activity_core.settings import Settings, get_settings

SUFFIXES = (".yaml", ".yml", ".json")
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
    errors: list[str] = field(default_factory=list)
    """Every problem found (:func:`read_definitions` keeps the valid files regardless)."""
    invalid: dict[Path, list[str]] = field(default_factory=dict)
    """The files left out, with their problems."""

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


def parse_definition(
    path: Path,
    label: str | None = None,
    budget_seconds: float = 900.0,
    egress: EgressPolicy | None = None,
) -> tuple[ActivityDefinition, list[str]]:
    """Parse one file.

    Args:
        path: The file.
        label: How to name the file in messages (default: the path as given).
        budget_seconds: ACTIVITY_TIMEOUT_SECONDS: resolvers and handler must fit in it.
        egress: Which internal addresses URLs may name (default: from the environment).

    Returns:
        The definition and any warnings.

    Raises:
        DefinitionsError: The file is invalid (every problem is listed).
    """
    name = label or str(path)
    try:
        raw = read_document(path)
    except UnicodeDecodeError:
        raise DefinitionsError([f"{name}: file is not UTF-8 text"]) from None
    except OSError as exc:
        raise DefinitionsError([f"{name}: cannot read: {exc.strerror}"]) from None
    except ValueError as exc:
        raise DefinitionsError([f"{name}: {exc}"]) from None
    return validate_definition(raw, name, budget_seconds, egress)


def validate_definition(
    raw: Any, name: str, budget_seconds: float = 900.0, egress: EgressPolicy | None = None
) -> tuple[ActivityDefinition, list[str]]:
    """Validate one definition document, from a file or an API request body alike.

    Args:
        raw: The parsed document.
        name: How to name its source in messages (a file path, or ``request body``).
        budget_seconds: ACTIVITY_TIMEOUT_SECONDS: resolvers and handler must fit in it.
        egress: Which internal addresses URLs may name (default: from the environment).

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
    model = HANDLER_PARAMS.get(definition.handler)
    if model is not None:
        try:
            model.model_validate(definition.params)
        except ValidationError as exc:
            raise DefinitionsError(
                [
                    f"{name}: params.{'.'.join(str(p) for p in e['loc']) or '(all)'}: "
                    f"{_params_message(e)} ({definition.handler} takes "
                    f"{', '.join(model.model_fields)})"
                    for e in exc.errors(include_url=False)
                ]
            ) from None
    given = {r.name.value for r in definition.resolvers}
    needed = [r for r in HANDLER_RESOLVERS.get(definition.handler, ()) if r not in given]
    if needed:
        raise DefinitionsError(
            [
                f"{name}: resolvers: {definition.handler} needs the {r} resolver; add "
                f"`- name: {r}` under resolvers"
                for r in needed
            ]
        )
    over = budget_error(definition, budget_seconds)
    if over:
        raise DefinitionsError([f"{name}: resolvers: {over}"])
    refused = egress_problems(definition, egress or default_egress())
    refused += [
        f"sinks[{i}].token_env: {why}"
        for i, sink in enumerate(definition.sinks)
        if (why := borrowed_variable(sink))
    ]
    if refused:
        raise DefinitionsError([f"{name}: {problem}" for problem in refused])
    return definition, warnings


def default_egress() -> EgressPolicy:
    """The egress policy of this process's environment (``ACTCORE_EGRESS_ALLOW``)."""
    return get_settings().egress_policy()


def egress_problems(definition: ActivityDefinition, egress: EgressPolicy) -> list[str]:
    """``<field>: <why and the fix>`` for each URL whose host is a literal address the
    policy refuses (names are judged when the worker connects)."""
    urls = [(f"sinks[{i}].url", getattr(s, "url", None)) for i, s in enumerate(definition.sinks)]
    urls += [(f"resolvers[{i}].url", r.url) for i, r in enumerate(definition.resolvers)]
    out = []
    for where, url in urls:
        why = url_refusal(url, egress) if url else None
        if why:
            out.append(f"{where}: {why}")
    return out


def definition_files(directory: Path, root: Path | None = None) -> tuple[list[Path], list[str]]:
    """The files of ``directory`` that are read, and an error for each that looks like one
    but would be skipped (``x.YAML``, ``x.yaml.bak``) or points out of ``root`` (default:
    the directory itself; for ``event-types/`` the definitions directory). Symbolic links
    are followed without ever raising, so a link loop is an error line, not a crash.

    Hidden files (``.x.yaml``, editor swap files) are ignored.
    """
    base = Path(os.path.realpath(root or directory))
    real = Path(os.path.realpath(directory))
    if not real.is_relative_to(base):
        return [], [
            f"{directory}: is a symbolic link out of the definitions directory (to {real}); "
            "copy the files in instead"
        ]
    files: list[Path] = []
    errors: list[str] = []
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        return [], [f"{directory}: cannot list the directory: {exc.strerror}"]
    for path in entries:
        name = path.name
        if name.startswith("."):
            continue
        if path.suffix not in SUFFIXES:
            if LOOKALIKE.search(name):
                errors.append(
                    f"{path}: looks like a definition file but is not read (only names ending "
                    f"in {', '.join(SUFFIXES)} are); rename it, or move it out of the directory"
                )
            continue
        if path.is_symlink():
            target = Path(os.path.realpath(path))
            if not target.is_relative_to(base):
                errors.append(
                    f"{path}: is a symbolic link out of the definitions directory (to "
                    f"{target}); copy the file in instead"
                )
                continue
        files.append(path)
    return files, errors


def _params_message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown parameter (check its spelling)"
    return f"{err['msg']} (got {err.get('input')!r:.60})"


def load_definitions(
    directory: Path, budget_seconds: float = 900.0, egress: EgressPolicy | None = None
) -> LoadedDefinitions:
    """Load every definition file in ``directory`` (not recursive).

    Raises:
        DefinitionsError: Any file is invalid, or names/ids collide; nothing is returned.
    """
    loaded = read_definitions(directory, budget_seconds, egress)
    if loaded.errors:
        raise DefinitionsError(loaded.errors)
    return loaded


def read_definitions(
    directory: Path, budget_seconds: float = 900.0, egress: EgressPolicy | None = None
) -> LoadedDefinitions:
    """Every definition of ``directory`` that is valid, with an error line for each file
    left out (``errors``, ``invalid``): what the catalogue reads when the registry cannot
    answer, so one broken file does not hide its neighbours."""
    loaded = LoadedDefinitions()
    if not directory.is_dir():
        loaded.errors.append(f"{directory}: definitions directory does not exist")
        return loaded
    files, errors = definition_files(directory)
    loaded.errors.extend(errors)
    egress = egress or default_egress()
    for path in files:
        try:
            definition, warnings = parse_definition(
                path, budget_seconds=budget_seconds, egress=egress
            )
        except DefinitionsError as exc:
            loaded.errors.extend(exc.errors)
            loaded.invalid[path] = exc.errors
            continue
        clash = None
        for other in loaded.definitions:
            where = loaded.sources[other.name]
            if other.name == definition.name:
                clash = f"{path}: name: {definition.name!r} is already defined in {where}"
            elif other.id == definition.id:
                clash = f"{path}: id: {definition.id} is already used by {where}"
        if clash is not None:
            loaded.errors.append(clash)
            loaded.invalid[path] = [clash]
            continue
        loaded.warnings.extend(warnings)
        loaded.definitions.append(definition)
        loaded.sources[definition.name] = path
    try:
        loaded.event_types = load_event_types(directory / EVENT_TYPES_DIR, directory)
    except DefinitionsError as exc:
        loaded.errors.extend(exc.errors)
    else:
        known = (t.name for t in loaded.event_types)
        for d, problem in unknown_event_types(loaded.definitions, known):
            loaded.errors.append(f"{loaded.sources[d.name]}: trigger_config.event_type: {problem}")
    return loaded


def unset_token_envs(
    definitions: list[ActivityDefinition], settings: Settings | None = None
) -> list[str]:
    """``<definition>: sinks.<name>.secret: ...`` for each sink whose secret this process
    could not send (not set, not bound to the sink's origin): its deliveries would fail as
    permanent errors, never be sent without Authorization."""
    settings = settings or get_settings()
    out = []
    for d in definitions:
        for sink in d.remote_sinks:
            name = secret_of(sink)
            if name is None:
                continue
            url = getattr(sink, "url", None) or (
                settings.issue_core_url if isinstance(sink, IssueSink) else None
            )
            _, problem = settings.sink_secret(name, url or "")
            if problem:
                out.append(f"{d.name}: sinks.{sink.name}.secret: {problem}")
    return out


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
        remote = remote_refs(event_type.payload_schema)
        if remote:
            raise DefinitionsError(
                [
                    f"{name}: schema: {key} at {where} is {ref!r}, outside this schema: "
                    "remote references are never fetched; put what it names under $defs "
                    "and refer to it as #/$defs/<name>"
                    for where, key, ref in remote
                ]
            )
    return event_type


def remote_refs(schema: Any, at: str = "(top)") -> list[tuple[str, str, str]]:
    """``(where, keyword, value)`` for each ``$ref``-like keyword that does not point
    inside the schema itself (``#...``)."""
    out: list[tuple[str, str, str]] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            here = key if at == "(top)" else f"{at}/{key}"
            if key in ("$ref", "$dynamicRef", "$recursiveRef") and isinstance(value, str):
                if not value.startswith("#"):
                    out.append((at, key, value))
            else:
                out.extend(remote_refs(value, here))
    elif isinstance(schema, list):
        for i, item in enumerate(schema):
            out.extend(remote_refs(item, f"{at}/{i}"))
    return out


def load_event_types(directory: Path, root: Path | None = None) -> list[EventType]:
    """Every event type file in ``directory`` (none when it does not exist); ``root``: the
    definitions directory, which neither the folder nor its files may point out of.

    Raises:
        DefinitionsError: Any file is invalid, or two files name the same type.
    """
    if not directory.is_dir():
        return []
    files, errors = definition_files(directory, root)
    found: dict[str, Path] = {}
    out: list[EventType] = []
    for path in files:
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
