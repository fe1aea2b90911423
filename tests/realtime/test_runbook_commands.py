"""Every fenced shell command of docs/runbook.md, run as written against a dev stack on
random ports, from a shell that only ran ``eval "$(actcore dev env)"``."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from activity_core.domain import Alert, Severity
from activity_core.domain.alert_text import WHAT_TO_DO, what_to_do
from tests.helpers import actcore_cli, free_port

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "docs" / "runbook.md"
BLOCK = re.compile(r"^ *```(\w*)\n(.*?)^ *```", re.M | re.S)
PLACEHOLDER = re.compile(r"<[a-z][a-z ]*>")

LONG_RUNNING = re.compile(r"(^|\s)actcore (worker|router)\b")
"""Commands the test leaves out: they start a worker or router that runs until stopped
(the worker and router tests cover them)."""

MAY_EXIT_1 = ("actcore status", "actcore verify")
NOT_DUE_YET = ("actcore verify",)
"""Exits 3 before the day's fire time (in the definition's zone: after midnight in Berlin
the day's fire is still hours away)."""
"""Commands documented to exit 1 when they find a problem (a fresh stack has some)."""


def runbook_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block, bodies dedented."""
    found = []
    for lang, body in BLOCK.findall(text):
        lines = body.splitlines()
        indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
        found.append((lang, "\n".join(x[indent:] for x in lines)))
    return found


def commands(body: str) -> list[str]:
    """The shell commands of a block: continuation lines and open quotes joined, comment
    lines dropped."""
    out: list[str] = []
    pending = ""
    for line in body.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\") or not _complete(pending):
            continue
        out.append(pending)
        pending = ""
    assert not pending, f"unterminated command in the runbook: {pending!r}"
    return out


def _complete(command: str) -> bool:
    """Whether ``command`` closes all its quotes (comments aside)."""
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


def test_the_runbooks_blocks_split_into_commands() -> None:
    blocks = runbook_blocks(RUNBOOK.read_text())
    shell = [c for lang, body in blocks if lang in ("bash", "sh") for c in commands(body)]
    assert len(shell) >= 20, shell
    listing = next(c for c in shell if c.startswith("temporal workflow list"))
    assert listing.count("\n") == 2 and listing.endswith("'")  # one command over 3 lines
    assert not any(c.startswith("#") for c in shell)


@pytest.mark.timeout(480)  # about 45 commands, each a fresh process; twice that when loaded
def test_every_runbook_command_works_as_written_on_random_ports(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    definitions = tmp_path / "definitions"
    shutil.copytree(REPO / "definitions", definitions)
    # A definition whose sink nobody answers: its delivery waits, as in the runbook.
    (definitions / "runbook-dead-sink.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "runbook-dead-sink",
                "handler": "static_report",
                "params": {"title": "t", "body": "b"},
                "trigger_config": {
                    "trigger_type": "interval",
                    "every_seconds": 86400,
                    "misfire_policy": "skip",
                },
                "sinks": [
                    {
                        "type": "state_hub_progress",
                        "event_type": "runbook",
                        "url": f"http://127.0.0.1:{free_port()}",
                    }
                ],
            }
        )
    )
    env = {**cli_env, "ACTCORE_DEFINITIONS_DIR": str(definitions)}
    up = actcore_cli(env, "dev", "up", "--detach")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        _run_the_runbook(env, tmp_path)
    finally:
        down = actcore_cli(env, "dev", "down")
    assert down.returncode == 0, down.stderr


def _run_the_runbook(env: dict[str, str], tmp_path: Path) -> None:
    waiting = actcore_cli(env, "trigger", "runbook-dead-sink", "--wait", "--json")
    assert waiting.returncode == 0, waiting.stdout + waiting.stderr
    runs = actcore_cli(env, "runs", "list", "daily-activity-digest", "--json")
    assert runs.returncode == 0, runs.stderr
    digest_run = json.loads(runs.stdout)[0]["run_id"]
    delivery = ""
    for _ in range(60):  # the first attempt is refused, then the delivery waits
        listed = actcore_cli(env, "deliveries", "list", "--status", "waiting", "--json")
        mine = [
            d["workflow_id"]
            for d in json.loads(listed.stdout or "[]")
            if d["activity_name"] == "runbook-dead-sink"
        ]
        if mine:
            delivery = mine[0]
            break
        time.sleep(1)
    assert delivery, listed.stdout + listed.stderr
    defs = actcore_cli(env, "definitions", "list", "--json")
    assert defs.returncode == 0, defs.stderr
    listing = json.loads(defs.stdout)["definitions"]
    heartbeat_id = next(d["id"] for d in listing if d["name"] == "hourly-heartbeat")
    values = {
        "<run id>": digest_run,
        "<delivery id>": delivery,
        "<delivery workflow id>": delivery,
        "<id>": heartbeat_id,
        "<ns>": "default",
    }
    # The operator's shell: the venv's commands on PATH, the stack's home, nothing else.
    bindir = str(Path(sys.executable).parent)
    shell_env = {k: v for k, v in os.environ.items() if not k.startswith(("ACTCORE_", "TEMPORAL_"))}
    shell_env |= {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "ACTCORE_HOME": env["ACTCORE_HOME"],
        "ACTCORE_LOG_FORMAT": "text",
    }
    exported = actcore_cli(shell_env, "dev", "env")
    assert exported.returncode == 0, exported.stderr
    ran: list[str] = []
    left_out: list[str] = []
    for lang, body in runbook_blocks(RUNBOOK.read_text()):
        if lang == "sql":
            _run_sql(Path(env["ACTCORE_HOME"]) / "actcore.db", body)
            ran.append(body)
            continue
        if lang not in ("bash", "sh"):
            continue
        for command in commands(body):
            if LONG_RUNNING.search(command):
                left_out.append(command)
                continue
            for placeholder, value in values.items():
                command = command.replace(placeholder, value)
            unknown = PLACEHOLDER.findall(command.split("#")[0])
            assert not unknown, f"the test has no value for {unknown} in: {command}"
            done = _shell(command, exported.stdout, shell_env, tmp_path)
            allowed = {0, 1} if command.startswith(MAY_EXIT_1) else {0}
            allowed |= {3} if command.startswith(NOT_DUE_YET) else set()
            said = f"`{command}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            assert done.returncode in allowed, said
            assert "Traceback" not in done.stderr, said
            assert done.stdout.strip() or command.startswith("actcore sync"), said
            ran.append(command)
    assert left_out, "the runbook's worker example was not recognised as long-running"
    assert len(ran) >= 20, ran
    # The fixes the board and the alert notes print, for every kind of alert.
    fixes = {}
    for kind in WHAT_TO_DO:
        sink_kind = kind.startswith("sink_")
        alert = Alert(
            alert_id=kind,
            activity_id=heartbeat_id,
            activity_name="state_hub" if sink_kind else "hourly-heartbeat",
            kind=kind,
            severity=Severity.PAGE,
            opened_at=datetime.now(UTC),
        )
        todo = what_to_do(alert) or ""
        for fix in re.findall(r"`((?:actcore|temporal) [^`]+)`", todo):
            fixes.setdefault(fix, kind)
    assert len(fixes) >= 8, fixes
    for fix, kind in fixes.items():
        if LONG_RUNNING.search(fix):
            continue
        assert not re.search(r"\b[A-Z_]{4,}\b", fix.replace("$TEMPORAL_ADDRESS", "")), fix
        done = _shell(fix, exported.stdout, shell_env, tmp_path)
        said = f"the {kind} fix `{fix}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        allowed = {0, 1} if fix.startswith(MAY_EXIT_1) else {0}
        allowed |= {3} if fix.startswith(NOT_DUE_YET) else set()
        assert done.returncode in allowed, said
        assert "Traceback" not in done.stderr, said


def _shell(
    command: str, exports: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``command`` in bash after the exports; a command that hangs fails by its name."""
    try:
        return subprocess.run(
            ["bash", "-c", f'eval "$1"\n{command}', "-", exports],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=90,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{command}` did not finish within 90 s")


def _run_sql(db: Path, query: str) -> None:
    """The runbook's SQL against the dev stack's SQLite ledger: it parses and finds rows."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(query.replace("2026-11-23", "2000-01-01")).fetchall()
    assert rows, query
