"""Metrics: the Temporal runtime's Prometheus endpoint plus activity-core's own series.

``PROMETHEUS_BIND_ADDR`` (e.g. ``0.0.0.0:9090``) turns the endpoint on. Series:

- ``activity_core_runs{activity, outcome}``: runs by outcome (counter, from workflows)
- ``activity_core_delivery_attempts{sink, result}``: delivery attempts (counter)
- ``activity_core_delivery_transitions{sink, state}``: deliveries entering waiting,
  delivered, dead or given_up (counter)
- ``activity_core_watchdog_alerts{activity, kind, severity}``: alert notes written (counter)
- ``activity_core_ledger_write_failures{kind}``: ledger writes given up while the database
  was down (counter; reconciliation fills the rows in)
- ``activity_core_run_duration_seconds{activity, outcome}``: from a run's start to its
  outcome (histogram)
- ``activity_core_delivery_duration_seconds{sink, state}``: from hand-over to delivered,
  dead or given up (histogram)
- ``activity_core_deliveries{state, sink}``, ``activity_core_oldest_waiting_delivery_age_
  seconds{sink}`` and ``activity_core_last_success_timestamp_seconds{activity}``: read by
  the worker every ``ACTCORE_METRICS_POLL_SECONDS`` from visibility and the ledger (gauges)
- ``activity_core_watchdog_open_alerts{severity}``,
  ``activity_core_watchdog_last_pass_timestamp_seconds``: the watchdog's (gauges)

Workflow counters go through ``workflow.metric_meter()``, which is replay-safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from activity_core.domain import search_attributes as sa
from activity_core.domain.constants import REPORT_DELIVERY_WORKFLOW

log = logging.getLogger(__name__)

GAUGE_STATES = ("waiting", "dead")
MAX_LISTED = 100_000
"""Open deliveries read per poll at most (a bound on a runaway backlog's cost)."""


SERVICE_LEVEL_HISTOGRAMS = ("activity_core_fire_to_start", "activity_core_fire_to_delivered")
SERVICE_LEVEL_BUCKETS_S = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    14400.0, 28800.0, 86400.0,
)  # fmt: skip
"""Bucket bounds (seconds) of the service-level histograms."""


def prometheus_runtime(bind_address: str | None) -> Runtime | None:
    """A Temporal runtime exporting Prometheus metrics at ``bind_address``, if one is set."""
    if not bind_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=bind_address,
                counters_total_suffix=True,
                # Prometheus naming: durations in seconds, the unit in the name.
                unit_suffix=True,
                durations_as_seconds=True,
                # Service levels are measured in minutes to hours, not the default
                # sub-minute buckets: "99% delivered within 2 h" needs an le="7200".
                histogram_bucket_overrides={
                    name: SERVICE_LEVEL_BUCKETS_S for name in SERVICE_LEVEL_HISTOGRAMS
                },
            ),
            # The scrape target says which process this is; a constant
            # service_name="temporal-core-sdk" on every series says nothing.
            attach_service_name=False,
        )
    )


async def poll_gauges(
    client: Client,
    runtime: Runtime,
    interval: float,
    last_successes: Callable[[], Awaitable[dict[str, datetime]]] | None = None,
    in_force: Callable[[], Awaitable[tuple[dict[str, str], bool]]] | None = None,
) -> None:
    """Keep the gauges read from visibility and the ledger up to date until cancelled:

    - ``activity_core_deliveries{state, sink}``: open deliveries waiting or dead;
    - ``activity_core_oldest_waiting_delivery_age_seconds{sink}``: how long the oldest
      waiting delivery to each sink has been open (0 when none waits);
    - ``activity_core_last_success_timestamp_seconds{activity}``: when each definition's
      latest successful run finished (``last_successes``: the ledger's; absent without),
      for the definitions in force only;
    - ``activity_core_definition_in_force{activity, trigger}``: 1 for each definition in
      force (``trigger``: scheduled, event or manual), 0 once it is deleted (a gauge the
      runtime cannot drop: alert rules join on it so a deleted definition never pages);
    - ``activity_core_catalog_degraded``: 1 while the definitions come from elsewhere than
      the registry (``in_force``: name -> trigger kind, and whether degraded).
    """
    meter = runtime.metric_meter
    deliveries = meter.create_gauge(
        "activity_core_deliveries", "Open report deliveries in a state, by sink"
    )
    oldest = meter.create_gauge(
        "activity_core_oldest_waiting_delivery_age_seconds",
        "Age of the oldest delivery waiting for its sink",
        "",
    )
    success = meter.create_gauge(
        "activity_core_last_success_timestamp_seconds",
        "Unix time the definition's latest successful run finished",
        "",
    )
    forced = meter.create_gauge(
        "activity_core_definition_in_force",
        "1 for a definition in force, 0 once deleted, by trigger kind",
        "",
    )
    degraded = meter.create_gauge(
        "activity_core_catalog_degraded",
        "1 while the definitions in force are not read from the registry",
        "",
    )
    seen: set[str] = set()
    kinds: dict[str, str] | None = None
    known: dict[str, str] = {}
    while True:
        if in_force is not None:
            try:
                kinds, off_registry = await in_force()
                for name, kind in known.items():
                    if kinds.get(name) != kind:
                        forced.set(0, {"activity": name, "trigger": kind})
                for name, kind in kinds.items():
                    forced.set(1, {"activity": name, "trigger": kind})
                known = dict(kinds)
                degraded.set(1 if off_registry else 0)
            except Exception as exc:
                log.warning("definitions gauge poll failed: %s", exc)
        try:
            counts, ages = await _open_deliveries(client)
            seen |= {sink for _, sink in counts} | set(ages)
            for sink in seen:
                for state in GAUGE_STATES:
                    deliveries.set(counts.get((state, sink), 0), {"state": state, "sink": sink})
                oldest.set(int(ages.get(sink, 0)), {"sink": sink})
        except Exception as exc:
            log.warning("delivery gauge poll failed: %s", exc)
        if last_successes is not None:
            try:
                for name, at in (await last_successes()).items():
                    if kinds is None or name in kinds:
                        success.set(int(at.timestamp()), {"activity": name})
            except Exception as exc:
                log.warning("last-success gauge poll failed: %s", exc)
        await asyncio.sleep(interval)


async def _open_deliveries(
    client: Client,
) -> tuple[Counter[tuple[str, str]], dict[str, float]]:
    """(state, sink) -> open deliveries, and sink -> age of its oldest waiting one."""
    counts: Counter[tuple[str, str]] = Counter()
    ages: dict[str, float] = {}
    now = datetime.now(UTC)
    states = " OR ".join(f"DeliveryStatus = '{s}'" for s in GAUGE_STATES)
    query = (
        f"WorkflowType = '{REPORT_DELIVERY_WORKFLOW}' AND ExecutionStatus = 'Running' "
        f"AND ({states})"
    )
    async for ex in client.list_workflows(query, page_size=1000, limit=MAX_LISTED):
        attrs = ex.typed_search_attributes
        state = attrs.get(sa.DELIVERY_STATUS) or "?"
        sink = attrs.get(sa.DELIVERY_SINK) or "?"
        counts[(state, sink)] += 1
        if state == "waiting":
            ages[sink] = max(ages.get(sink, 0.0), (now - ex.start_time).total_seconds())
    return counts, ages
