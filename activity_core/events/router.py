"""The event router: JetStream events into ActivityRunWorkflow starts, none lost, none twice.

For each event delivered by the durable pull consumer (shared by every replica):

1. dead letters and oversized, non-JSON, invalid or mis-addressed envelopes, unknown types
   and payloads that fail their type's schema are copied to ``activity.dlq.<reason>`` with
   the error and acked: they never block the consumer;
2. every enabled definition listening to the type whose filters match gets one run, under
   the id ``activity-run-<name>-event-<event_id>`` with duplicate ids rejected, so a
   redelivered or republished event starts nothing new;
3. the event is acked only when every start succeeded (or was already done). When Temporal
   cannot be reached it is nak'ed with a growing delay and comes back: nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import trace
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from activities.event_lag import consumer_lag
from activity_core.domain import ActivityDefinition, run_start
from activity_core.domain.constants import ACTIVITY_RUN_WORKFLOW, ORCHESTRATOR_TQ
from activity_core.domain.events import (
    DLQ_PREFIX,
    DURABLE,
    INVALID_ENVELOPE,
    NOT_JSON,
    SCHEMA,
    START_REJECTED,
    STREAM,
    SUBJECT_MISMATCH,
    TOO_LARGE,
    UNKNOWN_TYPE,
    UNMATCHED_PREFIX,
    EventEnvelope,
    dead_letter_subject,
    envelope_errors,
    event_run_id,
    event_subject,
    matches,
    unmatched_subject,
)
from activity_core.events.jetstream import ensure_consumer, ensure_stream
from activity_core.events.presence import keep_presence, router_key
from activity_core.events.sources import Catalogue, DefinitionSource
from activity_core.settings import Settings
from activity_core.tracing import remote_parent

log = logging.getLogger(__name__)
tracer = trace.get_tracer("activity_core.events")

REDELIVERY_DELAYS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0)
"""Delay before a nak'ed event comes back, by delivery count (the last one repeats)."""
PERMANENT = {RPCStatusCode.INVALID_ARGUMENT}
"""Start errors that no retry can fix: the event is dead-lettered (``start_rejected``)."""

Action = Literal["started", "duplicate", "no_match", "dead_letter", "skipped", "retry"]


@dataclass
class RouteResult:
    """What the router did with one event."""

    action: Action
    event_id: str | None = None
    runs: list[str] = field(default_factory=list)
    """Workflow ids of the runs for this event (new or already there)."""
    reason: str | None = None
    errors: list[str] = field(default_factory=list)


class _Rejected(Exception):
    """The server refused a start for good."""


def redelivery_delay(num_delivered: int) -> float:
    """Seconds before the ``num_delivered``-th delivery is tried again."""
    index = max(0, min(num_delivered - 1, len(REDELIVERY_DELAYS) - 1))
    return REDELIVERY_DELAYS[index]


