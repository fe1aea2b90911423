"""The floors hold: no module imports a floor above its own, and the names that cross
floors as data (workflow types, handler names) match what is registered."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from activities.handlers import HANDLERS
from activity_core.domain import constants
from activity_core.errors import HandlerRegistryError
from activity_core.worker import check_handler_registry
from workflows.registry import ALL_WORKFLOWS

REPO = Path(__file__).resolve().parents[2]

#: Floor of each package or module (longest prefix wins); see docs/architecture.md.
FLOORS = {
    "activity_core.domain": 1,
    "activity_core.errors": 1,
    "activity_core.settings": 1,
    "activity_core.temporal_client": 1,
    "activity_core.codec": 1,
    "activity_core.sandbox": 1,
    "activity_core.health": 1,
    "activity_core.logs": 1,
    "activity_core.telemetry": 1,
    "activity_core.tracing": 1,
    "activity_core.documents": 1,
    "activity_core.loader": 2,
    "activity_core.catalog": 2,
    "activity_core.alerts": 2,
    "activity_core.store": 2,
    "activities": 3,
    "workflows": 3,
    "activity_core.services": 4,
    "activity_core.events": 5,
    "activity_core.worker": 5,
    "activity_core.sink_workers": 5,
    "activity_core.dev": 5,
    "activity_core.api": 5,
    "activity_core.cli": 6,
}


def floor_of(module: str) -> int | None:
    best = max(
        (k for k in FLOORS if module == k or module.startswith(k + ".")), key=len, default=None
    )
    return FLOORS[best] if best else None


def project_modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for top in ("activity_core", "activities", "workflows"):
        for path in (REPO / top).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports_of(path: Path) -> set[str]:
    """Every module imported anywhere in the file (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_every_project_module_has_a_floor() -> None:
    missing = [m for m in project_modules() if m != "activity_core" and floor_of(m) is None]
    assert missing == []


def test_no_module_imports_a_floor_above_its_own() -> None:
    modules = project_modules()
    upward: list[str] = []
    for name, path in modules.items():
        mine = floor_of(name)
        if mine is None:
            continue
        for imported in imports_of(path):
            theirs = floor_of(imported)
            if imported in modules and theirs is not None and theirs > mine:
                upward.append(f"{name} (floor {mine}) imports {imported} (floor {theirs})")
    assert upward == []


def test_domain_imports_no_io_library() -> None:
    io = ("httpx", "sqlite3", "subprocess", "socket", "yaml", "activity_core.settings")
    offenders = [
        f"{name}: {imported}"
        for name, path in project_modules().items()
        if name.startswith("activity_core.domain")
        for imported in imports_of(path)
        if imported.split(".")[0] in io or imported.startswith("activity_core.settings")
    ]
    assert offenders == []


def test_workflow_type_names_in_the_domain_are_the_registered_ones() -> None:
    registered = {getattr(w, "__temporal_workflow_definition").name for w in ALL_WORKFLOWS}
    named = {
        constants.ACTIVITY_RUN_WORKFLOW,
        constants.REPORT_DELIVERY_WORKFLOW,
        constants.SINK_MONITOR_WORKFLOW,
        constants.WATCHDOG_WORKFLOW,
        constants.BACKFILL_WORKFLOW,
        constants.RECOVER_WORKFLOW,
    }
    assert named == registered


def test_handler_names_match_the_registry() -> None:
    assert set(HANDLERS) == constants.HANDLER_NAMES
    check_handler_registry()  # the worker's start-up check passes as shipped


def test_worker_refuses_a_registry_out_of_step() -> None:
    with pytest.raises(HandlerRegistryError, match=r"no implementation for \['static_report'\]"):
        check_handler_registry(set(HANDLERS) - {"static_report"})
    with pytest.raises(HandlerRegistryError, match=r"not in HANDLER_NAMES: \['extra'\]"):
        check_handler_registry({*HANDLERS, "extra"})


def test_every_handler_declares_its_params() -> None:
    from activity_core.domain.handler_params import HANDLER_PARAMS

    assert set(HANDLER_PARAMS) == set(constants.HANDLER_NAMES) == set(HANDLERS)


def _documented_floors() -> dict[str, int]:
    """The floor table of docs/architecture.md, as module names."""
    text = (REPO / "docs" / "architecture.md").read_text()
    table = text.split("```", 2)[1]
    out: dict[str, int] = {}
    last = 0
    for line in table.splitlines():
        match = re.match(r"\s*(\d)?\s+((?:activity_core/|activities/|workflows/)\S*)", line)
        if not match:
            continue
        last = int(match.group(1)) if match.group(1) else last
        cell = line[match.start(2) :].split("  ")[0]
        # activity_core/{a,b}.py -> activity_core/a.py, activity_core/b.py
        cell = re.sub(
            r"(\S*)\{([^}]*)\}(\S*)",
            lambda m: ", ".join(m.group(1) + n + m.group(3) for n in m.group(2).split(",")),
            cell,
        )
        for item in re.split(r",\s*", cell):
            path = item.strip().rstrip("/")
            if "/" not in path and path not in ("activities", "workflows"):
                path = f"activity_core/{path}"  # "alerts.py" after "activity_core/loader.py"
            out[path.removesuffix(".py").replace("/", ".")] = last
    return out


def test_the_architecture_doc_draws_the_floors_the_code_is_checked_against() -> None:
    assert _documented_floors() == FLOORS
