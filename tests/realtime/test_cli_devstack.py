"""Smoke test of the operator path: `actcore dev up --detach`, `trigger --wait`, `dev down`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import actcore_cli as _actcore
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
ACTCORE = [sys.executable, "-m", "activity_core.cli"]


def test_dev_up_trigger_and_down(cli_env: dict[str, str], tmp_path: Path) -> None:
    up = _actcore(cli_env, "dev", "up", "--detach")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "daily-activity-digest" in up.stdout
        assert "delivered after 1 attempt(s)" in up.stdout
        # The triage's tasks: a dry run by default (ACTCORE_ISSUE_SINK_TYPE unset).
        assert "in the note; a dry run (ACTCORE_ISSUE_SINK_TYPE=null" in up.stdout
        dry = _actcore(cli_env, "tasks", "list", "--state", "dry_run", "--json")
        assert dry.returncode == 0, dry.stderr
        assert {t["state"] for t in json.loads(dry.stdout)} == {"dry_run"}

        status = _actcore(cli_env, "dev", "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        addresses = json.loads(status.stdout)
        assert all(
            addresses[p]["alive"] for p in ("temporal", "statehub", "worker", "watchdog", "api")
        )
        api = addresses["addresses"]["api_url"]
        assert api in up.stdout  # the banner says where the API and board are
        assert httpx.get(f"{api}/health", timeout=10).json() == {
            "status": "ok",
            "db": True,
            "temporal": True,
        }
        board = httpx.get(f"{api}/", timeout=10)
        assert board.status_code == 200 and 'data-name="hourly-heartbeat"' in board.text

        run = _actcore(cli_env, "trigger", "hourly-heartbeat", "--wait", "--json")
        assert run.returncode == 0, run.stdout + run.stderr
        result = json.loads(run.stdout)
        assert result["outcome"] == "ran"
        note = Path(result["report_path"])
        assert note.parent == tmp_path / "notes" / "heartbeats"
        assert result["run_id"] in note.read_text()

        ledger = _actcore(cli_env, "runs", "list", "hourly-heartbeat", "--json")
        assert ledger.returncode == 0, ledger.stderr
        recorded = {r["run_id"]: r for r in json.loads(ledger.stdout)}
        assert recorded[result["run_id"]]["outcome"] == "ran"  # (an hourly fire may join)
        token = (tmp_path / "home" / "api-token").read_text().strip()
        listed = httpx.get(f"{api}/runs/", params={"activity": "hourly-heartbeat"}, timeout=10)
        assert result["run_id"] in [r["run_id"] for r in listed.json()]
        refused = httpx.post(f"{api}/activity-definitions/hourly-heartbeat/trigger", timeout=10)
        assert refused.status_code == 401
        by_api = httpx.post(
            f"{api}/activity-definitions/hourly-heartbeat/trigger",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert by_api.status_code == 202, by_api.text

        events = _actcore(cli_env, "statehub", "events", "--event-type", "daily_digest")
        assert events.returncode == 0, events.stderr
        assert len(json.loads(events.stdout)) == 1

        # Another shell that only knows where the stack lives talks to it, not to the
        # default ports, and says which stack it uses.
        bare = {k: v for k, v in cli_env.items() if not k.startswith(("ACTCORE_", "TEMPORAL_"))}
        bare |= {"ACTCORE_HOME": cli_env["ACTCORE_HOME"], "ACTCORE_LOG_FORMAT": "text"}
        found = _actcore(bare, "trigger", "hourly-heartbeat", "--wait", "--json")
        assert found.returncode == 0, found.stdout + found.stderr
        assert json.loads(found.stdout)["outcome"] == "ran"
        assert f"using the dev stack in {tmp_path / 'home'}" in found.stderr
        assert f"Temporal {cli_env['TEMPORAL_ADDRESS']}" in found.stderr
        # `eval "$(actcore dev env)"` gives a plain shell the stack's addresses.
        exported = _actcore(bare, "dev", "env")
        assert exported.returncode == 0, exported.stderr
        assert f"export TEMPORAL_ADDRESS={cli_env['TEMPORAL_ADDRESS']}" in exported.stdout
        assert f"export ACTCORE_API_URL={api}" in exported.stdout
        temporal = Path(sys.executable).parent / "temporal"
        shell = subprocess.run(
            [
                "bash",
                "-c",
                f'eval "$1"; {temporal} workflow list --address "$TEMPORAL_ADDRESS"'
                ' --limit 1 >/dev/null && echo "$ACTCORE_STATE_HUB_URL"',
                "-",
                exported.stdout,
            ],
            env=bare,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shell.returncode == 0, shell.stderr
        assert shell.stdout.strip() == cli_env["ACTCORE_STATE_HUB_URL"]
        digest = _actcore(bare, "statehub", "events", "--event-type", "daily_digest")
        assert digest.returncode == 0 and len(json.loads(digest.stdout)) == 1, digest.stderr
        hub_down = _actcore(bare, "statehub", "fault", "refuse")
        assert hub_down.returncode == 0, hub_down.stderr
        with pytest.raises(httpx.TransportError):  # this stack's hub got the fault
            httpx.post(f"{cli_env['ACTCORE_STATE_HUB_URL']}/progress/", json={}, timeout=5)
        assert _actcore(bare, "statehub", "fault", "none").returncode == 0

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


def test_dev_stack_files_the_triage_tasks_when_the_issue_sink_is_issue_core(
    cli_env: dict[str, str],
) -> None:
    metrics = _three_free_ports()
    env = {
        **cli_env,
        "ACTCORE_ISSUE_SINK_TYPE": "issue_core",
        "PROMETHEUS_BIND_ADDR": f"127.0.0.1:{metrics}",
    }
    up = _actcore(env, "dev", "up", "--detach", "--demo", "daily-statehub-wsjf-triage")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Probes" in up.stdout and "Metrics" in up.stdout, up.stdout
        line = next(x for x in up.stdout.splitlines() if x.endswith("tasks filed"))
        assert "-issues: delivered after 1 attempt(s)" in line
        done, total = line.split(", ")[-1].removesuffix(" tasks filed").split(" of ")
        assert done == total and int(total) > 0
        issues = httpx.get(f"{cli_env['ACTCORE_STATE_HUB_URL']}/issues/", timeout=10).json()
        assert len(issues) == int(total)
        assert "ACTCORE_ISSUE_CORE_URL=" in up.stdout  # the banner says how to check it
        outside = {**env, "ACTCORE_ISSUE_CORE_URL": cli_env["ACTCORE_STATE_HUB_URL"]}
        check = _actcore(outside, "sinks", "check", "issues")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "PASS" in check.stdout
        _roles_have_their_own_ports_and_a_killed_role_shows(env, metrics)
    finally:
        down = _actcore(cli_env, "dev", "down")
    assert down.returncode == 0, down.stderr


def test_unreachable_temporal_gives_a_clear_error_not_a_traceback(cli_env: dict[str, str]) -> None:
    out = _actcore(cli_env, "trigger", "hourly-heartbeat")  # nothing listens on these ports
    assert out.returncode == 2
    assert "error: cannot reach Temporal at 127.0.0.1:" in out.stderr
    assert "Traceback" not in out.stderr


def test_sigterm_stops_a_foreground_stack_and_all_its_processes(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [*ACTCORE, "dev", "up", "--no-demo"],
        env=cli_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            break
    pids_dir = Path(cli_env["ACTCORE_HOME"]) / "pids"
    children = {p.stem: int(p.read_text().split()[0]) for p in pids_dir.glob("*.pid")}
    assert {"temporal", "nats", "worker", "watchdog", "router", "api", "statehub"} <= set(
        children
    ), lines
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    for name, pid in children.items():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        assert stat == "Z", f"{name} ({pid}) still running after SIGTERM"


def test_stale_pid_file_never_signals_someone_elses_process(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        pids = Path(cli_env["ACTCORE_HOME"]) / "pids"
        pids.mkdir(parents=True)
        # A pid file left by a crash, whose pid now belongs to an unrelated process.
        (pids / "worker.pid").write_text(f"{bystander.pid} 1")
        status = _actcore(cli_env, "dev", "status")
        assert (
            "worker" in status.stdout
            and "running" not in status.stdout.split("worker")[1].splitlines()[0]
        )
        _actcore(cli_env, "dev", "down")
        assert bystander.poll() is None  # still alive: not ours, not signalled
    finally:
        bystander.kill()
        bystander.wait()


def _three_free_ports() -> int:
    """A port with the next two free too (the worker's, the watchdog's, the router's)."""
    for _ in range(50):
        base = free_port()
        try:
            for port in (base, base + 1, base + 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no three consecutive free ports")


def _roles_have_their_own_ports_and_a_killed_role_shows(env: dict[str, str], base: int) -> None:
    """Each role its own metrics and health port, ready; a router killed with kill -9 is
    ``dead`` in ``dev status`` (exit 1), not ``stopped``."""
    for port in (base, base + 1, base + 2):  # worker, watchdog, router: each its own
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200 and "temporal_" in scraped.text
    status = json.loads(_actcore(env, "dev", "status", "--json").stdout)
    for role in ("worker", "watchdog", "router", "api"):
        assert status[role]["state"] == "running" and status[role]["ready"], status[role]
        readyz = status["addresses"]["readiness"][role]
        assert httpx.get(readyz, timeout=10).json()["ready"] is True
    router_checks = status["router"]["checks"]
    assert router_checks["nats"] == "ok" and router_checks["fetching"] == "ok"
    os.kill(status["router"]["pid"], signal.SIGKILL)
    line = ""
    for _ in range(20):
        out = _actcore(env, "dev", "status")
        assert out.returncode == 1, out.stdout
        line = next(x for x in out.stdout.splitlines() if x.startswith("router"))
        if "dead" in line:
            break
        time.sleep(0.5)
    assert "dead" in line and "router.log" in line, line
