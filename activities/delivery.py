"""The ``deliver`` activity: one classified delivery attempt to a remote sink.

Sink failures are *returned* as a classification, never raised, so the delivery
workflow decides what to wait for; only a crash of the worker itself makes
Temporal retry the activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from opentelemetry import trace
from temporalio import activity
from temporalio.exceptions import ApplicationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from activities.egress import egress_refused, guarded_transport
from activities.redact import sanitise, scrub
from activity_core.domain import (
    AttemptOutcome,
    DeliveryAttemptInput,
    DeliveryAttemptResult,
    IssueSink,
    StateHubProgressSink,
    WebhookSink,
)
from activity_core.domain.constants import (
    ATTEMPT_FAILED,
    SINK_RESET_RETRIES,
)
from activity_core.domain.signing import signed_headers, signing_keys
from activity_core.domain.sinks import borrowed_variable, secret_of
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
        transport=guarded_transport(settings.egress_policy()),
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


#: Statuses a later try can fix, though they are 4xx: timeout, too early, too many requests.
_TRANSIENT_4XX = {408, 425, 429}
#: 5xx that no later try fixes: the sink does not implement the call or the HTTP version.
_PERMANENT_5XX = {501, 505}
#: Bytes of a response body read at most (a sink answering gigabytes cannot fill memory).
MAX_RESPONSE_BYTES = 64 * 1024


def classify_status(status: int) -> AttemptOutcome:
    """How a response status is treated (the table is in docs/state-hub-contract.md):
    by what a later try can fix."""
    if 200 <= status < 300:
        return AttemptOutcome.DELIVERED
    if status == 409:
        return AttemptOutcome.DUPLICATE
    if status in _TRANSIENT_4XX or (status >= 500 and status not in _PERMANENT_5XX):
        return AttemptOutcome.TRANSIENT
    return AttemptOutcome.PERMANENT


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def bad_header_value(token: str) -> bool:
    """A token that cannot go in a header as is (whitespace, control or non-ASCII characters)."""
    return any(c.isspace() or ord(c) < 33 or ord(c) > 126 for c in token)


def same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port."""
    x, y = httpx.URL(a), httpx.URL(b)
    return (x.scheme, x.host, x.port) == (y.scheme, y.host, y.port)


def sink_token(
    settings: Settings, sink: WebhookSink | IssueSink, url: str
) -> tuple[str | None, str | None]:
    """(token, configuration problem) for a request of ``sink`` to ``url``: its sink secret,
    only where the secret is bound; never an arbitrary variable of the worker."""
    borrowed = borrowed_variable(sink)
    if borrowed:
        return None, f"token_env: {borrowed}"
    name = secret_of(sink)
    if name is None:
        return None, None
    return settings.sink_secret(name, url)


def http_error_outcome(exc: httpx.HTTPError) -> AttemptOutcome:
    """A request that failed without an answer: transient, unless the egress policy
    refused the connection (no retry can help until the deployment allows it)."""
    return AttemptOutcome.PERMANENT if egress_refused(exc) else AttemptOutcome.TRANSIENT


def describe_http_error(exc: httpx.HTTPError) -> str:
    """A short, secret-free reason for a failed request (``connection refused``, ...)."""
    if egress_refused(exc):
        return str(exc)
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


async def post_capped(
    http: httpx.AsyncClient, url: str, body: dict[str, object] | bytes, headers: dict[str, str]
) -> tuple[httpx.Response, str, bool]:
    """POST JSON and read at most :data:`MAX_RESPONSE_BYTES` of the answer (and whether it
    was cut there). A connection dropped after sending is retried at once a few times:
    every request carries an idempotency key.

    Raises:
        httpx.HTTPError: The request failed (refused, timed out, reset too often).
    """
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(_RESET_ERRORS),
        stop=stop_after_attempt(SINK_RESET_RETRIES),
        wait=wait_exponential_jitter(multiplier=0.2, max=2.0),
        reraise=True,
    ):
        with attempt:
            sent = {"content": body} if isinstance(body, bytes) else {"json": body}
            async with http.stream("POST", url, headers=headers, **sent) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= MAX_RESPONSE_BYTES:
                        break
    raw = b"".join(chunks)
    text = raw[:MAX_RESPONSE_BYTES].decode("utf-8", errors="replace")
    return response, text, size >= MAX_RESPONSE_BYTES


