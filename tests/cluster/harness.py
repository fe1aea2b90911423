"""The production layout on one machine: the installed wheel in a virtualenv of its own, a
3-node NATS cluster on loopback, a real PostgreSQL, and each role a process of its own
with its own health port, started, killed and restarted as Kubernetes would."""

from __future__ import annotations

import os
import signal
import site
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]


def build_wheel_env(where: Path) -> Path:
    """A virtualenv with activity-core installed from its wheel (not the source tree);
    its dependencies are those of the test environment (a path entry, so the editable
    install of the tests is not seen). Returns the virtualenv's python."""
    wheels = where / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
        timeout=300,
    )
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    wheel = next(wheels.glob("activity_core-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--target",
            purelib,
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    # The dependencies: the test environment's site-packages as a plain path entry (its
    # own .pth files, the editable install among them, are not processed from there).
    deps = [p for p in site.getsitepackages() if p.endswith("site-packages")]
    (Path(purelib) / "zz_deps.pth").write_text("\n".join(deps) + "\n")
    return python


@dataclass
class NatsCluster:
    """Three JetStream servers routed to each other on loopback."""

    root: Path
    binary: str
    client_ports: list[int] = field(default_factory=list)
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    _argv: dict[int, list[str]] = field(default_factory=dict)

    def start(self) -> None:
        self.client_ports = [free_port() for _ in range(3)]
        cluster_ports = [free_port() for _ in range(3)]
        monitor_ports = [free_port() for _ in range(3)]
        routes = ",".join(f"nats://127.0.0.1:{p}" for p in cluster_ports)
        for i in range(3):
            self._argv[i] = [
                self.binary,
                "--jetstream",
                "--store_dir",
                str(self.root / f"n{i}"),
                "--server_name",
                f"n{i}",
                "--addr",
                "127.0.0.1",
                "--port",
                str(self.client_ports[i]),
                "--http_port",
                str(monitor_ports[i]),
                "--cluster_name",
                "actcore",
                "--cluster",
                f"nats://127.0.0.1:{cluster_ports[i]}",
                "--routes",
                routes,
            ]
            self.monitor = monitor_ports
            self.up(i)
        self.wait_healthy()

    def up(self, i: int) -> None:
        log = open(self.root / f"n{i}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[i] = subprocess.Popen(self._argv[i], stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self, i: int) -> None:
        self.procs[i].kill()
        self.procs[i].wait(10)

    def wait_healthy(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        for port in self.monitor:
            while True:
                try:
                    url = f"http://127.0.0.1:{port}/healthz?js-enabled-only=true"
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"NATS on monitor port {port} did not become healthy")
                time.sleep(0.3)

    @property
    def url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.client_ports)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


@dataclass
class Role:
    """One process of one role (a pod), with its own health port."""

    name: str
    argv: list[str]
    env: dict[str, str]
    logs: Path
    health_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    @property
    def readyz(self) -> str:
        return f"http://127.0.0.1:{self.health_port}/readyz"

    def start(self) -> None:
        env = {**self.env, "ACTCORE_HEALTH_BIND_ADDR": f"127.0.0.1:{self.health_port}"}
        log = open(self.logs / f"{self.name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            self.argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.logs
        )
        log.close()

    def ready(self) -> bool:
        try:
            return httpx.get(self.readyz, timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, within: float = 90) -> None:
        deadline = time.monotonic() + within
        while not self.ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}): {self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready within {within} s: {self.tail()}")
            time.sleep(0.3)

    def wait_not_ready(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while self.ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} stayed ready for {within} s")
            time.sleep(0.1)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, within: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(within)

    def restart(self) -> None:
        """As the kubelet does after the container ended."""
        self.restarts += 1
        self.start()

    def tail(self, n: int = 3000) -> str:
        path = self.logs / f"{self.name}.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def role_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment every role shares plus its own variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACTCORE_", "TEMPORAL_"))}
    env.pop("NATS_URL", None)
    return {**env, **base, **extra}
