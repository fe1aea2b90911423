"""Activities of the missed-fire watchdog: observe and judge (:mod:`activities.watchdog_observe`),
and the dead-man ping."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.reconcile import Reconciler
from activities.watchdog_judge import judge
from activity_core.catalog import Catalog
from activity_core.domain import ObserveInput, PingInput, WatchdogPlan
from activity_core.domain.constants import WATCHDOG_HEARTBEAT_EVERY_S
from activity_core.errors import (
    DEFINITION_INVALID,
    PING_FAILED,
    ConfigError,
    DefinitionNotFound,
    DefinitionsError,
)
from activity_core.settings import Settings
from activity_core.store import Ledger, Store

log = logging.getLogger(__name__)


async def _heartbeat() -> None:
    """Heartbeat until cancelled: the server retries a silent attempt after
    ``WATCHDOG_OBSERVE_HEARTBEAT`` instead of waiting out its whole timeout."""
    while True:
        activity.heartbeat()
        await asyncio.sleep(WATCHDOG_HEARTBEAT_EVERY_S)


class WatchdogActivities:
    """Watchdog activities; one instance per worker."""

    def __init__(
        self,
        client: Client,
        http: httpx.AsyncClient,
        settings: Settings,
        store: Store | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        """Build once per worker with its Temporal client, HTTP client, settings, store and
        catalogue (default: one over ``store``)."""
        self._client = client
        self._http = http
        self._settings = settings
        self._ledger = Ledger(store) if store is not None else None
        self._catalog = catalog or Catalog(settings, store)

    @activity.defn(name="watchdog_observe")
    async def observe(self, inp: ObserveInput) -> WatchdogPlan:
        """Judge every expected fire in the look-back; say which alerts to send.

        Raises:
            ApplicationError: ``DefinitionInvalid`` (non-retryable) when the definitions or
                the alerts file are invalid: the pass fails visibly and skips its ping.
        """
        beat = asyncio.create_task(_heartbeat())
        try:
            plan = await judge(
                self._client,
                self._settings,
                names=inp.names,
                lookback_seconds=inp.lookback_seconds,
                exclude_pass=inp.pass_id,
                catalog=self._catalog,
            )
        except (DefinitionsError, DefinitionNotFound, ConfigError) as exc:
            raise ApplicationError(str(exc), type=DEFINITION_INVALID, non_retryable=True) from None
        finally:
            beat.cancel()
        await self._pause(plan)
        await self._keep_ledger(plan)
        return plan

    async def _pause(self, plan: WatchdogPlan) -> None:
        """Pause the schedules ``watch.pause_after`` gave up on (a retried attempt finds
        them paused already and orders nothing)."""
        for sid, note in plan.pauses.items():
            try:
                await self._client.get_schedule_handle(sid).pause(note=note)
                log.warning("schedule paused after failures", extra={"schedule": sid})
            except RPCError as err:
                plan.pauses[sid] = f"not paused ({err.message[:120]}): {note}"
                log.warning("schedule not paused", extra={"schedule": sid, "error": err.message})

    async def _keep_ledger(self, plan: WatchdogPlan) -> None:
        """Catch the ledger up, record the pass's alerts, prune old rows: never fails the pass."""
        if self._ledger is None:
            return
        lookback = timedelta(seconds=max(self._settings.watchdog_lookback_seconds, 3600.0))
        try:
            folded = plan.advance
            await Reconciler(self._client, self._ledger).run(plan.now - lookback)
            held = [a for a in folded.held if a.kind != "recovered"]
            await self._ledger.record_alerts([*folded.raised, *folded.updated, *held], plan.now)
            await self._ledger.close_alerts(
                [r.resolves for r in folded.recovered if r.resolves], plan.now
            )
            await self._ledger.prune(
                plan.now - timedelta(days=self._settings.ledger_retention_days)
            )
        except Exception as exc:
            log.warning("ledger upkeep failed", extra={"error": type(exc).__name__})

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
                type=PING_FAILED,
            ) from None
        return True
