"""Errors raised by activity-core outside workflow code.

Exception tree::

    ActivityCoreError
    ├── DefinitionsError        one or more definition files are invalid (lists every error)
    │   └── ConfigError         a settings file (ACTCORE_ALERTS_FILE) is invalid
    ├── DefinitionNotFound      no definition has the requested id or name
    └── DevStackError           the embedded dev stack cannot start (busy port, missing binary)

Inside Temporal, activities raise ``ApplicationError`` with these ``type`` names:
``DefinitionNotFound``, ``DefinitionInvalid``, ``UnknownHandler``, ``HandlerInputInvalid``.
"""

from __future__ import annotations


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


class DevStackError(ActivityCoreError):
    """The dev stack cannot start or be reached."""
