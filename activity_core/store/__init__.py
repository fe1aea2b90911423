"""The SQL store (floor 2): the definitions registry and the run ledger.

SQLAlchemy 2 (async) on SQLite by default (``.actcore/actcore.db``) or PostgreSQL in
production (``ACTCORE_DB_URL``), with Alembic migrations shipped in ``migrations/``. The
ledger is a projection of Temporal: written by the runs' own local activities and by
reconciliation from visibility, never able to fail or stall a run.
"""

from activity_core.store.engine import Store, redact
from activity_core.store.ledger import Ledger
from activity_core.store.registry import ImportResult, Registry, StoredDefinition

__all__ = ["ImportResult", "Ledger", "Registry", "Store", "StoredDefinition", "redact"]
