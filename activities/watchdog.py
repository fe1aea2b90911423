"""Activities of the missed-fire watchdog: observe and judge, and the dead-man ping."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activity_core.alerts import load_alert_sinks
from activity_core.definitions import load_definitions
from activity_core.errors import ConfigError, DefinitionsError
from activity_core.settings import Settings
from activity_core.watchdog import (
    DefinitionSummary,
    ObserveInput,
    PingInput,
    WatchdogPlan,
    WatchdogState,
    advance,
    classify,
)
from activity_core.watchdog_observe import Observer, previous_state, watched

log = logging.getLogger(__name__)


async def judge(
    client: Client,
    settings: Settings,
    *,
    names: list[str],
    lookback_seconds: float | None,
    state: WatchdogState | None = None,
    exclude_pass: str | None = None,
) -> WatchdogPlan:
    """Observe, classify and fold into the previous pass's state (no side effects).

    Args:
        client: Temporal client.
        settings: Definitions directory, look-back, alerts file.
        names: Only these definitions (all when empty).
        lookback_seconds: Shortest look-back (default from settings).
        state: The state to fold into (default: the last completed pass's).
        exclude_pass: A pass to ignore when looking for the last one (the caller itself).

    Raises:
        DefinitionsError: The definitions (or the alerts file) are invalid.
    """
    loaded = await asyncio.to_thread(
        load_definitions, settings.definitions_dir, settings.activity_timeout_seconds
    )
    alerts = await asyncio.to_thread(load_alert_sinks, settings.alerts_file)
    unknown = sorted(set(names) - {d.name for d in loaded.definitions})
    if unknown:
        raise DefinitionsError([f"{n}: no such definition" for n in unknown])
    definitions = watched(loaded.definitions, names)
    if state is None:
        state = await previous_state(client, exclude_pass)
    now = datetime.now(UTC)
    lookback = lookback_seconds or settings.watchdog_lookback_seconds
    seen = await Observer(client).observe(definitions, now, lookback, state.last_pass_at)
    statuses = [classify(s, now) for s in seen]
    starts = {s.activity_id: s.window_start for s in seen}
    folded = advance(state, statuses, now, starts, complete=not names)
    return WatchdogPlan(
        now=now,
        summaries=[DefinitionSummary.of(s) for s in statuses],
        advance=folded,
        alerts=alerts,
    )


class WatchdogActivities:
    """Watchdog activities; one instance per worker."""

    def __init__(self, client: Client, http: httpx.AsyncClient, settings: Settings) -> None:
        """Build once per worker with its Temporal client, HTTP client and settings."""
        self._client = client
        self._http = http
        self._settings = settings

    @activity.defn(name="watchdog_observe")
    async def observe(self, inp: ObserveInput) -> WatchdogPlan:
        """Judge every expected fire in the look-back; say which alerts to send.

        Raises:
            ApplicationError: ``DefinitionInvalid`` (non-retryable) when the definitions or
                the alerts file are invalid: the pass fails visibly and skips its ping.
        """
        try:
            return await judge(
                self._client,
                self._settings,
                names=inp.names,
                lookback_seconds=inp.lookback_seconds,
                exclude_pass=inp.pass_id,
            )
        except (DefinitionsError, ConfigError) as exc:
            raise ApplicationError(str(exc), type="DefinitionInvalid", non_retryable=True) from None

    @activity.defn(name="watchdog_ping")
    async def ping(self, inp: PingInput) -> bool:
        """POST the pass summary to ``ACTCORE_WATCHDOG_PING_URL`` (False when unset)."""
        secret = self._settings.watchdog_ping_url
        if secret is None:
            return False
        url = secret.get_secret_value()
        try:
            response = await self._http.post(url, content=inp.summary.encode(), timeout=10.0)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            # The URL may carry a token: log only the failure's class and status.
            status = getattr(getattr(exc, "response", None), "status_code", None)
            raise ApplicationError(
                f"dead-man ping failed: {type(exc).__name__} (status {status})",
                type="PingFailed",
            ) from None
        return True
