"""Work items of the reference State Hub: storage, seeded demo data and the resolvers.

``recently_on_scope`` returns the items of a scope (a workstream, or ``all``) touched
within a window; ``consistency_sweep`` returns items whose fields contradict each other.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
"""

FIELDS = (
    "id",
    "title",
    "workstream",
    "status",
    "owner",
    "business_value",
    "time_criticality",
    "risk_reduction",
    "job_size",
    "blocked",
    "updated_at",
    "tags",
)

WORKSTREAMS = ("platform", "billing", "onboarding", "data")
_VERBS = ("Migrate", "Fix", "Document", "Automate", "Retire", "Harden", "Measure", "Split")
_NOUNS = (
    "invoice export",
    "login flow",
    "nightly backup",
    "search index",
    "alert routing",
    "SSO provider",
    "usage report",
    "retry queue",
    "schema registry",
)
_FIB = (1, 2, 3, 5, 8, 13)


class TaskStore:
    """Work items in SQLite (one JSON document per item)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock
        with lock:
            db.executescript(SCHEMA)

    def put(self, items: list[dict[str, Any]]) -> None:
        """Insert or replace items (by id)."""
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO tasks (id, body) VALUES (?, ?)",
                [(str(i["id"]), json.dumps(i)) for i in items],
            )

    def all(self) -> list[dict[str, Any]]:
        """Every item, by id."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM tasks ORDER BY id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])


def demo_items(now: datetime, count: int = 36, seed: int = 7) -> list[dict[str, Any]]:
    """A deterministic demo data set across several workstreams, with some rough edges."""
    rng = random.Random(seed)
    items = []
    for n in range(count):
        workstream = WORKSTREAMS[n % len(WORKSTREAMS)]
        status = rng.choice(("todo", "todo", "in_progress", "in_progress", "blocked", "done"))
        item: dict[str, Any] = {
            "id": f"T-{n + 1:03d}",
            "title": f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)}",
            "workstream": workstream,
            "status": status,
            "owner": rng.choice(("ana", "ben", "chen", "dara", None)),
            "business_value": rng.choice((1, 2, 3, 5, 8, 13, 20)),
            "time_criticality": rng.choice((1, 2, 3, 5, 8, 13)),
            "risk_reduction": rng.choice((1, 2, 3, 5, 8)),
            "job_size": rng.choice(_FIB),
            "blocked": status == "blocked",
            "updated_at": (now - timedelta(days=rng.choice((0, 1, 2, 4, 9, 20, 45)))).isoformat(),
            "tags": sorted(rng.sample(("customer", "infra", "security", "debt", "q4"), 2)),
        }
        if n % 9 == 4:
            item["job_size"] = None  # missing estimate
        if n % 11 == 6:
            item["status"], item["blocked"] = "done", True  # done with an open blocker
        items.append(item)
    return items


def recently_on_scope(
    items: list[dict[str, Any]], scope: str, days: float, now: datetime
) -> list[dict[str, Any]]:
    """Items of ``scope`` (a workstream, or ``all``) updated within ``days`` of ``now``."""
    since = now - timedelta(days=days)
    return [
        i
        for i in items
        if (scope == "all" or i.get("workstream") == scope)
        and datetime.fromisoformat(i["updated_at"]) >= since
    ]


def consistency_sweep(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items whose fields contradict each other, each with the problems found."""
    out = []
    for i in items:
        problems = []
        if i.get("status") == "done" and i.get("blocked"):
            problems.append("done but still blocked")
        if i.get("status") != "done" and not i.get("job_size"):
            problems.append("no job size estimate")
        if i.get("status") == "in_progress" and not i.get("owner"):
            problems.append("in progress without an owner")
        if i.get("status") == "blocked" and not i.get("blocked"):
            problems.append("status blocked but not flagged blocked")
        if problems:
            out.append({"id": i["id"], "title": i.get("title"), "problems": problems})
    return out


def now_utc() -> datetime:
    return datetime.now(UTC)
