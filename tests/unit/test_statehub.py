"""The reference State Hub honours its contract (docs/state-hub-contract.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from activity_core.dev.statehub import StateHub

EVENT = {"event_type": "daily_digest", "summary": "s", "detail": {"activity_core_run_id": "r1"}}


def test_post_once_then_409_and_nothing_stored_twice(hub: StateHub) -> None:
    headers = {"Idempotency-Key": "r1:state_hub"}
    first = httpx.post(f"{hub.url}/progress/", json=EVENT, headers=headers)
    again = httpx.post(f"{hub.url}/progress/", json=EVENT, headers=headers)
    assert first.status_code == 201
    assert again.status_code == 409
    assert again.json()["id"] == first.json()["id"]
    listed = httpx.get(f"{hub.url}/progress/", params={"event_type": "daily_digest"}).json()
    assert [e["detail"]["activity_core_run_id"] for e in listed] == ["r1"]
    assert httpx.get(f"{hub.url}/progress/", params={"event_type": "other"}).json() == []


def test_since_filter(hub: StateHub) -> None:
    httpx.post(f"{hub.url}/progress/", json=EVENT, headers={"Idempotency-Key": "a"})
    assert len(httpx.get(f"{hub.url}/progress/", params={"since": "2000-01-01"}).json()) == 1
    assert httpx.get(f"{hub.url}/progress/", params={"since": "2999-01-01"}).json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"summary": "no type", "detail": {}},
        {"event_type": "x", "summary": "s", "detail": "not an object"},
        ["not", "an", "object"],
    ],
)
def test_malformed_event_is_400(hub: StateHub, body: object) -> None:
    response = httpx.post(f"{hub.url}/progress/", json=body)
    assert response.status_code == 400
    assert hub.events() == []


def test_refuse_really_closes_the_socket_and_none_reopens_it(hub: StateHub) -> None:
    url = hub.url
    hub.set_fault("refuse")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")
    hub.set_fault("none")
    assert hub.url == url
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}


@pytest.mark.parametrize("status", [500, 503, 429, 400])
def test_status_faults_answer_with_that_status(hub: StateHub, status: int) -> None:
    hub.set_fault(str(status), retry_after=7)
    response = httpx.post(f"{hub.url}/progress/", json=EVENT)
    assert response.status_code == status
    if status in (503, 429):
        assert response.headers["Retry-After"] == "7"
    assert hub.events() == []


def test_slow_fault_exceeds_a_client_timeout(hub: StateHub) -> None:
    hub.set_fault("slow", delay=1.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{hub.url}/health", timeout=0.2)


def test_faults_switch_through_the_admin_port(hub: StateHub) -> None:
    response = httpx.post(f"{hub.admin_url}/fault", json={"mode": "503", "retry_after": 30})
    assert response.json()["mode"] == "503"
    assert httpx.get(f"{hub.url}/health").status_code == 503
    httpx.post(f"{hub.admin_url}/fault", json={"mode": "none"})
    assert httpx.get(f"{hub.url}/health").status_code == 200
    bad = httpx.post(f"{hub.admin_url}/fault", json={"mode": "explode"})
    assert bad.status_code == 400


def test_token_is_required_when_configured() -> None:
    hub = StateHub(token="s3cret").start()
    try:
        assert httpx.post(f"{hub.url}/progress/", json=EVENT).status_code == 401
        ok = httpx.post(
            f"{hub.url}/progress/", json=EVENT, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 201
    finally:
        hub.stop()


def test_refuse_also_cuts_keep_alive_connections(hub: StateHub) -> None:
    with httpx.Client() as http:  # one pooled keep-alive connection
        assert http.get(f"{hub.url}/health").status_code == 200
        hub.set_fault("refuse")
        with pytest.raises(httpx.TransportError):
            http.post(f"{hub.url}/progress/", json=EVENT)
    assert hub.events() == []


def test_statehub_events_sends_the_token_and_says_when_one_is_needed(tmp_path: Path) -> None:
    hub = StateHub(token="hub-tok-123").start()
    try:
        env = {**os.environ, "ACTCORE_HOME": str(tmp_path)}
        env.pop("ACTCORE_STATE_HUB_TOKEN", None)
        argv = [sys.executable, "-m", "activity_core.cli", "statehub", "events", "--url", hub.url]
        refused = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2
        assert "refused the request (HTTP 401): it needs a token" in refused.stderr
        assert "Traceback" not in refused.stderr
        wrong = {**env, "ACTCORE_STATE_HUB_TOKEN": "not-it"}
        out = subprocess.run(argv, env=wrong, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "not the one in ACTCORE_STATE_HUB_TOKEN" in out.stderr
        assert "not-it" not in out.stderr
        right = {**env, "ACTCORE_STATE_HUB_TOKEN": "hub-tok-123"}
        ok = subprocess.run(argv, env=right, capture_output=True, text=True, timeout=60)
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.strip().startswith("[")
    finally:
        hub.stop()
