"""``actcore router`` and ``actcore events``: route events, publish one, see the lag and
the dead letters."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from activity_core.cli.argtypes import whole
from activity_core.domain.events import DLQ_PREFIX, STREAM, envelope_errors
from activity_core.errors import ActivityCoreError
from activity_core.events import connect_nats, consumer_lag, ensure_stream, publish_event
from activity_core.events.jetstream import Published, new_envelope
from activity_core.events.serve import serve_router
from activity_core.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``router`` and ``events publish | lag | dead-letters``."""
    p = sub.add_parser(
        "router",
        help="run the event router (NATS JetStream events into runs) until SIGINT/SIGTERM",
    )
    p.set_defaults(func=cmd_router)

    ev = sub.add_parser("events", help="publish events, show the router's lag and dead letters")
    evsub = ev.add_subparsers(dest="events_command", required=True)
    pub = evsub.add_parser("publish", help="publish one event to activity.<TYPE>")
    pub.add_argument("type", metavar="TYPE", help="event type, e.g. user.created")
    pub.add_argument("--payload", default="{}", help="payload as a JSON object (default {})")
    pub.add_argument("--event-id", help="event id (default: a new UUID); reuse one to test dedup")
    pub.add_argument("--source", default="actcore-cli", help="publisher name (default actcore-cli)")
    pub.add_argument("--subject", default="", help="what the event is about, e.g. user/42")
    pub.set_defaults(func=cmd_publish)

    lag = evsub.add_parser("lag", help="the router consumer's pending and unacked events")
    lag.add_argument("--json", action="store_true", help="print JSON")
    lag.set_defaults(func=cmd_lag)

    dl = evsub.add_parser("dead-letters", help="the latest dead letters with their reasons")
    dl.add_argument(
        "--limit", type=whole(1, 100000), default=20, help="how many, newest last (default 20)"
    )
    dl.add_argument("--json", action="store_true", help="print JSON lines")
    dl.set_defaults(func=cmd_dead_letters)


def cmd_router(args: argparse.Namespace, settings: Settings) -> int:
    """Route until stopped."""
    asyncio.run(serve_router(settings))
    return 0


def _payload(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ActivityCoreError(f"--payload: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ActivityCoreError(f"--payload: expected a JSON object, got {type(value).__name__}")
    return value


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    """Publish one envelope and print its id and stream sequence."""
    try:
        envelope = new_envelope(
            args.type,
            _payload(args.payload),
            event_id=args.event_id,
            source=args.source,
            subject=args.subject,
        )
    except ValidationError as exc:
        raise ActivityCoreError("; ".join(envelope_errors(exc))) from None

    async def go() -> Published:
        nc = await connect_nats(settings, name="actcore-cli")
        try:
            js = nc.jetstream()
            await ensure_stream(js, settings.stream_replicas)
            return await publish_event(js, envelope)
        finally:
            await nc.drain()

    stored = asyncio.run(go())
    again = "; already stored, kept once" if stored.duplicate else ""
    print(
        f"published {envelope.type} event {envelope.event_id} "
        f"(stream sequence {stored.sequence}{again})"
    )
    return 0


def cmd_lag(args: argparse.Namespace, settings: Settings) -> int:
    """Print the consumer's lag; exit 1 when no router is polling."""

    async def go() -> dict[str, Any]:
        nc = await connect_nats(settings, name="actcore-cli")
        try:
            lag: dict[str, Any] = (await consumer_lag(nc.jetstream())).as_dict()
            return lag
        except NotFoundError:
            raise ActivityCoreError(
                "no router consumer yet: start the router (`actcore router`)"
            ) from None
        finally:
            await nc.drain()

    lag = asyncio.run(go())
    if args.json:
        print(json.dumps(lag))
    else:
        oldest = lag["oldest_unacked_seconds"]
        print(
            f"pending {lag['pending']}, unacked {lag['ack_pending']}, "
            f"redelivered {lag['redelivered']}, routers polling {lag['routers']}, "
            f"oldest unhandled {'-' if oldest is None else f'{oldest:.0f} s'}"
        )
        unmatched = lag.get("unmatched") or {}
        if unmatched:
            counts = ", ".join(f"{t} {n}" for t, n in unmatched.items())
            print(f"matched no definition (kept with the events): {counts}")
        else:
            print("matched no definition: none")
    return 0 if lag["routers"] else 1


def cmd_dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    """Print the latest dead letters (reason, event id, errors)."""

    async def go() -> list[dict[str, Any]]:
        nc = await connect_nats(settings, name="actcore-cli")
        try:
            js = nc.jetstream()
            info = await js.stream_info(STREAM, subjects_filter=f"{DLQ_PREFIX}>")
            total = sum((info.state.subjects or {}).values())
            if total == 0:
                return []
            sub = await js.pull_subscribe(
                f"{DLQ_PREFIX}>",
                stream=STREAM,
                config=ConsumerConfig(
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.NONE,
                    inactive_threshold=30,
                ),
            )
            out: list[dict[str, Any]] = []
            while len(out) < total:
                try:
                    msgs = await sub.fetch(min(256, total - len(out)), timeout=2)
                except TimeoutError:
                    break
                out += [json.loads(m.data) for m in msgs]
            await sub.unsubscribe()
            return out[-args.limit :]
        finally:
            await nc.drain()

    letters = asyncio.run(go())
    for d in letters:
        if args.json:
            print(json.dumps(d))
        else:
            errors = "; ".join(d.get("errors") or [])[:160]
            print(
                f"{d.get('dead_lettered_at', '')[:19]}  {d.get('reason', '?'):<16} "
                f"seq {d.get('stream_sequence')}  event {d.get('event_id') or '-'}  {errors}"
            )
    if not letters and not args.json:
        print("no dead letters", file=sys.stderr)
    return 0
