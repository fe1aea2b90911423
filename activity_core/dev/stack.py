"""The embedded dev stack: Temporal dev server (SQLite + Web UI), NATS with JetStream,
the reference State Hub, the worker, the event router and the API.

``actcore dev up`` runs it in the foreground (Ctrl-C stops everything);
``--detach`` leaves it running with pid files and logs under ``.actcore/``;
``actcore dev status`` and ``actcore dev down`` inspect and stop it.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from activity_core.codec import new_key
from activity_core.dev.banner import banner
from activity_core.dev.paths import Paths
from activity_core.dev.processes import (
    check_port_free,
    nats_binary,
    read_pid,
    stop_group,
    tail,
    temporal_binary,
    write_pid,
)
from activity_core.dev.roles import METRICS_VARIABLES, ROLES, RolePorts
from activity_core.domain import search_attributes as sa
from activity_core.errors import DevStackError
from activity_core.loader import load_definitions
from activity_core.settings import Settings
from activity_core.store import Store, migrate, redact
from activity_core.temporal_client import SINGLE_PARTITION_FLAGS, connect

DEMO_DEFINITIONS = ("daily-activity-digest", "daily-statehub-wsjf-triage")
PROCESSES = ("temporal", "nats", "statehub", "codec", "worker", "watchdog", "router", "api")
"""Started in this order, stopped in the reverse one."""
DEMO_EVENT = ("user.created", {"tier": "pro", "region": "eu"})
"""The event the demo publishes (``definitions/welcome-pro-user.yaml`` listens to it)."""
DEV_EGRESS_ALLOW = "127.0.0.0/8,::1/128"
"""The dev stack lets sinks reach this machine (its State Hub, local receivers)."""


class DevStack:
    """Start, inspect and stop the local stack."""

    def __init__(self, settings: Settings) -> None:
        if "egress_allow" not in settings.model_fields_set:
            # Everything the dev stack runs listens on this machine.
            settings = settings.model_copy(update={"egress_allow": DEV_EGRESS_ALLOW})
        self.settings = settings
        self.paths = Paths(settings.home.resolve())
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.roles = RolePorts.choose(settings, os.environ)

    # -- addresses -----------------------------------------------------------------

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.settings.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.ui_port}"

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.state_hub_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    @property
    def codec_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.codec_port}"

    @property
    def own_codec(self) -> bool:
        """Whether the stack seals payloads with its own generated key (no
        ``ACTCORE_CODEC_KEYS`` of the caller's)."""
        return not (
            os.environ.get("ACTCORE_CODEC_KEYS") or os.environ.get("ACTCORE_CODEC_KEYS_FILE")
        )

    def temporal_env(self) -> dict[str, str]:
        """What an in-process client needs: the server's address and the codec keys."""
        env = {"TEMPORAL_ADDRESS": self.temporal_address}
        for name in ("ACTCORE_CODEC_KEYS", "ACTCORE_CODEC_KEYS_FILE"):
            value = self.child_env().get(name)
            if value:
                env[name] = value
        return env

    def _ensure_codec_keys(self) -> None:
        """A key of the stack's own, kept with its state (payloads sealed with it stay
        readable across restarts)."""
        if self.own_codec and not self.paths.codec_keys.exists():
            self.paths.codec_keys.touch(mode=0o600)
            self.paths.codec_keys.write_text(f"dev:{new_key()}\n")

    @property
    def own_nats(self) -> bool:
        """Whether the stack starts its own NATS (no ``NATS_URL`` given)."""
        return self.settings.nats_url is None

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.settings.nats_port}"

    @property
    def nats_monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.nats_monitor_port}"

    def nats_label(self) -> str:
        if self.own_nats:
            return f"{self.nats_url}   (monitoring: {self.nats_monitor_url}/jsz?consumers=true)"
        hosts = ", ".join(u.split("@")[-1] for u in self.settings.nats_servers())
        return f"{hosts}   (NATS_URL; not started here)"

    @property
    def token_file(self) -> Path:
        """The dev stack's API write token (created at first start, mode 600)."""
        return self.paths.home / "api-token"

    def _ensure_token(self) -> None:
        if not self.token_file.exists():
            self.token_file.touch(mode=0o600)
            self.token_file.write_text(secrets.token_urlsafe(24) + "\n")

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TEMPORAL_ADDRESS": self.temporal_address,
                "TEMPORAL_NAMESPACE": "default",
                "ACTCORE_STATE_HUB_URL": self.hub_url,
                "ACTCORE_DEFINITIONS_DIR": str(self.settings.definitions_dir.resolve()),
                "ACTCORE_WORKING_MEMORY_DIR": str(self.settings.working_memory_dir.resolve()),
                "ACTCORE_HOME": str(self.paths.home),
                "ACTCORE_WEB_UI_URL": self.ui_url,
                "ACTCORE_API_READ_OPEN": "true",
                "ACTCORE_API_TOKEN_FILE": str(self.token_file),
                "ACTCORE_API_PORT": str(self.settings.api_port),
                "ACTCORE_EGRESS_ALLOW": self.settings.egress_allow,
                "PYTHONUNBUFFERED": "1",
            }
        )
        # The reference State Hub serves the issue-core contract too (/issues/).
        env.setdefault("ACTCORE_ISSUE_CORE_URL", self.hub_url)
        if self.own_codec:
            env["ACTCORE_CODEC_KEYS_FILE"] = str(self.paths.codec_keys)
        env.setdefault("ACTCORE_CODEC_PORT", str(self.settings.codec_port))
        env.setdefault(
            "ACTCORE_CODEC_UI_ORIGINS",
            f"{self.ui_url},{self.ui_url.replace('127.0.0.1', 'localhost')}",
        )
        if self.own_nats:
            env["NATS_URL"] = self.nats_url
            env.pop("ACTCORE_NATS_URL", None)
        env.pop("TEMPORAL_API_KEY", None)
        # Ports are per process (RolePorts); none is inherited by a process not given one.
        for variable in ("ACTCORE_HEALTH_BIND_ADDR", *METRICS_VARIABLES):
            env.pop(variable, None)
        return env

    # -- start ---------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        self.paths.pids.mkdir(parents=True, exist_ok=True)
        log = open(self.paths.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**self.child_env(), **(env or {})},
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        write_pid(self.paths.pids / f"{name}.pid", proc.pid)

    def _checkalive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                last = tail(self.paths.logs / f"{name}.log")
                raise DevStackError(f"{name} exited with code {proc.returncode}; log tail:\n{last}")

    async def start(self) -> None:
        """Start Temporal, the State Hub and the worker; wait until each is ready."""
        s = self.settings
        running = [name for name, info in self.status().items() if info.get("alive")]
        if running:
            raise DevStackError(
                f"a dev stack from {self.paths.home} is already running ({', '.join(running)}); "
                "see `actcore dev status`, stop it with `actcore dev down`"
            )
        # Refuse to start on bad definitions.
        load_definitions(s.definitions_dir, s.activity_timeout_seconds, s.egress_policy())
        for port, setting in (
            (s.temporal_port, "ACTCORE_TEMPORAL_PORT"),
            (s.ui_port, "ACTCORE_UI_PORT"),
            (s.state_hub_port, "ACTCORE_STATE_HUB_PORT"),
            (s.state_hub_admin_port, "ACTCORE_STATE_HUB_ADMIN_PORT"),
            (s.api_port, "ACTCORE_API_PORT"),
            (s.codec_port, "ACTCORE_CODEC_PORT"),
            *(
                [
                    (s.nats_port, "ACTCORE_NATS_PORT"),
                    (s.nats_monitor_port, "ACTCORE_NATS_MONITOR_PORT"),
                ]
                if self.own_nats
                else []
            ),
            *self.roles.ports(),
        ):
            check_port_free(port, setting)
        self.paths.home.mkdir(parents=True, exist_ok=True)
        self._ensure_token()
        self._ensure_codec_keys()
        await self._migrate()
        self._spawn(
            "temporal",
            [
                temporal_binary(s.temporal_cli_path),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(s.temporal_port),
                "--ui-port",
                str(s.ui_port),
                "--db-filename",
                str(self.paths.temporal_db),
                "--log-level",
                "warn",
                "--ui-disable-news-fetch",
                # The Web UI reads sealed payloads through the stack's codec server.
                "--ui-codec-endpoint",
                self.codec_url,
                *sa.dev_server_flags(),
                *SINGLE_PARTITION_FLAGS,
            ],
        )
        if self.own_nats:
            self._spawn(
                "nats",
                [
                    nats_binary(s.nats_server_path),
                    "--jetstream",
                    "--store_dir",
                    str(self.paths.nats_store),
                    "--addr",
                    "127.0.0.1",
                    "--port",
                    str(s.nats_port),
                    "--http_port",
                    str(s.nats_monitor_port),
                    "--server_name",
                    "actcore-dev",
                ],
            )
        self._spawn(
            "statehub",
            [
                sys.executable,
                "-m",
                "activity_core.cli",
                "statehub",
                "serve",
                "--port",
                str(s.state_hub_port),
                "--admin-port",
                str(s.state_hub_admin_port),
                "--db",
                str(self.paths.statehub_db),
            ],
        )
        self._spawn("codec", [sys.executable, "-m", "activity_core.cli", "codec", "serve"])
        await self._wait_temporal()
        await self._wait_http(f"{self.hub_url}/health", "statehub")
        await self._wait_http(f"{self.codec_url}/health", "codec")
        if self.own_nats:
            await self._wait_http(f"{self.nats_monitor_url}/healthz?js-enabled-only=true", "nats")
        cli = [sys.executable, "-m", "activity_core.cli"]
        self._spawn("worker", [*cli, "worker", "--role", "runs"], self.roles.env("worker"))
        # The watchdog in its own process, as in production: a run worker that dies or
        # hangs is paged about instead of silencing its own watchdog. The run worker
        # syncs the schedules.
        watchdog_env = {**self.roles.env("watchdog"), "ACTCORE_SKIP_SCHEDULE_SYNC": "true"}
        self._spawn("watchdog", [*cli, "worker", "--role", "watchdog"], watchdog_env)
        self._spawn("router", [*cli, "router"], self.roles.env("router"))
        self._spawn("api", [*cli, "api"], self.roles.env("api"))
        # Up means every role says it is ready (its pollers run, the router fetches).
        for role in ROLES:
            await self._wait_http(self.roles.readyz(role), role, within=90)
        self.paths.state_file.write_text(
            json.dumps(
                {
                    "temporal_address": self.temporal_address,
                    "ui_url": self.ui_url,
                    "state_hub_url": self.hub_url,
                    "state_hub_admin_port": s.state_hub_admin_port,
                    "api_url": self.api_url,
                    "nats_url": self.nats_url if self.own_nats else None,
                    "nats_monitor_url": self.nats_monitor_url if self.own_nats else None,
                    "codec_url": self.codec_url,
                    "codec_keys_file": str(self.paths.codec_keys) if self.own_codec else None,
                    "egress_allow": s.egress_allow,
                    "definitions_dir": str(s.definitions_dir.resolve()),
                    "readiness": {r: self.roles.readyz(r) for r in ROLES},
                    "metrics": self.roles.metrics_urls(),
                },
                indent=2,
            )
        )

    async def _migrate(self) -> None:
        """Bring the embedded SQLite store to head once, before worker and API share it."""
        url = self.settings.model_copy(update={"home": self.paths.home}).database_url()
        if url is None:
            return
        store = Store(url)
        try:
            if store.dialect == "sqlite":
                await migrate.upgrade(store)
        finally:
            await store.close()

    async def _wait_temporal(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        last: Exception | None = None
        while time.monotonic() < deadline:
            self._checkalive()
            try:
                client = await connect(self.temporal_env())
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=client.namespace)
                )
                return
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.5)
        raise DevStackError(f"Temporal did not become ready at {self.temporal_address}: {last}")

    async def _wait_http(self, url: str, name: str, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                self._checkalive()
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        raise DevStackError(f"{name} did not answer at {url}")

    def ledger_url(self) -> str:
        url = self.settings.database_url()
        return redact(url) if url else "off (ACTCORE_DB_URL=none)"

    def banner(self) -> str:
        """What is where, printed once the stack is up."""
        return banner(self)

    # -- stop / status -------------------------------------------------------------

    def stop_children(self, timeout: float = 15.0) -> None:
        """Stop the processes this object started (worker first, Temporal last)."""
        if not self.procs:
            return
        for name in reversed(PROCESSES):
            proc = self.procs.get(name)
            if proc is None:
                continue
            if proc.poll() is None:
                stop_group(proc.pid, timeout)
            (self.paths.pids / f"{name}.pid").unlink(missing_ok=True)
        self.paths.state_file.unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        """Each process of a detached stack: ``running``, ``dead`` (its pid file is there
        but the process is gone: it crashed or was killed) or ``stopped``; for the
        long-running roles, whether their readiness probe says ready and why not."""
        out: dict[str, Any] = {}
        state = (
            json.loads(self.paths.state_file.read_text()) if self.paths.state_file.exists() else {}
        )
        for name in PROCESSES:
            pid_file = self.paths.pids / f"{name}.pid"
            pid = read_pid(pid_file)
            info: dict[str, Any] = {
                "pid": pid,
                "alive": pid is not None,
                "state": "running" if pid else "dead" if pid_file.exists() else "stopped",
            }
            readyz = state.get("readiness", {}).get(name)
            if pid is not None and readyz:
                info["ready"], info["checks"] = _probe(readyz)
            out[name] = info
        if state:
            out["addresses"] = state
        return out

    def down(self, timeout: float = 15.0) -> list[str]:
        """Stop a detached stack from its pid files; returns what was stopped."""
        stopped = []
        for name in reversed(PROCESSES):
            pid_file = self.paths.pids / f"{name}.pid"
            if not pid_file.exists():
                continue
            pid = read_pid(pid_file)  # None: dead, or the pid now belongs to someone else
            if pid is not None:
                stop_group(pid, timeout)
                stopped.append(name)
            pid_file.unlink(missing_ok=True)
        self.paths.state_file.unlink(missing_ok=True)
        return stopped


def _probe(url: str) -> tuple[bool, dict[str, str]]:
    """A readiness URL's verdict and checks (not ready when it does not answer)."""
    try:
        response = httpx.get(url, timeout=2)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return False, {"probe": f"no answer ({type(exc).__name__})"}
    checks = body.get("checks", {}) if isinstance(body, dict) else {}
    return response.status_code == 200, {k: str(v) for k, v in checks.items()}
