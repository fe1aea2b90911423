"""The request-body door: every body the API reads is checked here once, before any route
sees it, as strictly as the file door checks a definition file.

- over ``ACTCORE_API_MAX_BODY_BYTES`` (declared or sent): 413;
- a JSON body in a charset other than UTF-8 (``application/json; charset=latin-1``), or
  bytes that are not UTF-8 (a UTF-16 body, a byte-order mark): 415;
- the same key twice in one object (JSON leaves that open; the last would silently win):
  422 with the key's path, as for any other bad field.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

WRITES = ("POST", "PUT", "PATCH")


class DuplicateKey(ValueError):
    """A JSON object names a key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


MARK = "\0duplicate"


def _where(text: str) -> list[str | int]:
    """The path of the first key given twice (a second parse that marks each object
    holding one, then a walk to the first mark; only on the error path)."""

    def mark(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out and MARK not in out:
                out[MARK] = key
            out[key] = value
        return out

    def find(value: Any, at: list[str | int]) -> list[str | int] | None:
        if isinstance(value, dict):
            if MARK in value:
                return [*at, value[MARK]]
            items: list[tuple[str | int, Any]] = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            return None
        for k, v in items:
            found = find(v, [*at, k])
            if found is not None:
                return found
        return None

    return find(json.loads(text, object_pairs_hook=mark), []) or []


def body_problem(content_type: str, body: bytes) -> JSONResponse | None:
    """What is wrong with a request body (None: nothing the routes cannot judge)."""
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if not body or not (media == "application/json" or media.endswith("+json")):
        return None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return JSONResponse(
                {"detail": f"charset {value.strip()!r}: JSON bodies are UTF-8 (RFC 8259)"},
                status_code=415,
            )
    try:
        text = body.decode("utf-8")
        if text.startswith("\ufeff"):
            raise UnicodeDecodeError("utf-8", body, 0, 3, "byte-order mark")
    except UnicodeDecodeError:
        return JSONResponse(
            {"detail": "the body is not UTF-8: send JSON encoded as UTF-8, without a BOM"},
            status_code=415,
        )
    try:
        json.loads(text, object_pairs_hook=_no_duplicates)
    except DuplicateKey as dup:
        where = _where(text) or [dup.key]
        return JSONResponse(
            {
                "detail": [
                    {
                        "loc": ["body", *where],
                        "msg": f"key {dup.key!r} appears twice in one object: give it once",
                        "type": "duplicate_key",
                    }
                ]
            },
            status_code=422,
        )
    except ValueError:
        return None  # not JSON at all: the route answers 422 with the position
    return None


class BodyDoor(BaseHTTPMiddleware):
    """413, 415 or 422 for a body no route should read (see the module docstring)."""

    def __init__(self, app: Any, limit: int) -> None:
        super().__init__(app)
        self.limit = limit

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        declared = request.headers.get("content-length")
        too_big = JSONResponse(
            {"detail": f"request body over {self.limit} bytes"},
            status_code=413,
        )
        if declared is not None and (
            not (declared.isascii() and declared.isdigit()) or int(declared) > self.limit
        ):
            return too_big
        if request.method in WRITES:
            body = await request.body()
            if len(body) > self.limit:
                return too_big
            problem = body_problem(request.headers.get("content-type", ""), body)
            if problem is not None:
                return problem
        return await call_next(request)
