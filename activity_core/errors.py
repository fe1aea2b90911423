"""Errors of activity-core.

Exceptions raised outside workflow code::

    ActivityCoreError
    ├── DefinitionsError        one or more definition files are invalid (lists every error)
    │   └── ConfigError         a settings file (ACTCORE_ALERTS_FILE) is invalid
    ├── DefinitionNotFound      no definition has the requested id or name
    ├── DefinitionConflict      the write clashes: name taken, a file's definition, stale version
    ├── HandlerRegistryError    the worker's handlers differ from the names definitions may use
    ├── DevStackError           the embedded dev stack cannot start (busy port, missing binary)
    └── StoreUnavailable        the registry/ledger database is down or not migrated

Inside Temporal, activities raise ``ApplicationError`` with one of the ``type`` names
below; workflows list the non-retryable ones in their retry policies
(:mod:`activity_core.domain.constants`)::

    DefinitionInvalid     non-retryable  the definitions directory failed validation
    DefinitionNotFound    non-retryable  no definition with that id or name
    UnknownHandler        non-retryable  the definition names a handler this worker lacks
    HandlerInputInvalid   non-retryable  the handler rejected its params
    ResolverRejected      non-retryable  State Hub answered a resolver with a 4xx
    ResolverUnavailable   retryable      a resolver gave up after its in-attempt tries
    NoteConflict          retryable      a note path belongs to another run
    PingFailed            retryable      the watchdog's dead-man ping failed
"""

from __future__ import annotations

DEFINITION_INVALID = "DefinitionInvalid"
DEFINITION_NOT_FOUND = "DefinitionNotFound"
UNKNOWN_HANDLER = "UnknownHandler"
HANDLER_INPUT_INVALID = "HandlerInputInvalid"
RESOLVER_REJECTED = "ResolverRejected"
RESOLVER_UNAVAILABLE = "ResolverUnavailable"
NOTE_CONFLICT = "NoteConflict"
PING_FAILED = "PingFailed"


class ActivityCoreError(Exception):
    """Base of all activity-core errors."""


class DefinitionsError(ActivityCoreError):
    """Definition files failed validation; nothing was loaded."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        noun = "error" if len(errors) == 1 else "errors"
        super().__init__(
            f"{len(errors)} definition {noun}:\n" + "\n".join(f"  {e}" for e in errors)
        )


class ConfigError(DefinitionsError):
    """A settings file is invalid (same message form as definition errors)."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        ActivityCoreError.__init__(
            self, "invalid settings:\n" + "\n".join(f"  {e}" for e in errors)
        )


class DefinitionNotFound(ActivityCoreError):
    """No definition matches the requested id or name."""


class DefinitionConflict(ActivityCoreError):
    """A registry write clashes with what is stored (HTTP 409, or 412 for a stale version).

    Attributes:
        status: The HTTP status the API answers with.
    """

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class HandlerRegistryError(ActivityCoreError):
    """The worker's handler registry and the handler names definitions may use differ."""


class TelemetryError(ActivityCoreError):
    """The OTEL_* environment asks for something that cannot be set up."""


class DevStackError(ActivityCoreError):
    """The dev stack cannot start or be reached."""


class StoreUnavailable(ActivityCoreError):
    """The registry and ledger database cannot be reached or is not migrated."""


class MassRemovalRefused(ActivityCoreError):
    """A sync would delete all, or most, of the schedules or file definitions (an empty or
    half-copied definitions directory): refused unless asked for with ``--prune-all``."""
