"""The REST API (FastAPI on uvicorn, ``actcore api``, port 8010)."""

from activity_core.api.app import create_app

__all__ = ["create_app"]
