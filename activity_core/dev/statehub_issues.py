"""Reference issue-core, served by the reference State Hub: ``POST /issues/`` creates an
issue or gets the one with the same ``Idempotency-Key``, ``dry_run`` checks and stores
nothing, and refusals use the contract's error shape (``docs/issue-core-contract.md``)."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT UNIQUE NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""
KEY = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,199}$")
PRIORITIES = ("urgent", "high", "normal", "low")


def contract_error(code: str, message: str, field: str | None) -> dict[str, Any]:
    """The contract's error body."""
    return {"error": {"code": code, "message": message, "field": field}}


def validate_issue(body: Any, idempotency_key: str | None) -> dict[str, Any] | None:
    """The contract error for a request that breaks it, or None."""
    if not idempotency_key:
        return contract_error("missing_header", "Idempotency-Key is required", "Idempotency-Key")
    if not isinstance(body, dict):
        return contract_error("invalid", "the body must be a JSON object", None)
    checks: list[tuple[str, bool, str]] = [
        ("key", isinstance(body.get("key"), str) and bool(KEY.match(body["key"])), "a task key"),
        (
            "title",
            isinstance(body.get("title"), str) and 0 < len(body["title"].strip()) <= 300,
            "a non-empty string of at most 300 characters",
        ),
        ("body", isinstance(body.get("body", ""), str), "a string"),
        (
            "labels",
            isinstance(body.get("labels", []), list)
            and all(isinstance(x, str) for x in body.get("labels", [])),
            "a list of strings",
        ),
        ("priority", body.get("priority", "normal") in PRIORITIES, f"one of {PRIORITIES}"),
        (
            "links",
            isinstance(body.get("links", []), list)
            and all(isinstance(x, dict) for x in body.get("links", [])),
            "a list of objects",
        ),
        ("dry_run", isinstance(body.get("dry_run", False), bool), "true or false"),
    ]
    for field, ok, expected in checks:
        if not ok:
            return contract_error("invalid", f"{field} must be {expected}", field)
    return None


class IssueStore:
    """Issues in SQLite, one per idempotency key."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock
        with lock:
            db.executescript(SCHEMA)

    def find(self, idempotency_key: str) -> dict[str, Any] | None:
        """The issue filed under this key, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, key, body, created_at FROM issues WHERE idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
        return _issue(row) if row else None

    def create_or_get(
        self, idempotency_key: str, body: dict[str, Any]
    ) -> tuple[bool, dict[str, Any]]:
        """(created, issue): the existing issue when the key is known (left unchanged)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, key, body, created_at FROM issues WHERE idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
            if row:
                return False, _issue(row)
            stored = {k: v for k, v in body.items() if k != "dry_run"}
            now = datetime.now(UTC).isoformat()
            cur = self._db.execute(
                "INSERT INTO issues (idempotency_key, key, body, created_at) VALUES (?, ?, ?, ?)",
                (idempotency_key, body["key"], json.dumps(stored), now),
            )
            return True, _issue((cur.lastrowid, body["key"], json.dumps(stored), now))

    def all(self) -> list[dict[str, Any]]:
        """Every issue, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, key, body, created_at FROM issues ORDER BY id"
            ).fetchall()
        return [_issue(r) for r in rows]


def _issue(row: tuple[Any, ...]) -> dict[str, Any]:
    body = json.loads(row[2])
    return {
        "id": f"ISS-{int(row[0])}",
        "key": row[1],
        "url": f"/issues/ISS-{int(row[0])}",
        "title": body.get("title"),
        "priority": body.get("priority", "normal"),
        "labels": body.get("labels", []),
        "links": body.get("links", []),
        "source": body.get("source", {}),
        "created_at": row[3],
    }


def answer(store: IssueStore, body: Any, idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of ``POST /issues/``."""
    problem = validate_issue(body, idempotency_key)
    if problem is not None:
        return 422, problem
    assert idempotency_key is not None and isinstance(body, dict)
    if body.get("dry_run"):
        existing = store.find(idempotency_key)
        return 200, {
            "dry_run": True,
            "key": body["key"],
            "would_create": existing is None,
            "id": existing["id"] if existing else None,
        }
    created, issue = store.create_or_get(idempotency_key, body)
    return (201 if created else 200), {**issue, "created": created}
