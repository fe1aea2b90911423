"""Every workflow the workers register."""

from __future__ import annotations

from workflows.activity_run import ActivityRunWorkflow
from workflows.repair import BackfillWorkflow, DeliveryRecoverWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow
from workflows.sink_monitor import SinkMonitorWorkflow
from workflows.watchdog import MissedFireWatchdogWorkflow

WORKFLOWS: list[type] = [
    ActivityRunWorkflow,
    ReportDeliveryWorkflow,
    SinkMonitorWorkflow,
    BackfillWorkflow,
    DeliveryRecoverWorkflow,
]
"""Run workers (``orchestrator-tq``)."""
WATCHDOG_WORKFLOWS: list[type] = [
    MissedFireWatchdogWorkflow,
    ReportDeliveryWorkflow,
    SinkMonitorWorkflow,
]
"""The watchdog worker (``watchdog-tq``): passes and the delivery of their alerts."""
ALL_WORKFLOWS: list[type] = [*WORKFLOWS, MissedFireWatchdogWorkflow]
"""Everything (for replay)."""
