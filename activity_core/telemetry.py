"""Metrics: the Temporal runtime's Prometheus endpoint plus activity-core's own series.

``PROMETHEUS_BIND_ADDR`` (e.g. ``0.0.0.0:9090``) turns the endpoint on. Series:

- ``activity_core_runs{activity, outcome}``: runs by outcome (counter, from workflows)
- ``activity_core_delivery_attempts{sink, result}``: delivery attempts (counter)
- ``activity_core_delivery_transitions{sink, state}``: deliveries entering waiting,
  delivered, dead or given_up (counter)
- ``activity_core_alerts{kind}``: alert notes written (counter)
- ``activity_core_ledger_write_failures{kind}``: ledger writes given up while the database
  was down (counter; reconciliation fills the rows in)
- ``activity_core_deliveries{state}``: deliveries currently waiting / dead, counted from
  visibility by the worker every ``ACTCORE_METRICS_POLL_SECONDS`` (gauge)

Workflow counters go through ``workflow.metric_meter()``, which is replay-safe.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

log = logging.getLogger(__name__)

GAUGE_STATES = ("waiting", "dead")


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
            ),
            # The scrape target says which process this is; a constant
            # service_name="temporal-core-sdk" on every series says nothing.
            attach_service_name=False,
        )
    )


async def poll_delivery_gauges(client: Client, runtime: Runtime, interval: float) -> None:
    """Keep ``activity_core_deliveries{state}`` up to date until cancelled."""
    gauge = runtime.metric_meter.create_gauge(
        "activity_core_deliveries", "Report deliveries currently in a state"
    )
    while True:
        for state in GAUGE_STATES:
            try:
                counted = await client.count_workflows(
                    "WorkflowType = 'ReportDeliveryWorkflow' AND ExecutionStatus = 'Running' "
                    f"AND DeliveryStatus = '{state}'"
                )
                gauge.set(counted.count, {"state": state})
            except Exception as exc:
                log.warning("delivery gauge poll failed: %s", exc)
        await asyncio.sleep(interval)
