"""The ``resolve_context`` activity: State Hub context resolvers with bounded retries.

Inside one activity attempt, transient failures (connection refused/reset, timeouts,
408, 429, 5xx) are retried with exponential backoff and jitter, honouring a short
``Retry-After``; the whole attempt stays well under its start-to-close timeout. When it
gives up it raises one ``ApplicationError`` whose message says which resolver, which URL,
how many tries over how long, the last error, and where in the runbook to read on.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from activities.delivery import describe_http_error, parse_retry_after
from activity_core.domain import ResolveInput, ResolveResult, ResolverName
from activity_core.domain.budget import MAX_BACKOFF_S, MAX_RETRY_AFTER_S
from activity_core.errors import RESOLVER_REJECTED, RESOLVER_UNAVAILABLE
from activity_core.settings import Settings

RUNBOOK = "docs/runbook.md#state-hub-resolvers-failing"
PATHS = {
    ResolverName.WORK_ITEMS: "/tasks/",
    ResolverName.RECENTLY_ON_SCOPE: "/resolvers/recently_on_scope",
    ResolverName.CONSISTENCY_SWEEP: "/resolvers/consistency_sweep",
}


class TransientResolverError(Exception):
    """A failure worth retrying (carries an optional Retry-After)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    base = wait_exponential_jitter(multiplier=0.5, max=MAX_BACKOFF_S)(state)
    if isinstance(exc, TransientResolverError) and exc.retry_after is not None:
        return min(max(base, exc.retry_after), MAX_RETRY_AFTER_S)
    return base


class ContextActivities:
    """Resolver activities; one instance per worker, sharing one HTTP client."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        """Build once per worker.

        Args:
            http: Shared HTTP client (its timeouts are overridden per resolver).
            settings: Worker settings (State Hub URL and token).
        """
        self._http = http
        self._settings = settings

    @activity.defn(name="resolve_context")
    async def resolve_context(self, inp: ResolveInput) -> ResolveResult:
        """Fetch one resolver's context.

        Raises:
            ApplicationError: ``ResolverUnavailable`` (retryable by Temporal) after the
                in-attempt tries; ``ResolverRejected`` (non-retryable) on a 4xx.
        """
        r = inp.resolver
        base = (r.url or self._settings.state_hub_url).rstrip("/")
        url = f"{base}{PATHS[r.name]}"
        headers = {}
        token = self._settings.state_hub_bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        timeout = httpx.Timeout(r.timeout_seconds)
        started = time.monotonic()
        tries = 0

        async def fetch() -> Any:
            nonlocal tries
            tries += 1
            try:
                response = await self._http.get(
                    url, params=dict(r.params), headers=headers, timeout=timeout
                )
            except httpx.TransportError as exc:
                raise TransientResolverError(describe_http_error(exc)) from exc
            status = response.status_code
            if status in (408, 429) or status >= 500:
                raise TransientResolverError(
                    f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After"))
                )
            if status >= 400:
                raise ApplicationError(
                    f"resolver {r.name.value}: GET {url} was rejected with HTTP {status}: "
                    f"{response.text[:200]}. Retrying will not help; see {RUNBOOK}",
                    type=RESOLVER_REJECTED,
                    non_retryable=True,
                )
            return response.json()

        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(lambda e: isinstance(e, TransientResolverError)),
                stop=stop_after_attempt(r.tries),
                wait=_wait,
                reraise=True,
            ):
                with attempt:
                    body = await fetch()
        except TransientResolverError as exc:
            info = activity.info()
            raise ApplicationError(
                f"resolver {r.name.value} unavailable: GET {url} failed {tries} "
                f"time(s) over {time.monotonic() - started:.1f} s "
                f"(activity attempt {info.attempt}); last error: {exc}. See {RUNBOOK}",
                type=RESOLVER_UNAVAILABLE,
            ) from None
        except ValueError as exc:  # not JSON
            raise ApplicationError(
                f"resolver {r.name.value}: GET {url} returned a body that is not JSON ({exc})",
                type=RESOLVER_UNAVAILABLE,
            ) from None
        items = body if isinstance(body, list) else [body]
        return ResolveResult(name=r.name.value, items=items, tries=tries)
