"""Events through the API: publish (auth, validation, dedup by event id), the router's
state, and event definitions that must name a registered type."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activity_core.domain.events import EventType
from activity_core.store import Registry, Store
from tests.api.conftest import WRITE, ApiFactory
from tests.events.conftest import NatsServer, define_event_type, launch_router
from tests.events.test_router import listen, runs_of
from tests.helpers import Stack, assert_eventually, running_stack


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


async def test_publish_starts_a_run_once_per_event_id(
    api_factory: ApiFactory, env: WorkflowEnvironment, broker: NatsServer, tmp_path: Path
) -> None:
    async with running_stack(env, env.client, tmp_path / "worker") as stack:
        await _publish_and_route(api_factory, stack, broker)


async def _publish_and_route(api_factory: ApiFactory, stack: Stack, broker: NatsServer) -> None:
    define_event_type(stack, "user.created")
    name = f"api-ev-{uuid.uuid4().hex[:6]}"
    listen(stack, name, tier="pro")
    running = await launch_router(stack, broker)
    try:
        async with api_factory(nats_port=broker.port) as http:
            body = {"type": "user.created", "payload": {"tier": "pro"}, "event_id": "signup-42"}
            refused = await http.post("/events/", json=body)
            assert refused.status_code == 401
            http.headers["Authorization"] = f"Bearer {WRITE}"
            first = await http.post("/events/", json=body)
            assert first.status_code == 202, first.text
            assert first.json()["subject"] == "activity.user.created"
            assert first.json()["duplicate"] is False
            again = await http.post("/events/", json=body)
            assert again.json()["duplicate"] is True
            assert again.json()["stream_sequence"] == first.json()["stream_sequence"]

            bad = await http.post("/events/", json={"type": "User Created", "payload": {}})
            assert bad.status_code == 422
            assert "type" in bad.text

            async def one_run() -> None:
                assert await runs_of(stack, name) == [f"activity-run-{name}-event-signup-42"]

            await assert_eventually(one_run)
            state = (await http.get("/events/router")).json()
            assert state["state"] == "ok" and state["waiting"] >= 1
    finally:
        await running.close()


async def test_publish_without_nats_is_503_and_says_nothing_was_published(
    api_factory: ApiFactory,
) -> None:
    async with api_factory(nats_port=1) as http:
        http.headers["Authorization"] = f"Bearer {WRITE}"
        answer = await http.post("/events/", json={"type": "user.created", "payload": {}})
    assert answer.status_code == 503
    assert "nothing was published" in answer.json()["detail"]


async def test_an_event_definition_must_name_a_registered_type(
    api_factory: ApiFactory, tmp_path: Path
) -> None:
    body = {
        "name": "on-signup",
        "handler": "static_report",
        "trigger_config": {"trigger_type": "event", "event_type": "user.created"},
    }
    async with api_factory() as http:
        http.headers["Authorization"] = f"Bearer {WRITE}"
        refused = await http.post("/activity-definitions/", json=body)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "trigger_config", "event_type"]
        assert "unknown event type 'user.created'" in refused.text
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
        try:
            await Registry(store).import_files(
                [], {}, "test", event_types=[EventType(name="user.created")]
            )
        finally:
            await store.close()
        created = await http.post("/activity-definitions/", json=body)
        assert created.status_code == 201, created.text


async def test_publish_refuses_control_characters_with_the_field(api_factory: ApiFactory) -> None:
    async with api_factory() as http:
        http.headers["Authorization"] = f"Bearer {WRITE}"
        answer = await http.post(
            "/events/", json={"type": "user.created", "payload": {}, "source": "a\nb"}
        )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "source"]


async def test_non_ascii_digits_are_not_numbers_anywhere(api_factory: ApiFactory) -> None:
    async with api_factory() as http:
        http.headers["Authorization"] = f"Bearer {WRITE}"
        # Not a number, not a definition: an unknown name, answered with the known ones.
        unknown = await http.get("/status", params={"name": "\u00b9"})
        assert unknown.status_code == 404
        assert "no definition named '\u00b9' (known:" in unknown.text
