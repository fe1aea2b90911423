"""The ``deliver`` activity: one classified delivery attempt to a remote sink.

Sink failures are *returned* as a classification, never raised, so the delivery
workflow decides what to wait for; only a crash of the worker itself makes
Temporal retry the activity.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from opentelemetry import trace
from temporalio import activity
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from activity_core.domain import (
    AttemptOutcome,
    DeliveryAttemptInput,
    DeliveryAttemptResult,
    StateHubProgressSink,
    WebhookSink,
)
from activity_core.domain.constants import (
    SINK_RESET_RETRIES,
)
from activity_core.settings import Settings

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

#: Connection dropped after the request was sent: safe to resend at once (idempotency key).
_RESET_ERRORS = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


def default_http_client(settings: Settings) -> httpx.AsyncClient:
    """The shared HTTP client of the delivery activities (timeouts from settings)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.sink_read_timeout_seconds, connect=settings.sink_connect_timeout_seconds
        ),
        follow_redirects=False,
        headers={"User-Agent": "activity-core"},
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify_status(status: int) -> AttemptOutcome:
    """How a response status is treated (see docs/state-hub-contract.md)."""
    if 200 <= status < 300:
        return AttemptOutcome.DELIVERED
    if status == 409:
        return AttemptOutcome.DUPLICATE
    if status in (408, 429) or status >= 500:
        return AttemptOutcome.TRANSIENT
    return AttemptOutcome.PERMANENT


def describe_http_error(exc: httpx.HTTPError) -> str:
    """A short, secret-free reason for a failed request (``connection refused``, ...)."""
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            cause = cause.__cause__ or cause.__context__
        return f"connect failed: {exc or 'unknown reason'}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Pacer:
    """Spaces the starts of calls at least ``1 / rate`` seconds apart (one process, one sink).

    Callers queue on a lock and each sets the next slot from the moment it actually leaves,
    so a stalled event loop cannot release two calls back to back. A caller never waits
    longer than ``max_wait_s`` in all: a burst larger than that goes out faster rather than
    eating into the attempt's timeout.
    """

    def __init__(self, rate: float, max_wait_s: float = 10.0) -> None:
        """Pace at ``rate`` calls per second."""
        self._interval = 1.0 / rate
        self._max_wait = max_wait_s
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> float:
        """Wait for the next slot; returns how long it waited."""
        arrived = time.monotonic()
        async with self._lock:
            now = time.monotonic()
            budget = self._max_wait - (now - arrived)
            delay = min(max(0.0, self._next - now), max(0.0, budget))
            if delay > 0:
                await asyncio.sleep(delay)
            self._next = time.monotonic() + self._interval
        return time.monotonic() - arrived


class SinkActivities:
    """Delivery activities; one instance per worker, sharing one HTTP client."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        """Build once per worker.

        Args:
            http: Shared HTTP client (connection pooling; tests inject a transport).
            settings: Worker settings (State Hub URL and token).
        """
        self._http = http
        self._settings = settings
        self._pacers: dict[str, Pacer] = {}

    def _pacer(self, url: str) -> Pacer:
        """One pacer per sink origin: POSTs to it leave at most ``ACTCORE_WAKE_RATE``/s."""
        origin = httpx.URL(url).copy_with(path="/", query=None, fragment=None)
        key = str(origin)
        if key not in self._pacers:
            self._pacers[key] = Pacer(self._settings.wake_rate)
        return self._pacers[key]

    def _target(self, inp: DeliveryAttemptInput) -> tuple[str, str | None]:
        sink = inp.sink
        if isinstance(sink, StateHubProgressSink):
            base = (sink.url or self._settings.state_hub_url).rstrip("/")
            return f"{base}/progress/", self._settings.state_hub_bearer()
        assert isinstance(sink, WebhookSink)
        token = os.environ.get(sink.token_env) if sink.token_env else None
        return sink.url, token

    @activity.defn(name="deliver")
    async def deliver(self, inp: DeliveryAttemptInput) -> DeliveryAttemptResult:
        """Make one delivery attempt and classify the result."""
        url, token = self._target(inp)
        headers = {
            "Idempotency-Key": inp.idempotency_key,
            "X-Activity-Core-Attempt": str(inp.attempt),
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = inp.event.model_dump(mode="json")
        await self._pacer(url).wait()
        started = time.monotonic()
        span = _tracer.start_span(
            f"POST {inp.sink.name}",
            attributes={"http.request.method": "POST", "url.full": url, "sink": inp.sink.name},
        )
        try:
            with trace.use_span(span, end_on_exit=True):
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(_RESET_ERRORS),
                    stop=stop_after_attempt(SINK_RESET_RETRIES),
                    wait=wait_exponential_jitter(multiplier=0.2, max=2.0),
                    reraise=True,
                ):
                    with attempt:
                        response = await self._http.post(url, json=body, headers=headers)
                span.set_attribute("http.response.status_code", response.status_code)
        except httpx.HTTPError as exc:
            result = DeliveryAttemptResult(
                outcome=AttemptOutcome.TRANSIENT, error=describe_http_error(exc)
            )
        else:
            outcome = classify_status(response.status_code)
            error = None
            if outcome in (AttemptOutcome.TRANSIENT, AttemptOutcome.PERMANENT):
                snippet = response.text[:200].strip().replace("\n", " ")
                error = f"HTTP {response.status_code}" + (f": {snippet}" if snippet else "")
            result = DeliveryAttemptResult(
                outcome=outcome,
                status_code=response.status_code,
                error=error,
                retry_after_seconds=parse_retry_after(response.headers.get("Retry-After")),
            )
        log.info(
            "delivery attempt %s",
            result.outcome.value,
            extra={
                "sink": inp.sink.name,
                "url": url,
                "idempotency_key": inp.idempotency_key,
                "attempt": inp.attempt,
                "status_code": result.status_code,
                "error": result.error,
                "elapsed_ms": round((time.monotonic() - started) * 1000),
            },
        )
        return result
