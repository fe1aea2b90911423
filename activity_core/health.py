"""Liveness and readiness of a long-running process, for Kubernetes probes.

Every role (worker, watchdog, router) serves, on ``ACTCORE_HEALTH_BIND_ADDR``:

- ``GET /healthz``: 200 while the process and its event loop are alive (the answer comes
  from the loop itself; a loop blocked for longer than ``BLOCKED_AFTER_S`` says so with
  503, so a liveness probe restarts a wedged process);
- ``GET /readyz``: 200 when every check of the role passes (Temporal reachable, pollers
  running, the database reachable when the store is on, NATS connected for the router),
  503 with the failing checks otherwise, and 503 at once from the moment the process
  begins to drain (SIGTERM), so no load balancer or rollout waits on a process that is
  leaving.

The answer is JSON: ``{"role": ..., "ready": bool, "draining": bool, "checks": {name:
"ok" | why}}``. Checks run concurrently, each with a timeout, and their result is kept
for ``cache_seconds`` so a probe storm costs one round of checks.

The two paths are fixed GET requests with no body: a small asyncio server answers them
(uvicorn would take over the process's signal handlers, which the drain owns).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

from temporalio.client import Client

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[str | None]]
"""A readiness check: None (or "ok") when fine, else a short reason. Raising is a failure
named by the exception's type."""

CHECK_TIMEOUT_S = 2.0
BLOCKED_AFTER_S = 10.0
TICK_S = 1.0
MAX_REQUEST_BYTES = 8192


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) into its parts.

    Raises:
        ValueError: Not ``host:port`` with a port number.
    """
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{bind!r} is not host:port (e.g. 0.0.0.0:8081)")
    return host.strip("[]") or "0.0.0.0", int(port)


async def _starting() -> str:
    return "starting"


def temporal_check(client: Callable[[], Awaitable[Client]]) -> Check:
    """Temporal's frontend answers its health check (``client``: the client, possibly
    connected on first use)."""

    async def temporal() -> str | None:
        connected = await client()
        return None if await connected.service_client.check_health() else "not serving"

    return temporal


def ping_check(ping: Callable[[], Awaitable[object]]) -> Check:
    """``ping`` returns (the database's ``SELECT 1``); its failure is the reason."""

    async def check() -> str | None:
        await ping()
        return None

    return check


class Health:
    """The probes of one process: its checks, its drain flag and its HTTP listener."""

    def __init__(self, role: str, *, cache_seconds: float = 1.0) -> None:
        self.role = role
        self.checks: dict[str, Check] = {"startup": _starting}
        """Until :meth:`serving`, the one check is "starting"."""
        self.draining = False
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, dict[str, str]] | None = None
        self._last_tick = time.monotonic()
        self._ticker: asyncio.Task[None] | None = None
        self._server: asyncio.Server | None = None
        self._round: asyncio.Task[dict[str, str]] | None = None

    def add(self, name: str, check: Check) -> None:
        """Add a readiness check."""
        self.checks[name] = check

    def serving(self) -> None:
        """Start-up is over: the added checks decide from now on."""
        self.checks.pop("startup", None)
        self._cached = self._round = None

    def drain(self) -> None:
        """Not ready from now on (the process is stopping)."""
        if not self.draining:
            log.info("draining: readiness is false from now on", extra={"role": self.role})
        self.draining = True

    async def _run_check(self, check: Check) -> str:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                why = await check()
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT_S:g} s"
        except Exception as exc:
            return f"failed ({type(exc).__name__})"
        return "ok" if why in (None, "ok") else str(why)

    async def results(self) -> dict[str, str]:
        """Every check's result: one round at a time (concurrent probes share it), kept
        for ``cache_seconds``."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self._cache_seconds:
            return self._cached[1]
        if self._round is None or self._round.done():
            self._round = asyncio.create_task(self._check_all())
        return await asyncio.shield(self._round)

    async def _check_all(self) -> dict[str, str]:
        names = list(self.checks)
        outcomes = await asyncio.gather(*(self._run_check(self.checks[n]) for n in names))
        results = dict(zip(names, outcomes, strict=True))
        self._cached = (time.monotonic(), results)
        return results

    async def ready(self) -> tuple[bool, dict[str, object]]:
        """Whether the process is ready, and the body that says why."""
        checks = await self.results()
        ready = not self.draining and all(v == "ok" for v in checks.values())
        return ready, {
            "role": self.role,
            "ready": ready,
            "draining": self.draining,
            "checks": checks,
        }

    def alive(self) -> tuple[bool, dict[str, object]]:
        """Whether the event loop has been turning (the ticker ran lately)."""
        lag = time.monotonic() - self._last_tick
        ok = lag < BLOCKED_AFTER_S
        return ok, {"role": self.role, "alive": ok, "loop_lag_seconds": round(lag, 3)}

    async def _tick(self) -> None:
        while True:
            self._last_tick = time.monotonic()
            await asyncio.sleep(TICK_S)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        method, path = (line[0], line[1]) if len(line) >= 2 else ("", "")
        path = path.split("?", 1)[0]
        body: dict[str, object]
        if method not in ("GET", "HEAD"):
            status, body = 405, {"error": "only GET"}
        elif path == "/healthz":
            ok, body = self.alive()
            status = 200 if ok else 503
        elif path == "/readyz":
            ok, body = await self.ready()
            status = 200 if ok else 503
        else:
            status, body = 404, {"error": "not found", "paths": ["/healthz", "/readyz"]}
        payload = json.dumps(body).encode()
        reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(
            status, "Service Unavailable"
        )
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n\r\n".encode()
            + (b"" if method == "HEAD" else payload)
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def start(self, bind: str | None) -> None:
        """Listen on ``bind`` (``host:port``); nothing when unset. A start after a stop
        (an app served again) is no longer draining.

        Raises:
            OSError: The address is taken (the process must not start half-observable).
        """
        self.draining = False
        if bind:
            host, port = parse_bind(bind)
            try:
                self._server = await asyncio.start_server(
                    self._answer, host, port, limit=MAX_REQUEST_BYTES
                )
            except OSError as exc:
                raise OSError(
                    exc.errno, f"health endpoint ACTCORE_HEALTH_BIND_ADDR={bind}: {exc.strerror}"
                ) from None
            log.info("health endpoint", extra={"bind": bind, "paths": ["/healthz", "/readyz"]})
        self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        """Close the listener and the ticker."""
        if self._ticker is not None:
            self._ticker.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
