"""The workflow sandbox, without the per-payload round trips into it.

Temporal's Python SDK (1.35) asks each workflow instance, for every payload sequence of
every activation and completion (up to six visits each way), which serialization
context applies. Through the sandbox every such question compiles a small code string,
enters and leaves the sandbox's import machinery and runs one dictionary lookup inside:
at the top of the hour that was about a quarter of the worker's busy time
(``bench/top_of_hour.py``, py-spy), more than running the workflows themselves.

:class:`FastContextSandboxRunner` is the SDK's ``SandboxedWorkflowRunner`` with two
changes to the instances it creates, neither touching what workflow code sees:

- the code strings the sandbox executes are compiled once per process, not per call;
- the two context questions (serialization, external storage) are answered by the
  sandboxed instance directly: they read the instance's own pending-command tables and
  import nothing, so the sandbox's import guard has nothing to guard there.

Workflow activations still run inside the sandbox exactly as before. If a later SDK
changes the private instance class this relies on, :func:`workflow_runner` falls back to
the SDK's own runner and says so once in the log.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import temporalio.workflow
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

log = logging.getLogger(__name__)

try:  # The SDK's private instance class: present in temporalio 1.35.
    from temporalio.worker.workflow_sandbox._runner import _Instance
except ImportError:  # pragma: no cover - a future SDK
    _Instance = None  # type: ignore[assignment,misc]

_IN_SANDBOX = "__temporal_in_sandbox"
_COMPILED: dict[str, Any] = {}
_COMPILED_MAX = 512
"""Distinct code strings kept compiled: a few per workflow class."""


def _compiled(code: str) -> Any:
    compiled = _COMPILED.get(code)
    if compiled is None:
        compiled = compile(code, "<temporal-sandbox>", "exec")
        if len(_COMPILED) < _COMPILED_MAX:
            _COMPILED[code] = compiled
    return compiled


def _supported() -> bool:
    """Whether the SDK's instance class still has the shape this module relies on."""
    if _Instance is None:
        return False
    needed = ("_run_code", "get_serialization_context", "get_external_store_context")
    return all(callable(getattr(_Instance, name, None)) for name in needed)


if _Instance is not None:

    class _FastContextInstance(_Instance):
        """A sandboxed workflow instance that compiles its code strings once and answers
        context questions without entering the sandbox."""

        def _run_code(self, code: str, **extra_globals: Any) -> None:
            # The SDK's body, with the string compiled once: the same globals, the same
            # in-sandbox flag, the same thread bookkeeping.
            scope: dict[str, Any] = self.globals_and_locals
            for key, value in extra_globals.items():
                scope[key] = value
            try:
                temporalio.workflow.unsafe._set_in_sandbox(True)
                self._current_thread_id = threading.get_ident()
                exec(_compiled(code), scope, scope)
            finally:
                temporalio.workflow.unsafe._set_in_sandbox(False)
                self._current_thread_id = None
                for key in extra_globals:
                    scope.pop(key, None)

        def get_serialization_context(self, command_info: Any) -> Any:
            in_sandbox: Any = self.globals_and_locals[_IN_SANDBOX]
            return in_sandbox.get_serialization_context(command_info)

        def get_external_store_context(self, command_info: Any) -> Any:
            in_sandbox: Any = self.globals_and_locals[_IN_SANDBOX]
            return in_sandbox.get_external_store_context(command_info)


class FastContextSandboxRunner(SandboxedWorkflowRunner):
    """The SDK's sandboxed runner whose instances skip the per-payload sandbox entries
    (see the module docstring)."""

    def create_instance(self, det: Any) -> Any:
        """Create a sandboxed instance (same restrictions, same inner runner)."""
        return _FastContextInstance(det, self.runner_class, self.restrictions)


_warned = False


def workflow_runner(*, fast: bool = True) -> WorkflowRunner:
    """The runner for this process's workflow workers: the fast one, or the SDK's own
    when ``fast`` is off (``ACTCORE_FAST_SANDBOX=false``) or its private instance class
    has changed shape."""
    global _warned
    if not fast:
        return SandboxedWorkflowRunner()
    if _supported():
        return FastContextSandboxRunner()
    if not _warned:
        _warned = True
        log.warning(
            "workflow sandbox: this temporalio's instance class is not the one the fast "
            "context runner knows; using the SDK's own runner (slower under load)"
        )
    return SandboxedWorkflowRunner()
