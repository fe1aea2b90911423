"""The reference State Hub's state: the active fault, request counters and the SQLite
store of progress events (each idempotency key stored once) and work items."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from activity_core.dev.statehub_issues import IssueStore
from activity_core.dev.statehub_tasks import TaskStore

FAULT_MODES = (
    "none",
    "refuse",
    "500",
    "503",
    "429",
    "slow",
    "400",
    "409",
    "malformed",
    "flaky",
    "echo",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS progress (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT UNIQUE,
    event_type TEXT NOT NULL,
    summary TEXT NOT NULL,
    detail TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS progress_type_time ON progress (event_type, received_at);
"""


@dataclass
class Fault:
    """The active fault."""

    mode: str = "none"
    """One of :data:`FAULT_MODES`."""
    retry_after: int | None = None
    """``Retry-After`` seconds sent with 503/429."""
    delay: float = 30.0
    """Seconds a ``slow`` response takes."""
    rate: float = 0.5
    """``flaky``: share of POSTs that fail (half 503, half dropped after storing)."""
    after: int = 0
    """Requests let through before the fault acts (a failure in the middle of a batch)."""
    path: str | None = None
    """Only requests whose path starts with this are faulted (e.g. ``/issues``)."""


@dataclass
class Stats:
    """Request counters (for tests and benchmarks)."""

    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    post_times: list[float] = field(default_factory=list)
    """Monotonic arrival time of every POST (for peak-rate measurements)."""

    def bump(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1
            if key == "post":
                self.post_times.append(time.monotonic())

    def peak_rate(self, window: float = 1.0) -> int:
        """Most POSTs seen in any ``window`` seconds."""
        with self.lock:
            times = sorted(self.post_times)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] > window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


class Store:
    """SQLite-backed progress events; each idempotency key is stored once."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.tasks = TaskStore(self._db, self._lock)
        self.issues = IssueStore(self._db, self._lock)

    def add(self, key: str | None, event: dict[str, Any]) -> tuple[bool, int]:
        """Store an event. Returns (created, id); created is False for a known key."""
        now = datetime.now(UTC).isoformat()
        with self._lock:
            if key is not None:
                row = self._db.execute(
                    "SELECT id FROM progress WHERE idempotency_key = ?", (key,)
                ).fetchone()
                if row:
                    return False, int(row[0])
            cur = self._db.execute(
                "INSERT INTO progress (idempotency_key, event_type, summary, detail, received_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, event["event_type"], event["summary"], json.dumps(event["detail"]), now),
            )
            return True, int(cur.lastrowid or 0)

    def list(self, event_type: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
        """Events, oldest first, optionally filtered."""
        sql = "SELECT id, idempotency_key, event_type, summary, detail, received_at FROM progress"
        clauses: list[str] = []
        args: list[str] = []
        if event_type:
            clauses.append("event_type = ?")
            args.append(event_type)
        if since:
            clauses.append("received_at >= ?")
            args.append(since)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [
            {
                "id": r[0],
                "idempotency_key": r[1],
                "event_type": r[2],
                "summary": r[3],
                "detail": json.loads(r[4]),
                "received_at": r[5],
            }
            for r in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()
