"""Reference State Hub: stdlib HTTP server + SQLite, with switchable fault injection.

Implements the contract in ``docs/state-hub-contract.md``. Two listeners:

* the API port (``/progress/``, ``/health``), which the fault modes act on;
  ``refuse`` really closes this listening socket, so clients see connection refused;
* the admin port (``/fault``, ``/stats``), which is never faulted, so a fault can
  always be switched off again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from activity_core.dev.statehub_issues import answer as issue_answer
from activity_core.dev.statehub_store import FAULT_MODES, Fault, Stats, Store
from activity_core.dev.statehub_tasks import (
    consistency_sweep,
    demo_items,
    now_utc,
    recently_on_scope,
)
from activity_core.domain.signing import signing_keys, verify

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: StateHub


class _ApiHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.hub.track(self.connection, True)

    def finish(self) -> None:
        self.server.hub.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("statehub %s", format % args)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _fault(self) -> bool:
        """Apply the active fault; True when the request was answered by it."""
        hub = self.server.hub
        fault = hub.fault
        if fault.path is not None and not urlparse(self.path).path.startswith(fault.path):
            return False
        if not hub.fault_due():
            return False
        if fault.mode == "slow":
            time.sleep(fault.delay)
            return False
        if fault.mode == "409":
            hub.stats.bump("fault_409")
            self._send(409, {"detail": "already have it (injected)"})
            return True
        if fault.mode == "malformed":
            hub.stats.bump("fault_malformed")
            data = b"<html>not json"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return True
        if fault.mode == "echo":
            # A careless sink that repeats the request in its error (tokens included).
            hub.stats.bump("fault_echo")
            auth = self.headers.get("Authorization", "")
            self._send(400, {"detail": f"bad request, you sent {auth} with {dict(self.headers)}"})
            return True
        if fault.mode in ("500", "503", "429", "400"):
            status = int(fault.mode)
            headers = {}
            if fault.retry_after is not None and status in (503, 429):
                headers["Retry-After"] = str(fault.retry_after)
            hub.stats.bump(f"fault_{status}")
            self._send(status, {"detail": f"injected fault {status}"}, headers)
            return True
        return False

    def _signed(self, raw: bytes) -> bool:
        keys = self.server.hub.signing_keys
        if not keys:
            return True
        headers = {k.lower(): v for k, v in self.headers.items()}
        problem = verify(headers, raw, keys, time.time())
        if problem is None:
            return True
        self.server.hub.stats.bump("unsigned")
        self._send(401, {"detail": f"signature check failed: {problem}"})
        return False

    def _authorised(self) -> bool:
        token = self.server.hub.token
        if token is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {token}":
            return True
        self.server.hub.stats.bump("unauthorised")
        self._send(401, {"detail": "missing or wrong bearer token"})
        return False

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/health":
            if not self._fault():
                self._send(200, {"status": "ok"})
            return
        if url.path in ("/progress", "/progress/"):
            if self._fault() or not self._authorised():
                return
            q = parse_qs(url.query)
            event_type = q["event_type"][0] if "event_type" in q else None
            since = q["since"][0] if "since" in q else None
            events = self.server.hub.store.list(event_type, since)
            self._send(200, events)
            return
        if url.path in ("/issues", "/issues/"):
            if self._fault() or not self._authorised():
                return
            self._send(200, self.server.hub.store.issues.all())
            return
        if url.path in ("/tasks", "/tasks/") or url.path.startswith("/resolvers/"):
            if self._fault() or not self._authorised():
                return
            self._get_tasks(url.path.rstrip("/"), parse_qs(url.query))
            return
        self._send(404, {"detail": "not found"})

    def _get_tasks(self, path: str, q: dict[str, list[str]]) -> None:
        hub = self.server.hub
        hub.stats.bump(path)
        items = hub.store.tasks.all()
        if path == "/tasks":
            self._send(200, items)
        elif path == "/resolvers/recently_on_scope":
            try:
                days = float(q.get("days", ["7"])[0])
            except ValueError:
                self._send(400, {"detail": "days must be a number"})
                return
            scope = q.get("scope", ["all"])[0]
            self._send(200, recently_on_scope(items, scope, days, now_utc()))
        elif path == "/resolvers/consistency_sweep":
            self._send(200, consistency_sweep(items))
        else:
            self._send(404, {"detail": f"no resolver {path.rsplit('/', 1)[-1]!r}"})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        hub = self.server.hub
        hub.stats.bump("post")
        if url.path in ("/issues", "/issues/"):
            self._post_issue(raw)
            return
        if url.path not in ("/progress", "/progress/"):
            self._send(404, {"detail": "not found"})
            return
        if self._fault() or not self._authorised() or not self._signed(raw):
            return
        try:
            event = json.loads(raw or b"null")
        except ValueError:
            event = None
        problem = _validate(event)
        if problem:
            hub.stats.bump("rejected")
            self._send(400, {"detail": problem})
            return
        key = self.headers.get("Idempotency-Key")
        roll = hub.roll() if hub.fault.mode == "flaky" else 1.0
        if roll < hub.fault.rate / 2:
            hub.stats.bump("fault_flaky_503")
            self._send(503, {"detail": "injected flaky 503"})
            return
        created, event_id = hub.store.add(key, event)
        if roll < hub.fault.rate:
            # Stored, but the connection drops before the answer: the client must retry
            # and be told 409 next time.
            hub.stats.bump("fault_flaky_drop")
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if created:
            hub.stats.bump("created")
            self._send(201, {"id": event_id, "idempotency_key": key})
        else:
            hub.stats.bump("duplicate")
            self._send(409, {"detail": "already have it", "id": event_id, "idempotency_key": key})

    def _post_issue(self, raw: bytes) -> None:
        hub = self.server.hub
        if self._fault() or not self._authorised():
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        status, answer = issue_answer(hub.store.issues, body, self.headers.get("Idempotency-Key"))
        outcome = {201: "created", 200: "existing", 422: "rejected"}.get(status, str(status))
        if status == 200 and answer.get("dry_run"):
            outcome = "dry_run"
        hub.stats.bump(f"issues_{outcome}")
        self._send(status, answer)


def _validate(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "body must be a JSON object with event_type, summary and detail"
    if not isinstance(event.get("event_type"), str) or not event["event_type"]:
        return "event_type must be a non-empty string"
    if not isinstance(event.get("summary"), str):
        return "summary must be a string"
    if not isinstance(event.get("detail"), dict):
        return "detail must be an object"
    return None


class _AdminHandler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("statehub admin %s", format % args)

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        hub = self.server.hub
        if self.path == "/fault":
            self._send(200, hub.fault.__dict__)
        elif self.path == "/stats":
            with hub.stats.lock:
                self._send(200, dict(hub.stats.counts))
        else:
            self._send(404, {"detail": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            self.server.hub.set_fault(
                str(body.get("mode", "none")),
                retry_after=body.get("retry_after"),
                delay=float(body.get("delay", 30.0)),
                rate=float(body.get("rate", 0.5)),
                after=int(body.get("after", 0)),
                path=body.get("path"),
            )
        except (ValueError, TypeError) as exc:
            self._send(400, {"detail": str(exc)})
            return
        self._send(200, self.server.hub.fault.__dict__)


class StateHub:
    """The reference State Hub, runnable in-process (tests) or as ``actcore statehub serve``."""

    def __init__(
        self,
        db: Path | str = ":memory:",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_port: int = 0,
        token: str | None = None,
        seed_demo: bool = False,
        signing_secret: str | None = None,
    ) -> None:
        """Create (not yet started).

        Args:
            db: SQLite file (``:memory:`` for a throwaway hub).
            host: Interface to bind.
            port: API port (0 picks a free one; it is kept across ``refuse``).
            admin_port: Fault-control port (0 picks a free one).
            token: Bearer token to require, if any.
            seed_demo: Load the demo work items when the store has none.
            signing_secret: ``whsec_...`` secrets: progress posts must carry a valid
                Standard Webhooks signature and a fresh timestamp (else 401).
        """
        self.store = Store(db)
        if seed_demo and self.store.tasks.count() == 0:
            self.store.tasks.put(demo_items(now_utc()))
        self.host = host
        self.port = port
        self.token = token
        self.signing_keys = signing_keys(signing_secret) if signing_secret else []
        self.fault = Fault()
        self._let_through = 0
        self.stats = Stats()
        self._rng = random.Random(1)
        self._rng_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._api: _Server | None = None
        self._api_thread: threading.Thread | None = None
        self._admin = _Server((host, admin_port), _AdminHandler)
        self._admin.hub = self
        self.admin_port = self._admin.server_address[1]
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        """Base URL of the fault-control API."""
        return f"http://{self.host}:{self.admin_port}"

    def start(self) -> StateHub:
        """Start both listeners in background threads."""
        threading.Thread(target=self._admin.serve_forever, args=(0.05,), daemon=True).start()
        self._open_api()
        return self

    def _open_api(self) -> None:
        if self._api is not None:
            return
        api = _Server((self.host, self.port), _ApiHandler)
        api.hub = self
        self.port = api.server_address[1]
        self._api = api
        self._api_thread = threading.Thread(target=api.serve_forever, args=(0.05,), daemon=True)
        self._api_thread.start()

    def track(self, conn: socket.socket, alive: bool) -> None:
        """Remember open client connections, so ``refuse`` can cut them like an outage."""
        with self._rng_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _close_api(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            api.shutdown()
            api.server_close()
        with self._rng_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:  # a real outage also kills keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def fault_due(self) -> bool:
        """Whether the active fault acts on this request (``after`` lets some through)."""
        with self._rng_lock:
            if self._let_through > 0:
                self._let_through -= 1
                return False
        return True

    def roll(self) -> float:
        """A random number for ``flaky`` (seeded: runs are repeatable)."""
        with self._rng_lock:
            return self._rng.random()

    def set_fault(
        self,
        mode: str,
        *,
        retry_after: int | None = None,
        delay: float = 30.0,
        rate: float = 0.5,
        after: int = 0,
        path: str | None = None,
    ) -> None:
        """Switch the fault mode while running (``refuse`` closes the API socket).

        ``after``: let that many requests through first; ``path``: fault only requests
        whose path starts with it (neither applies to ``refuse``, which closes the port).
        """
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; choose one of {', '.join(FAULT_MODES)}")
        if mode == "refuse" and (after or path):
            raise ValueError("refuse closes the whole port: it takes neither after nor path")
        if after < 0:
            raise ValueError("after must be 0 or more")
        with self._lock:
            self.fault = Fault(mode, retry_after, delay, rate, after, path)
            self._let_through = after
            if mode == "refuse":
                self._close_api()
            else:
                self._open_api()
        log.info("statehub fault set", extra={"mode": mode, "retry_after": retry_after})

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Stored events (direct store access, not through HTTP)."""
        return self.store.list(event_type)

    def stop(self) -> None:
        """Stop both listeners and close the store."""
        with self._lock:
            self._close_api()
        self._admin.shutdown()
        self._admin.server_close()
        self.store.close()
