"""Property-based requests against the app's own OpenAPI schema (schemathesis): whatever
the input, no 5xx, and every documented response matches its schema.

The app runs on a dev server and a NATS server of its own (random definitions may create
schedules, random events are published) and a migrated SQLite store; requests carry the
write token, so writes are exercised too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from activity_core.api import create_app
from activity_core.settings import Settings
from activity_core.store import Store, migrate
from tests.events.conftest import NatsServer
from tests.helpers import RestartableServer

TOKEN = "fuzz-token-0123456789"


async def _migrate(url: str) -> None:
    store = Store(url)
    await migrate.upgrade(store)
    await store.close()


WORK = Path(tempfile.mkdtemp(prefix="actcore-fuzz-"))
DB_URL = f"sqlite+aiosqlite:///{WORK / 'fuzz.db'}"
BROKER = NatsServer(WORK / "nats")
APP = create_app(
    Settings(
        home=WORK,
        definitions_dir=WORK,
        working_memory_dir=WORK / "notes",
        db_url=DB_URL,
        api_token=TOKEN,
        api_read_open=True,
        nats_port=BROKER.port,
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def fuzz_server() -> Iterator[None]:
    """A dev server, NATS and a migrated store of this module's own."""
    BROKER.start()
    server = RestartableServer(WORK / "temporal.db")
    asyncio.run(server.start())
    asyncio.run(_migrate(DB_URL))
    previous = os.environ.get("TEMPORAL_ADDRESS")
    os.environ["TEMPORAL_ADDRESS"] = server.address
    yield
    server.stop()
    BROKER.stop()
    if previous is None:
        os.environ.pop("TEMPORAL_ADDRESS", None)
    else:
        os.environ["TEMPORAL_ADDRESS"] = previous
    shutil.rmtree(WORK, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_error_and_responses_match_the_schema(case: Any) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
