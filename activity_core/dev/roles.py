"""Ports of the dev stack's long-running roles: each process its own health port and,
when ``PROMETHEUS_BIND_ADDR`` is set, its own metrics port (worker on it, the others on
the next ones), as each would be in its own pod."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass

from activity_core.settings import Settings

ROLES = ("worker", "watchdog", "router", "api")
"""The long-running roles, in the order their ports are counted."""
METRICS_ROLES = ("worker", "watchdog", "router")
"""The roles with a Temporal runtime (and so a Prometheus endpoint)."""
METRICS_VARIABLES = ("PROMETHEUS_BIND_ADDR", "ACTCORE_PROMETHEUS_BIND_ADDR")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class RolePorts:
    """Where each role answers its probes and serves its metrics."""

    health: dict[str, int]
    metrics: dict[str, tuple[str, int]]

    @classmethod
    def choose(cls, settings: Settings, environ: Mapping[str, str]) -> RolePorts:
        """From ``ACTCORE_DEV_HEALTH_PORT`` (0: free ports) and ``PROMETHEUS_BIND_ADDR``."""
        base = settings.dev_health_port
        health = {r: _free_port() if base == 0 else base + i for i, r in enumerate(ROLES)}
        metrics: dict[str, tuple[str, int]] = {}
        bind = next((environ[v] for v in METRICS_VARIABLES if environ.get(v)), None)
        if bind:
            host, _, port = bind.rpartition(":")
            if port.isdigit():
                metrics = {r: (host, int(port) + i) for i, r in enumerate(METRICS_ROLES)}
        return cls(health, metrics)

    def env(self, role: str) -> dict[str, str]:
        """The variables that give ``role`` its own ports (and none of another's)."""
        env = {"ACTCORE_HEALTH_BIND_ADDR": f"127.0.0.1:{self.health[role]}"}
        host_port = self.metrics.get(role)
        for variable in METRICS_VARIABLES:
            env[variable] = f"{host_port[0]}:{host_port[1]}" if host_port else ""
        return env

    def ports(self) -> list[tuple[int, str]]:
        """Every port with the setting that chose it (to check they are free)."""
        out = [(p, f"ACTCORE_DEV_HEALTH_PORT (+{i})") for i, p in enumerate(self.health.values())]
        out += [
            (p, f"PROMETHEUS_BIND_ADDR (+{i})") for i, (_, p) in enumerate(self.metrics.values())
        ]
        return out

    def readyz(self, role: str) -> str:
        """The role's readiness URL."""
        return f"http://127.0.0.1:{self.health[role]}/readyz"

    def metrics_urls(self) -> dict[str, str]:
        """Each role's scrape URL (none when ``PROMETHEUS_BIND_ADDR`` is unset)."""
        return {r: f"http://{h}:{p}/metrics" for r, (h, p) in self.metrics.items()}
