"""The file door never crashes and never opens what is not a regular file: link loops,
sockets, folders linked out of the directory and absurd zone names are error lines that
name the file and the fix, from the loader and from `actcore definitions validate`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from activity_core.domain import ActivityDefinition
from activity_core.loader import read_definitions

GOOD = {
    "name": "good",
    "handler": "static_report",
    "params": {"title": "t", "body": "b"},
    "trigger_config": {"trigger_type": "manual"},
}


def _link_loop(defs: Path) -> str:
    os.symlink(defs / "b.yaml", defs / "a.yaml")
    os.symlink(defs / "a.yaml", defs / "b.yaml")
    return "a.yaml: is a symbolic link loop"


def _self_loop(defs: Path) -> str:
    os.symlink(defs / "self.yaml", defs / "self.yaml")
    return "self.yaml: is a symbolic link loop"


def _socket(defs: Path) -> str:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(defs / "x.yaml"))  # left bound: opening it would fail with ENXIO
    return "x.yaml: is not a regular file (a socket"


def _fifo(defs: Path) -> str:
    os.mkfifo(defs / "pipe.yaml")
    return "pipe.yaml: is not a regular file"


def _event_types_out(defs: Path) -> str:
    os.symlink("/etc", defs / "event-types")
    return "event-types: is a symbolic link out of the definitions directory"


def _event_type_file_out(defs: Path, tmp: Path) -> str:
    (defs / "event-types").mkdir()
    outside = tmp / "outside.yaml"
    outside.write_text("name: user.created\n")
    os.symlink(outside, defs / "event-types" / "user.created.yaml")
    return "user.created.yaml: is a symbolic link out of the definitions directory"


def _zoned(name: str, zone: str, expect: str) -> Callable[[Path], str]:
    """A cron definition in ``zone``, and the words its error must hold."""

    def write(defs: Path) -> str:
        trigger = {"trigger_type": "cron", "cron_expression": "0 7 * * *", "timezone": zone}
        body = {**GOOD, "name": name, "trigger_config": trigger}
        (defs / f"{name}.yaml").write_text(yaml.safe_dump(body))
        return expect

    return write


CASES: dict[str, Callable[..., str]] = {
    "link loop": _link_loop,
    "self loop": _self_loop,
    "socket": _socket,
    "fifo": _fifo,
    "event-types linked out": _event_types_out,
    "event type file linked out": _event_type_file_out,
    "1000-character zone": _zoned(
        "zoned", "Europe/" + "x" * 1000, "zoned.yaml: trigger_config.timezone"
    ),
    "zone that is a path": _zoned("pathzone", "../../../etc/passwd", "is not an IANA time zone"),
}


@pytest.fixture
def defs(tmp_path: Path) -> Path:
    # A short path: a unix socket's name is limited to about 100 bytes.
    short = Path(f"/tmp/door-{os.getpid()}-{tmp_path.name[-12:]}")
    short.mkdir()
    (short / "good.yaml").write_text(yaml.safe_dump(GOOD))
    yield short
    subprocess.run(["rm", "-rf", str(short)], check=False)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_entries_are_named_with_the_fix_and_the_rest_still_load(
    defs: Path, tmp_path: Path, case: str
) -> None:
    make = CASES[case]
    expected = make(defs, tmp_path) if make is _event_type_file_out else make(defs)
    loaded = read_definitions(defs)
    assert any(expected in e for e in loaded.errors), loaded.errors
    if "event" not in case:
        assert [d.name for d in loaded.definitions] == ["good"]
    assert all(len(e) < 600 for e in loaded.errors), "an error quotes a value whole"
    validated = subprocess.run(
        [sys.executable, "-m", "activity_core.cli", "definitions", "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ACTCORE_DEFINITIONS_DIR": str(defs), "ACTCORE_DB_URL": "none"},
    )
    assert validated.returncode == 1, validated.stdout + validated.stderr
    assert expected in validated.stderr
    assert "Traceback" not in validated.stderr


def test_real_zones_are_still_zones() -> None:
    for zone in ("UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"):
        body = {
            **GOOD,
            "trigger_config": {
                "trigger_type": "cron",
                "cron_expression": "0 7 * * *",
                "misfire_policy": "skip",
                "timezone": zone,
            },
        }
        assert ActivityDefinition.model_validate(body).zone == zone
