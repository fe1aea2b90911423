"""Every workflow the worker registers."""

from __future__ import annotations

from workflows.activity_run import ActivityRunWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow
from workflows.sink_monitor import SinkMonitorWorkflow

WORKFLOWS: list[type] = [ActivityRunWorkflow, ReportDeliveryWorkflow, SinkMonitorWorkflow]
