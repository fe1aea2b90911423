"""Signed webhooks: what the worker sends verifies under the Standard Webhooks scheme, by
a verifier written here from the specification (not the project's code); a tampered
body, a stale timestamp and a wrong secret do not, and the reference State Hub refuses
them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.delivery import SinkActivities, default_http_client
from activity_core.dev.statehub import StateHub
from activity_core.domain import (
    AttemptOutcome,
    DeliveryAttemptInput,
    StateHubProgressSink,
    WebhookSink,
)
from activity_core.settings import Settings
from tests.unit.test_delivery import EVENT, _deliver


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


OLD, NEW = _secret(), _secret()


def spec_verify(secret: str, headers: httpx.Headers, body: bytes, tolerance: int = 300) -> bool:
    """The receiver's check, as the Standard Webhooks specification describes it."""
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.{body.decode()}".encode()
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for part in headers["webhook-signature"].split(" "):
        version, signature = part.split(",", 1)
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


@pytest.fixture
def signing(monkeypatch: pytest.MonkeyPatch) -> WebhookSink:
    monkeypatch.setenv("ACTCORE_SINK_TOKEN_INBOX_SIGNING", f"{NEW} {OLD}")
    monkeypatch.setenv("ACTCORE_SINK_ORIGIN_INBOX_SIGNING", "http://inbox.test")
    return WebhookSink(type="webhook", url="http://inbox.test/hook", signing_secret="inbox-signing")


async def test_a_signed_request_verifies_with_either_secret_during_rotation(
    signing: WebhookSink,
) -> None:
    result, seen = await _deliver(httpx.MockTransport(lambda r: httpx.Response(201)), signing)
    assert result.outcome == AttemptOutcome.DELIVERED  # type: ignore[attr-defined]
    [request] = seen
    body = request.content
    assert json.loads(body)["summary"] == EVENT.summary
    assert request.headers["webhook-id"] == "r:hub"  # the idempotency key: same on retries
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (OLD, NEW):
        assert spec_verify(secret, request.headers, body)
    assert not spec_verify(_secret(), request.headers, body)
    assert not spec_verify(NEW, request.headers, body.replace(b"s", b"S"))
    stale = httpx.Headers({**request.headers, "webhook-timestamp": str(int(time.time()) - 600)})
    assert not spec_verify(NEW, stale, body)


async def test_a_signing_secret_that_is_not_bound_or_malformed_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = WebhookSink(type="webhook", url="http://inbox.test/hook", signing_secret="loose")
    monkeypatch.setenv("ACTCORE_SINK_TOKEN_LOOSE", NEW)
    result, seen = await _deliver(httpx.MockTransport(lambda r: httpx.Response(201)), sink)
    assert seen == [] and result.outcome == AttemptOutcome.PERMANENT  # type: ignore[attr-defined]
    assert "signing_secret: sink secret 'loose' is not bound" in (result.error or "")  # type: ignore[attr-defined]
    monkeypatch.setenv("ACTCORE_SINK_ORIGIN_LOOSE", "http://inbox.test")
    monkeypatch.setenv("ACTCORE_SINK_TOKEN_LOOSE", "plain-password")
    result, seen = await _deliver(httpx.MockTransport(lambda r: httpx.Response(201)), sink)
    assert seen == [] and "does not start with whsec_" in (result.error or "")  # type: ignore[attr-defined]
    assert "plain-password" not in (result.error or "")  # type: ignore[attr-defined]


async def test_the_reference_hub_takes_signed_posts_and_refuses_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = StateHub(signing_secret=NEW).start()
    try:
        monkeypatch.setenv("ACTCORE_SINK_TOKEN_HUB_SIGNING", NEW)
        monkeypatch.setenv("ACTCORE_SINK_ORIGIN_HUB_SIGNING", hub.url)
        settings = Settings(state_hub_url=hub.url)
        signed = StateHubProgressSink(
            type="state_hub_progress", event_type="t", signing_secret="hub-signing"
        )
        unsigned = StateHubProgressSink(type="state_hub_progress", event_type="t")
        async with default_http_client(settings) as http:
            acts = SinkActivities(http, settings)
            env = ActivityEnvironment()

            async def send(sink: StateHubProgressSink, key: str) -> AttemptOutcome:
                attempt = DeliveryAttemptInput(
                    sink=sink, event=EVENT, idempotency_key=key, attempt=1
                )
                return (await env.run(acts.deliver, attempt)).outcome

            assert await send(signed, "r:signed") == AttemptOutcome.DELIVERED
            assert await send(unsigned, "r:unsigned") == AttemptOutcome.PERMANENT
            # A captured request replayed ten minutes later is refused.
            body = json.dumps(EVENT.model_dump(mode="json")).encode()
            from activity_core.domain.signing import signed_headers, signing_keys

            old = signed_headers("r:replay", int(time.time()) - 600, body, signing_keys(NEW))
            replayed = await http.post(
                f"{hub.url}/progress/",
                content=body,
                headers={**old, "Content-Type": "application/json"},
            )
            assert replayed.status_code == 401 and "more than 300 s" in replayed.text
        assert len(hub.events()) == 1
    finally:
        hub.stop()
