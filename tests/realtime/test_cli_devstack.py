"""Smoke test of the operator path: `actcore dev up --detach`, `trigger --wait`, `dev down`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ACTCORE = [sys.executable, "-m", "activity_core.cli"]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    temporal, ui, hub, admin = _free_ports(4)
    env = dict(os.environ)
    env.update(
        {
            "ACTCORE_HOME": str(tmp_path / "home"),
            "ACTCORE_WORKING_MEMORY_DIR": str(tmp_path / "notes"),
            "ACTCORE_DEFINITIONS_DIR": str(REPO / "definitions"),
            "ACTCORE_TEMPORAL_PORT": str(temporal),
            "ACTCORE_UI_PORT": str(ui),
            "ACTCORE_STATE_HUB_PORT": str(hub),
            "ACTCORE_STATE_HUB_ADMIN_PORT": str(admin),
            "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal}",
            "ACTCORE_STATE_HUB_URL": f"http://127.0.0.1:{hub}",
            "ACTCORE_LOG_FORMAT": "text",
        }
    )
    return env


def _actcore(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ACTCORE, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_dev_up_trigger_and_down(cli_env: dict[str, str], tmp_path: Path) -> None:
    up = _actcore(cli_env, "dev", "up", "--detach")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "daily-activity-digest" in up.stdout
        assert "delivered after 1 attempt(s)" in up.stdout

        status = _actcore(cli_env, "dev", "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        assert all(
            json.loads(status.stdout)[p]["alive"] for p in ("temporal", "statehub", "worker")
        )

        run = _actcore(cli_env, "trigger", "hourly-heartbeat", "--wait", "--json")
        assert run.returncode == 0, run.stdout + run.stderr
        result = json.loads(run.stdout)
        assert result["outcome"] == "ran"
        note = Path(result["report_path"])
        assert note.parent == tmp_path / "notes" / "heartbeats"
        assert result["run_id"] in note.read_text()

        events = _actcore(cli_env, "statehub", "events", "--event-type", "daily_digest")
        assert events.returncode == 0, events.stderr
        assert len(json.loads(events.stdout)) == 1

        again = _actcore(cli_env, "dev", "up", "--detach")
        assert again.returncode == 2
        assert "already running" in again.stderr
        # Another stack home on the same ports gets a clear busy-port error instead.
        other = {**cli_env, "ACTCORE_HOME": str(tmp_path / "other")}
        busy = _actcore(other, "dev", "up", "--detach")
        assert busy.returncode == 2
        assert "is busy" in busy.stderr and "ACTCORE_TEMPORAL_PORT" in busy.stderr
        assert json.loads(_actcore(cli_env, "dev", "status", "--json").stdout)["worker"]["alive"]
    finally:
        down = _actcore(cli_env, "dev", "down")
    assert down.returncode == 0, down.stderr
    assert "temporal" in down.stdout
    after = _actcore(cli_env, "dev", "status")
    assert after.returncode == 1


def test_unreachable_temporal_gives_a_clear_error_not_a_traceback(cli_env: dict[str, str]) -> None:
    out = _actcore(cli_env, "trigger", "hourly-heartbeat")  # nothing listens on these ports
    assert out.returncode == 2
    assert "error: cannot reach Temporal at 127.0.0.1:" in out.stderr
    assert "Traceback" not in out.stderr