def settle(fail_visibly: bool, result: DeliveryAttemptResult) -> DeliveryAttemptResult:
    """An attempt's result; a failed one (transient or permanent) raised instead as a
    non-retryable ``DeliveryAttemptFailed`` carrying the result, when the workflow asked:
    the activity then shows as failed in the Web UI, and the workflow reads the same
    result back (Temporal does not retry it: the delivery's own backoff decides)."""
    if fail_visibly and result.outcome in (AttemptOutcome.TRANSIENT, AttemptOutcome.PERMANENT):
        raise ApplicationError(
            f"{result.outcome.value}: {result.error}",
            result,
            type=ATTEMPT_FAILED,
            non_retryable=True,
        )
    return result


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
        self.sharers: Callable[[str], int] = lambda _queue: 1
        """Worker processes polling a task queue (set by the worker's sink pollers)."""

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared HTTP client."""
        return self._http

    def pacer(self, url: str, pace: float | None = None) -> Pacer:
        """One pacer per sink origin and pace: this process's POSTs to it leave at most
        its share of ``pace`` (default ``ACTCORE_WAKE_RATE``) per second.

        On a sink's own queue the share is ``pace / n`` for the n worker processes polling
        it (``activity_core.sink_workers``), so together they keep to the pace second by
        second; the queue's server-side limit caps the total whatever n was last seen.
        """
        rate = pace or self._settings.wake_rate
        with contextlib.suppress(RuntimeError):  # outside an activity: the whole pace
            rate /= max(1, self.sharers(activity.info().task_queue))
        origin = httpx.URL(url).copy_with(path="/", query=None, fragment=None)
        key = f"{origin} {rate:g}"
        if key not in self._pacers:
            self._pacers[key] = Pacer(rate)
        return self._pacers[key]

    def _target(self, inp: DeliveryAttemptInput) -> tuple[str, str | None, str | None]:
        """(URL, token, configuration error): a token goes only where it was configured."""
        sink = inp.sink
        if isinstance(sink, StateHubProgressSink):
            configured = self._settings.state_hub_url
            base = (sink.url or configured).rstrip("/")
            token = self._settings.state_hub_bearer()
            if token and not same_origin(base, configured):
                token = None  # the hub's token is for the hub's origin only
            return f"{base}/progress/", token, None
        assert isinstance(sink, WebhookSink)
        token, problem = sink_token(self._settings, sink, sink.url)
        return sink.url, token, problem

    def _known_secrets(self, token: str | None) -> list[str]:
        out = [token or ""]
        with contextlib.suppress(OSError):
            out.append(self._settings.state_hub_bearer() or "")
        return out

    def _classify(
        self,
        inp: DeliveryAttemptInput,
        response: httpx.Response,
        text: str,
        cut: bool,
        token: str | None,
    ) -> DeliveryAttemptResult:
        status = response.status_code
        outcome = classify_status(status)
        secrets = self._known_secrets(token)
        snippet = sanitise(" ".join(text[:200].split()), secrets)
        error: str | None = None
        warning: str | None = None
        if 300 <= status < 400:
            where = sanitise(response.headers.get("Location", "no Location given")[:300], secrets)
            error = (
                f"HTTP {status}: redirect to {where} (redirects are not followed: put the "
                "final URL in the definition)"
            )
        elif outcome in (AttemptOutcome.TRANSIENT, AttemptOutcome.PERMANENT):
            error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
        elif outcome == AttemptOutcome.DELIVERED and isinstance(inp.sink, StateHubProgressSink):
            kind = response.headers.get("content-type", "")
            if "json" not in kind.lower() or not (cut or _is_json(text)):
                # A proxy's login page or a wrong URL answers 200 and stores nothing.
                outcome = AttemptOutcome.TRANSIENT
                error = (
                    f"HTTP {status} but the answer is not JSON ({kind or 'no content type'}): "
                    "a proxy or a wrong URL? State Hub answers with the stored event"
                )
        elif outcome == AttemptOutcome.DUPLICATE and inp.attempt == 1:
            warning = (
                "duplicate_on_first_attempt: the sink already had this idempotency key "
                f"({inp.idempotency_key}) before any attempt of ours; counted as delivered"
            )
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return DeliveryAttemptResult(
            outcome=outcome,
            status_code=status,
            error=error,
            retry_after_seconds=retry_after,
            warning=warning,
        )

    @activity.defn(name="deliver")
    async def deliver(self, inp: DeliveryAttemptInput) -> DeliveryAttemptResult:
        """Make one delivery attempt and classify the result (errors carry no secret).

        Raises:
            ApplicationError: ``DeliveryAttemptFailed`` for a failed attempt, when the
                workflow asked (``fail_visibly``): see :func:`settle`.
        """
        return settle(inp.fail_visibly, await self._deliver(inp))

    async def _deliver(self, inp: DeliveryAttemptInput) -> DeliveryAttemptResult:
        url, token, problem = self._target(inp)
        if problem is None and token is not None and bad_header_value(token):
            problem = (
                "the sink's token contains whitespace or control characters (a trailing "
                "newline in the variable or file?) and cannot be sent; fix it and retry"
            )
        keys: list[bytes] = []
        if problem is None:
            keys, problem = self._signing_keys(inp, url)
        if problem is not None:
            log.error("delivery not attempted", extra={"sink": inp.sink.name, "why": problem})
            return DeliveryAttemptResult(outcome=AttemptOutcome.PERMANENT, error=problem)
        return await self._attempt(inp, url, token, keys)

    def _signing_keys(self, inp: DeliveryAttemptInput, url: str) -> tuple[list[bytes], str | None]:
        """The sink's signing keys (none when it signs nothing), or a problem."""
        name = getattr(inp.sink, "signing_secret", None)
        if not name:
            return [], None
        value, problem = self._settings.sink_secret(name, url)
        if problem is not None or value is None:
            return [], f"signing_secret: {problem}"
        try:
            return signing_keys(value), None
        except ValueError as exc:
            return [], f"signing_secret: sink secret {name!r}: {exc}"

    async def _attempt(
        self, inp: DeliveryAttemptInput, url: str, token: str | None, keys: list[bytes]
    ) -> DeliveryAttemptResult:
        headers = {
            "Idempotency-Key": inp.idempotency_key,
            "X-Activity-Core-Attempt": str(inp.attempt),
            "Content-Type": "application/json",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Serialised once: the signature covers exactly the bytes sent.
        body = json.dumps(inp.event.model_dump(mode="json"), separators=(",", ":")).encode()
        await self.pacer(url, inp.sink.pace_per_second).wait()
        if keys:
            headers.update(signed_headers(inp.idempotency_key, int(time.time()), body, keys))
        started = time.monotonic()
        span = _tracer.start_span(
            f"POST {inp.sink.name}",
            attributes={"http.request.method": "POST", "url.full": url, "sink": inp.sink.name},
        )
        try:
            with trace.use_span(span, end_on_exit=True):
                response, text, cut = await post_capped(self._http, url, body, headers)
                span.set_attribute("http.response.status_code", response.status_code)
        except httpx.HTTPError as exc:
            result = DeliveryAttemptResult(
                outcome=http_error_outcome(exc), error=describe_http_error(exc)
            )
        else:
            result = self._classify(inp, response, text, cut, token)
        if result.error:
            # Before anything logs or returns it: a sink may echo the request back.
            result.error = scrub(result.error, self._known_secrets(token))
        if result.warning:
            log.warning("delivery %s", result.warning, extra={"sink": inp.sink.name})
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
