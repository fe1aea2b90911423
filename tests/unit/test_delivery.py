"""Delivery classification, Retry-After parsing, backoff schedule and the deliver activity."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.delivery import Pacer, SinkActivities, classify_status, parse_retry_after
from activity_core.domain import (
    AttemptOutcome,
    DeliveryAttemptInput,
    DeliveryPolicy,
    ProgressEvent,
    StateHubProgressSink,
    WebhookSink,
)
from activity_core.settings import Settings


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, AttemptOutcome.DELIVERED),
        (201, AttemptOutcome.DELIVERED),
        (409, AttemptOutcome.DUPLICATE),
        (408, AttemptOutcome.TRANSIENT),
        (429, AttemptOutcome.TRANSIENT),
        (500, AttemptOutcome.TRANSIENT),
        (503, AttemptOutcome.TRANSIENT),
        (400, AttemptOutcome.PERMANENT),
        (401, AttemptOutcome.PERMANENT),
        (404, AttemptOutcome.PERMANENT),
        (301, AttemptOutcome.PERMANENT),
    ],
)
def test_status_classification(status: int, outcome: AttemptOutcome) -> None:
    assert classify_status(status) == outcome


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Mon, 23 Nov 2026 08:05:00 GMT", now) == 300.0
    assert parse_retry_after("Mon, 23 Nov 2026 07:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_default_backoff_schedule_then_every_four_hours() -> None:
    policy = DeliveryPolicy()
    waits = [policy.base_delay(n) for n in range(1, 10)]
    assert waits == [30, 120, 600, 1800, 3600, 7200, 14400, 14400, 14400]
    assert policy.horizon_seconds == 7 * 86400


EVENT = ProgressEvent(event_type="t", summary="s", detail={"activity_core_run_id": "r"})


async def _deliver(
    handler: httpx.MockTransport, sink: StateHubProgressSink | WebhookSink, **settings: object
) -> tuple[object, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler.handle_request(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        acts = SinkActivities(http, Settings(**settings))  # type: ignore[arg-type]
        result = await ActivityEnvironment().run(
            acts.deliver,
            DeliveryAttemptInput(sink=sink, event=EVENT, idempotency_key="r:hub", attempt=3),
        )
    return result, seen


async def test_deliver_sends_idempotency_key_and_bearer_token() -> None:
    sink = StateHubProgressSink(type="state_hub_progress", event_type="t")
    result, seen = await _deliver(
        httpx.MockTransport(lambda r: httpx.Response(201, json={"id": 1})),
        sink,
        state_hub_url="http://hub.test/",
        state_hub_token="tok-123",
    )
    assert result.outcome == AttemptOutcome.DELIVERED  # type: ignore[attr-defined]
    (request,) = seen
    assert str(request.url) == "http://hub.test/progress/"
    assert request.headers["Idempotency-Key"] == "r:hub"
    assert request.headers["Authorization"] == "Bearer tok-123"


async def test_connection_reset_is_retried_inside_the_attempt() -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            raise httpx.ReadError("connection reset by peer", request=request)
        return httpx.Response(409, json={"detail": "already have it"})

    sink = WebhookSink(type="webhook", url="http://inbox.test/hook")
    result, seen = await _deliver(httpx.MockTransport(flaky), sink)
    assert len(seen) == 3
    assert result.outcome == AttemptOutcome.DUPLICATE  # type: ignore[attr-defined]


async def test_webhook_token_comes_from_the_named_sink_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACTCORE_SINK_TOKEN_INBOX", "inbox-secret")
    monkeypatch.setenv("ACTCORE_SINK_ORIGIN_INBOX", "http://inbox.test")
    sink = WebhookSink(type="webhook", url="http://inbox.test/hook", secret="inbox")
    result, seen = await _deliver(
        httpx.MockTransport(lambda r: httpx.Response(503, headers={"Retry-After": "90"})), sink
    )
    assert seen[0].headers["Authorization"] == "Bearer inbox-secret"
    assert result.outcome == AttemptOutcome.TRANSIENT  # type: ignore[attr-defined]
    assert result.retry_after_seconds == 90  # type: ignore[attr-defined]
    assert "inbox-secret" not in (result.error or "")  # type: ignore[attr-defined]


async def test_pacer_spaces_calls_at_the_rate_and_caps_the_wait() -> None:
    pacer = Pacer(rate=50.0, max_wait_s=0.1)
    start = time.monotonic()
    waits = [await pacer.wait() for _ in range(6)]
    elapsed = time.monotonic() - start
    assert waits[0] < 0.005
    assert elapsed >= 5 * 0.02 * 0.9  # five gaps of 1/50 s
    assert all(w <= 0.1 for w in waits)
    # A burst far beyond the cap: nobody waits (much) longer than max_wait_s.
    burst = Pacer(rate=1.0, max_wait_s=0.05)
    results = await asyncio.gather(*(burst.wait() for _ in range(5)))
    assert max(results) <= 0.06 and sorted(results)[1] > 0.01


async def test_pacer_never_releases_two_calls_back_to_back_after_a_stall() -> None:
    pacer = Pacer(rate=20.0)
    left: list[float] = []

    async def call() -> None:
        await pacer.wait()
        left.append(time.monotonic())

    tasks = [asyncio.create_task(call()) for _ in range(4)]
    await asyncio.sleep(0)
    time.sleep(0.2)  # the event loop stalls past several slots
    await asyncio.gather(*tasks)
    gaps = [b - a for a, b in itertools.pairwise(left)]
    assert min(gaps) >= 0.05 * 0.9, gaps


# -- misbehaving sinks and scoped secrets -----------------------------------------------

HUB = StateHubProgressSink(type="state_hub_progress", event_type="t")


def _attempt1(sink: StateHubProgressSink | WebhookSink) -> DeliveryAttemptInput:
    return DeliveryAttemptInput(sink=sink, event=EVENT, idempotency_key="r:hub", attempt=1)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, AttemptOutcome.DELIVERED),
        (301, AttemptOutcome.PERMANENT),
        (400, AttemptOutcome.PERMANENT),
        (408, AttemptOutcome.TRANSIENT),
        (409, AttemptOutcome.DUPLICATE),
        (425, AttemptOutcome.TRANSIENT),
        (429, AttemptOutcome.TRANSIENT),
        (500, AttemptOutcome.TRANSIENT),
        (501, AttemptOutcome.PERMANENT),
        (503, AttemptOutcome.TRANSIENT),
        (505, AttemptOutcome.PERMANENT),
    ],
)
def test_status_classes_by_what_a_retry_can_fix(status: int, outcome: AttemptOutcome) -> None:
    assert classify_status(status) == outcome


async def test_hub_token_only_goes_to_the_hub_origin() -> None:
    elsewhere = StateHubProgressSink(
        type="state_hub_progress", event_type="t", url="http://collector.test/"
    )
    _, seen = await _deliver(
        httpx.MockTransport(lambda r: httpx.Response(201, json={})),
        elsewhere,
        state_hub_url="http://hub.test/",
        state_hub_token="hub-secret-1",
    )
    assert "Authorization" not in seen[0].headers


async def test_an_unset_sink_secret_is_a_clear_error_and_nothing_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ACTCORE_SINK_TOKEN_INBOX", raising=False)
    sink = WebhookSink(type="webhook", url="http://inbox.test/hook", secret="inbox")
    result, seen = await _deliver(httpx.MockTransport(lambda r: httpx.Response(201)), sink)
    assert seen == []
    assert result.outcome == AttemptOutcome.PERMANENT  # type: ignore[attr-defined]
    assert "sink secret 'inbox' is not set" in (result.error or "")  # type: ignore[attr-defined]
    assert "ACTCORE_SINK_TOKEN_INBOX" in (result.error or "")  # type: ignore[attr-defined]


async def test_a_token_with_a_newline_is_never_sent_nor_echoed() -> None:
    result, seen = await _deliver(
        httpx.MockTransport(lambda r: httpx.Response(201, json={})),
        HUB,
        state_hub_url="http://hub.test/",
        state_hub_token="tok-with-newline\n",
    )
    assert seen == []
    error = result.error or ""  # type: ignore[attr-defined]
    assert "trailing newline" in error and "tok-with-newline" not in error


async def test_echoed_token_is_redacted_from_the_error() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text=f"bad request; you sent {request.headers['Authorization']}")

    result, _ = await _deliver(
        httpx.MockTransport(echo),
        HUB,
        state_hub_url="http://hub.test/",
        state_hub_token="s3cr3t-tok",
    )
    error = result.error or ""  # type: ignore[attr-defined]
    assert "s3cr3t-tok" not in error and "[redacted]" in error


async def test_huge_body_is_read_only_up_to_the_cap() -> None:
    huge = b"x" * (5 * 1024 * 1024)
    result, _ = await _deliver(
        httpx.MockTransport(lambda r: httpx.Response(500, content=huge)),
        HUB,
        state_hub_url="http://hub.test/",
    )
    assert len(result.error or "") < 400  # type: ignore[attr-defined]


async def test_retry_after_on_a_success_is_ignored() -> None:
    result, _ = await _deliver(
        httpx.MockTransport(
            lambda r: httpx.Response(201, json={}, headers={"Retry-After": "garbage"})
        ),
        HUB,
        state_hub_url="http://hub.test/",
    )
    assert result.outcome == AttemptOutcome.DELIVERED  # type: ignore[attr-defined]
    assert result.retry_after_seconds is None  # type: ignore[attr-defined]


async def test_redirect_names_its_location_and_is_permanent() -> None:
    result, _ = await _deliver(
        httpx.MockTransport(
            lambda r: httpx.Response(301, headers={"Location": "https://hub.test/v2/progress/"})
        ),
        HUB,
        state_hub_url="http://hub.test/",
    )
    assert result.outcome == AttemptOutcome.PERMANENT  # type: ignore[attr-defined]
    assert "redirect to https://hub.test/v2/progress/" in (result.error or "")  # type: ignore[attr-defined]


async def test_html_200_from_the_hub_is_not_a_delivery() -> None:
    result, _ = await _deliver(
        httpx.MockTransport(
            lambda r: httpx.Response(
                200, text="<html>login</html>", headers={"content-type": "text/html"}
            )
        ),
        HUB,
        state_hub_url="http://hub.test/",
    )
    assert result.outcome == AttemptOutcome.TRANSIENT  # type: ignore[attr-defined]
    assert "not JSON (text/html)" in (result.error or "")  # type: ignore[attr-defined]


async def test_409_on_the_first_attempt_is_delivered_with_a_warning() -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(409, json={}))
    ) as http:
        acts = SinkActivities(http, Settings(state_hub_url="http://hub.test/"))
        result = await ActivityEnvironment().run(acts.deliver, _attempt1(HUB))
    assert result.outcome == AttemptOutcome.DUPLICATE
    assert (result.warning or "").startswith("duplicate_on_first_attempt")


def test_retry_after_with_non_ascii_digits_is_ignored() -> None:
    assert parse_retry_after("\u00b9") is None  # superscript one: isdigit(), not a number
    assert parse_retry_after("\u0663") is None  # Arabic-Indic three
