"""Shared fixtures: a real Temporal dev server (time skipping V2), a reference State Hub,
and workers on fresh task queues per test. Helpers are in :mod:`tests.helpers`."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activity_core.dev.statehub import StateHub
from activity_core.domain import search_attributes as sa
from activity_core.temporal_client import SINGLE_PARTITION_FLAGS
from tests.helpers import SUGGEST_CONTINUE_AS_NEW_AT, Stack, running_stack, temporal_binary

TESTS = Path(__file__).parent

# Every sink the tests start listens on loopback: allow it, as the dev stack does (the
# egress tests set their own policy). Child processes inherit it.
os.environ.setdefault("ACTCORE_EGRESS_ALLOW", "127.0.0.0/8,::1/128")


LONGEST_FIRST = ("cluster", "realtime", "workflows", "api", "events")
"""Folders in the order their tests start: the ones that take minutes first, so that the
last tests a parallel run waits for are short ones (``make test`` steals work)."""


def _folder(item: pytest.Item) -> str:
    """The folder under ``tests/`` the item's file is in (its file name at the top)."""
    return Path(str(item.path)).relative_to(TESTS).parts[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under ``tests/realtime`` waits on the wall clock: mark it ``realtime``.
    The longest kinds of test run first (a stable sort: each folder keeps its order)."""
    for item in items:
        if _folder(item) == "realtime":
            item.add_marker(pytest.mark.realtime)
    last = len(LONGEST_FIRST)
    items.sort(key=lambda i: LONGEST_FIRST.index(f) if (f := _folder(i)) in LONGEST_FIRST else last)


@pytest_asyncio.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server with time skipping V2 and our search attributes registered."""
    environment = await WorkflowEnvironment.start_time_skipping_v2(
        data_converter=pydantic_data_converter,
        search_attributes=list(sa.ALL),
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.WorkflowTimeSkippingEnabled=true",
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AS_NEW_AT}",
            *SINGLE_PARTITION_FLAGS,
        ],
    )
    yield environment
    await environment.shutdown()


@pytest.fixture
def hub() -> Iterator[StateHub]:
    """A reference State Hub on free ports, healthy at the start."""
    instance = StateHub().start()
    yield instance
    instance.stop()


@pytest_asyncio.fixture
async def stack(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Stack]:
    """A running worker bound to a temporary definitions and working-memory directory."""
    async with running_stack(env, env.client, tmp_path) as s:
        yield s


# The SDK can crash the interpreter during finalisation (sdk-python#300) after all tests
# passed; leave with pytest's own exit status once the run is over.
_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status and not os.environ.get("ACTCORE_NO_HARD_EXIT"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[0])