class Router:
    """Route events from the durable consumer to run starts.

    Args:
        client: Temporal client (with the tracing interceptor, if tracing is on).
        js: JetStream context.
        source: The definitions and event types to match against.
        settings: Limits and timeouts.
        task_queue: Where runs are started.
        activity_task_queue: The runs' activity task queue (default: the runs' own).
        runtime: Metrics runtime (default: the SDK's default runtime).
        before_ack: Called after the starts and before the ack (tests use it to stand
            for a router that dies in between).
    """

    def __init__(
        self,
        client: Client,
        js: JetStreamContext,
        source: DefinitionSource,
        settings: Settings,
        *,
        task_queue: str = ORCHESTRATOR_TQ,
        activity_task_queue: str | None = None,
        runtime: Runtime | None = None,
        before_ack: Callable[[Msg, RouteResult], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.js = js
        self.source = source
        self.settings = settings
        self.task_queue = task_queue
        self.activity_task_queue = activity_task_queue
        self.before_ack = before_ack
        self.last_fetch: float | None = None
        """When the pull loop last asked for a batch (monotonic; None before the first)."""
        self.fetch_error: str | None = None
        """The last fetch's failure, None once one succeeds or times out empty."""
        self.counts: Counter[str] = Counter()
        meter = (runtime or Runtime.default()).metric_meter
        self._events = meter.create_counter(
            "activity_core_events", "Events handled by the router, by result"
        )
        self._lag = meter.create_gauge(
            "activity_core_event_consumer", "Router consumer: events pending and unacked"
        )
        self._sub: JetStreamContext.PullSubscription | None = None

    # -- counting ------------------------------------------------------------------

    def _count(self, result: str, n: int = 1, reason: str = "") -> None:
        if n <= 0:
            return
        self.counts[result] += n
        if reason:
            self.counts[f"{result}:{reason}"] += n
        self._events.add(n, {"result": result, "reason": reason})

    # -- setup and loop --------------------------------------------------------------

    async def setup(self) -> None:
        """Create the stream and the durable consumer when missing; bind to it."""
        await ensure_stream(self.js, self.settings.stream_replicas)
        await ensure_consumer(self.js, self.settings)
        self._sub = await self.js.pull_subscribe_bind(durable=DURABLE, stream=STREAM)

    async def run_until(self, stop: asyncio.Event) -> None:
        """Fetch and route until ``stop`` is set."""
        if self._sub is None:
            await self.setup()
        assert self._sub is not None
        beat = asyncio.create_task(
            keep_presence(
                self.js, router_key(), lambda: self.last_fetch, self.settings.stream_replicas
            )
        )
        try:
            await self._loop(stop)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _loop(self, stop: asyncio.Event) -> None:
        assert self._sub is not None
        while not stop.is_set():
            self.last_fetch = time.monotonic()
            try:
                msgs = await self._sub.fetch(self.settings.router_batch, timeout=1.0)
            except (nats.errors.TimeoutError, TimeoutError):
                # An idle stream: the fetch waited its second and got nothing.
                self.fetch_error = None
                continue
            except (nats.errors.Error, OSError) as exc:
                self.fetch_error = type(exc).__name__
                log.warning("fetch failed; retrying", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)
                continue
            self.fetch_error = None
            await asyncio.gather(*(self._guarded(m) for m in msgs))

    async def _guarded(self, msg: Msg) -> None:
        try:
            await self.handle(msg)
        except Exception:
            # Never lose the event to a bug: it comes back after a pause.
            log.exception("routing failed; the event will be redelivered")
            with contextlib.suppress(Exception):
                await msg.nak(delay=redelivery_delay(msg.metadata.num_delivered))

    # -- one event -------------------------------------------------------------------

    async def handle(self, msg: Msg) -> RouteResult:
        """Route one delivered event and ack, nak or dead-letter it."""
        if msg.subject.startswith(DLQ_PREFIX):
            await msg.ack()
            return RouteResult("skipped", reason="dead letter")
        if msg.subject.startswith(UNMATCHED_PREFIX):
            await msg.ack()
            return RouteResult("skipped", reason="unmatched record")
        self._count("received")
        if msg.metadata.num_delivered > 1:
            self._count("redelivered")
        result = await self._route(msg)
        if result.action == "retry":
            await msg.nak(delay=redelivery_delay(msg.metadata.num_delivered))
            return result
        if self.before_ack is not None:
            await self.before_ack(msg, result)
        await msg.ack()
        return result

    async def _route(self, msg: Msg) -> RouteResult:
        size = len(msg.data)
        if size > self.settings.event_max_bytes:
            return await self._dead(
                msg,
                TOO_LARGE,
                [f"event is {size} bytes; the limit is {self.settings.event_max_bytes}"],
            )
        try:
            raw = json.loads(msg.data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = (
                f" at line {exc.lineno} column {exc.colno}"
                if isinstance(exc, json.JSONDecodeError)
                else ""
            )
            return await self._dead(msg, NOT_JSON, [f"the body is not JSON{where}"])
        try:
            envelope = EventEnvelope.model_validate(raw)
        except ValidationError as exc:
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            return await self._dead(
                msg,
                INVALID_ENVELOPE,
                envelope_errors(exc),
                event_id if isinstance(event_id, str) else None,
            )
        if msg.subject != event_subject(envelope.type):
            return await self._dead(
                msg,
                SUBJECT_MISMATCH,
                [
                    f"type {envelope.type!r} belongs on {event_subject(envelope.type)}, "
                    f"not {msg.subject}"
                ],
                envelope.event_id,
            )
        try:
            catalogue = await self.source.catalogue()
        except Exception as exc:
            log.warning(
                "definitions unavailable; event will be redelivered",
                extra={"error": type(exc).__name__},
            )
            return RouteResult("retry", envelope.event_id, reason="definitions unavailable")
        if envelope.type not in catalogue.types:
            known = ", ".join(sorted(catalogue.types)) or "none"
            return await self._dead(
                msg,
                UNKNOWN_TYPE,
                [
                    f"type {envelope.type!r} is not registered (registered: {known}); "
                    "add it to event-types/"
                ],
                envelope.event_id,
            )
        problems = catalogue.schema_errors(envelope.type, envelope.payload)
        if problems:
            return await self._dead(msg, SCHEMA, problems, envelope.event_id)
        return await self._start_all(msg, envelope, catalogue)

    async def _start_all(
        self, msg: Msg, envelope: EventEnvelope, catalogue: Catalogue
    ) -> RouteResult:
        targets = [d for d in catalogue.by_type.get(envelope.type, []) if matches(d, envelope)]
        if not targets:
            await self._unmatched(msg, envelope, catalogue)
            return RouteResult("no_match", envelope.event_id)
        self._count("matched", len(targets))
        with tracer.start_as_current_span(
            "route event",
            context=remote_parent(envelope.trace_id),
            attributes={
                "activity_core.event_id": envelope.event_id,
                "activity_core.event_type": envelope.type,
                "activity_core.trace_id": envelope.trace_id,
            },
        ):
            outcomes = await asyncio.gather(
                *(self._start(d, envelope) for d in targets), return_exceptions=True
            )
        runs = [event_run_id(d, envelope.event_id) for d in targets]
        rejected = [o for o in outcomes if isinstance(o, _Rejected)]
        failed = [
            o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, _Rejected)
        ]
        if failed:
            log.warning(
                "run start failed; the event will be redelivered",
                extra={
                    "event_id": envelope.event_id,
                    "error": type(failed[0].__cause__ or failed[0]).__name__,
                    "delivery": msg.metadata.num_delivered,
                },
            )
            self._count("start_failed", len(failed))
            return RouteResult("retry", envelope.event_id, runs, reason="start failed")
        if rejected:
            return await self._dead(
                msg, START_REJECTED, [str(r) for r in rejected], envelope.event_id
            )
        new = sum(1 for o in outcomes if o is True)
        self._count("started", new)
        self._count("duplicate", len(targets) - new)
        log.info(
            "event routed",
            extra={"event_id": envelope.event_id, "type": envelope.type, "runs": runs, "new": new},
        )
        return RouteResult("started" if new else "duplicate", envelope.event_id, runs)

    async def _start(self, definition: ActivityDefinition, envelope: EventEnvelope) -> bool:
        """Start the run; True when new, False when the id was already used."""
        start = run_start(definition, "event", envelope)
        inp = start.input
        if self.activity_task_queue is not None:
            inp = inp.model_copy(update={"activity_task_queue": self.activity_task_queue})
        try:
            await self.client.start_workflow(
                ACTIVITY_RUN_WORKFLOW,
                inp,
                id=event_run_id(definition, envelope.event_id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=start.summary,
                static_details=start.details,
                search_attributes=start.search_attributes,
                rpc_timeout=timedelta(seconds=self.settings.router_start_timeout_seconds),
            )
        except WorkflowAlreadyStartedError:
            return False
        except RPCError as exc:
            if exc.status in PERMANENT:
                raise _Rejected(
                    f"{definition.name}: the server refused the start: {exc.message}"
                ) from None
            raise
        return True

    async def _unmatched(self, msg: Msg, envelope: EventEnvelope, catalogue: Catalogue) -> None:
        """Record an event no definition took at ``activity.unmatched.<type>`` (counted per
        type by ``events lag`` and ``GET /events/router``), once per stream sequence."""
        seq = msg.metadata.sequence.stream if msg.metadata.sequence is not None else None
        listening = [d.name for d in catalogue.by_type.get(envelope.type, [])]
        body = {
            "event_id": envelope.event_id,
            "stream_sequence": seq,
            "recorded_at": datetime.now(UTC).isoformat(),
            "definitions_of_type": listening,
        }
        self._count("no_match")
        try:
            await self.js.publish(
                unmatched_subject(envelope.type),
                json.dumps(body).encode(),
                stream=STREAM,
                headers={"Nats-Msg-Id": f"unmatched-{seq}"},
            )
        except Exception as exc:  # the count and the log line still say it
            log.warning("unmatched event not recorded", extra={"error": type(exc).__name__})
        log.info(
            "matched no definitions",
            extra={"event_id": envelope.event_id, "type": envelope.type, "of_type": len(listening)},
        )

    async def _dead(
        self, msg: Msg, reason: str, errors: list[str], event_id: str | None = None
    ) -> RouteResult:
        """Copy the event to ``activity.dlq.<reason>`` with the error (then it is acked)."""
        meta = msg.metadata
        seq = meta.sequence.stream if meta.sequence is not None else None
        try:
            text: str | None = msg.data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        body = {
            "reason": reason,
            "errors": errors,
            "original_subject": msg.subject,
            "stream_sequence": seq,
            "event_id": event_id,
            "dead_lettered_at": datetime.now(UTC).isoformat(),
            "bytes": len(msg.data),
            # The original stays in the stream at stream_sequence; copy it when it fits.
            "data": text if text is not None and reason != TOO_LARGE else None,
        }
        await self.js.publish(
            dead_letter_subject(reason),
            json.dumps(body).encode(),
            stream=STREAM,
            headers={"Nats-Msg-Id": f"dlq-{seq}", "Actcore-Reason": reason},
        )
        self._count("dead_letter", reason=reason)
        log.warning(
            "event dead-lettered",
            extra={
                "reason": reason,
                "event_id": event_id,
                "stream_sequence": seq,
                "errors": errors[:3],
            },
        )
        return RouteResult("dead_letter", event_id, reason=reason, errors=errors)

    async def report_lag(self) -> None:
        """Set the ``activity_core_event_consumer{state}`` gauge once."""
        lag = await consumer_lag(self.js)
        self._lag.set(lag.pending, {"state": "pending"})
        self._lag.set(lag.ack_pending, {"state": "ack_pending"})
