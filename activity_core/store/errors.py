"""What a database that is down, unreachable or locked raises, for callers that degrade."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

STORE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, OSError, TimeoutError)
