"""Report handlers: what a definition's run actually computes.

A handler is an async function ``(HandlerContext) -> Report``, run inside the
``run_handler`` activity. Register new handlers in :data:`HANDLERS`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.client import Client

from activities.handlers.digest import activity_digest
from activities.handlers.static import static_report
from activities.handlers.wsjf import wsjf_triage
from activity_core.domain import HandlerInput, Report
from activity_core.settings import Settings
from activity_core.store import Ledger


@dataclass(frozen=True)
class HandlerContext:
    """What a handler gets: its input plus the clients it may use."""

    input: HandlerInput
    client: Client
    settings: Settings
    ledger: Ledger | None = None
    """The run ledger, when the worker has a store (it outlives Temporal's retention)."""


Handler = Callable[[HandlerContext], Awaitable[Report]]

HANDLERS: dict[str, Handler] = {
    "activity_digest": activity_digest,
    "static_report": static_report,
    "wsjf_triage": wsjf_triage,
}
"""Handler name (the definition's ``handler`` field) to implementation."""
