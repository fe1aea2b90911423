"""The probe endpoint every role serves: real HTTP on a loopback port."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from activity_core import health as health_module
from activity_core.health import Health, parse_bind
from tests.helpers import free_port


async def _serving(health: Health) -> str:
    bind = f"127.0.0.1:{free_port()}"
    await health.start(bind)
    return f"http://{bind}"


async def test_not_ready_while_starting_then_by_checks_then_draining() -> None:
    health = Health("worker", cache_seconds=0)
    url = await _serving(health)
    state = {"db": "ok"}

    async def database() -> str | None:
        return state["db"]

    try:
        async with httpx.AsyncClient(base_url=url) as http:
            starting = await http.get("/readyz")
            assert starting.status_code == 503
            assert starting.json()["checks"] == {"startup": "starting"}
            assert (await http.get("/healthz")).status_code == 200  # alive while starting

            health.add("database", database)
            health.serving()
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {
                "role": "worker",
                "ready": True,
                "draining": False,
                "checks": {"database": "ok"},
            }
            state["db"] = "unreachable"
            down = await http.get("/readyz")
            assert down.status_code == 503 and down.json()["checks"]["database"] == "unreachable"

            state["db"] = "ok"
            health.drain()
            leaving = await http.get("/readyz")
            assert leaving.status_code == 503 and leaving.json()["draining"] is True
            assert (await http.get("/healthz")).status_code == 200  # draining is not dead
            assert (await http.post("/readyz")).status_code == 405
            assert (await http.get("/metrics")).status_code == 404
    finally:
        await health.stop()


async def test_a_check_that_raises_or_hangs_fails_with_a_reason_and_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health_module, "CHECK_TIMEOUT_S", 0.2)
    health = Health("router", cache_seconds=0)

    async def raises() -> str | None:
        raise ConnectionRefusedError("postgresql://app:hunter2@db/x refused")

    async def hangs() -> str | None:
        await asyncio.sleep(10)
        return None

    health.add("database", raises)
    health.add("nats", hangs)
    health.serving()
    ok, body = await health.ready()
    assert not ok
    assert body["checks"] == {
        "database": "failed (ConnectionRefusedError)",
        "nats": "no answer within 0.2 s",
    }
    assert "hunter2" not in str(body)


async def test_results_are_cached_so_a_probe_storm_costs_one_round() -> None:
    health = Health("api", cache_seconds=30)
    calls = 0

    async def counted() -> str | None:
        nonlocal calls
        calls += 1
        return None

    health.add("temporal", counted)
    health.serving()
    await asyncio.gather(*(health.ready() for _ in range(20)))
    await health.ready()
    assert calls == 1


async def test_a_blocked_loop_is_not_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health_module, "BLOCKED_AFTER_S", 0.3)
    monkeypatch.setattr(health_module, "TICK_S", 0.05)
    health = Health("worker")
    await health.start(None)
    try:
        await asyncio.sleep(0.1)
        assert health.alive()[0] is True
        time.sleep(0.5)  # the loop is blocked: the ticker cannot run
        ok, body = health.alive()
        assert not ok and float(str(body["loop_lag_seconds"])) >= 0.3
    finally:
        await health.stop()


async def test_a_taken_port_is_a_clear_error() -> None:
    first = Health("worker")
    bind = f"127.0.0.1:{free_port()}"
    await first.start(bind)
    try:
        with pytest.raises(OSError, match=r"ACTCORE_HEALTH_BIND_ADDR=127\.0\.0\.1:"):
            await Health("router").start(bind)
    finally:
        await first.stop()


def test_bind_addresses() -> None:
    assert parse_bind("0.0.0.0:8081") == ("0.0.0.0", 8081)
    assert parse_bind("[::1]:8081") == ("::1", 8081)
    assert parse_bind(":8081") == ("0.0.0.0", 8081)
    with pytest.raises(ValueError, match="is not host:port"):
        parse_bind("8081x")
