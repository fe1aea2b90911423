"""Bearer tokens: who may read and who may write.

- Writes need a write token (``ACTCORE_API_TOKEN``, comma-separated, or
  ``ACTCORE_API_TOKEN_FILE``, one per line; several at once so tokens can be rotated).
- Reads need a read or write token (``ACTCORE_API_READ_TOKEN``), unless
  ``ACTCORE_API_READ_OPEN=true``.
- No or an unknown token: 401 with ``WWW-Authenticate: Bearer``. A read-only token on a
  write: 403. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request, status

Access = Literal["read", "write"]


@dataclass(frozen=True)
class Tokens:
    """The tokens of one API process."""

    write: tuple[str, ...]
    read: tuple[str, ...]
    read_open: bool

    def grant(self, presented: str | None) -> Access | None:
        """What a presented token may do (None: nothing), compared in constant time."""
        if not presented:
            return None
        candidate = presented.encode()
        is_write = any(hmac.compare_digest(candidate, t.encode()) for t in self.write)
        is_read = any(hmac.compare_digest(candidate, t.encode()) for t in self.read)
        return "write" if is_write else "read" if is_read else None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def check(request: Request, need: Access) -> str:
    """Allow the request or raise 401/403; returns who is acting (for ``updated_by``)."""
    tokens: Tokens = request.app.state.tokens
    presented = _bearer(request)
    granted = tokens.grant(presented)
    if need == "read" and (granted is not None or tokens.read_open):
        return "api (read)"
    if granted == "write":
        return "api (token)"
    if presented and granted == "read":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this token may only read")
    if not tokens.write and need == "write":
        raise _unauthorized("writes are off: no ACTCORE_API_TOKEN is configured")
    raise _unauthorized("a valid bearer token is required (Authorization: Bearer <token>)")


def can_read(request: Request) -> str:
    """FastAPI dependency for read routes."""
    return check(request, "read")


def can_write(request: Request) -> str:
    """FastAPI dependency for write routes."""
    return check(request, "write")
