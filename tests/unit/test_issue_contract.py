"""The issue-core contract check: the reference passes, receivers that break the contract
fail on the point they break; ``actcore sinks check`` exits by the verdict and remembers it,
and ``sync`` warns about an endpoint that never passed; task keys stay stable."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from activities.issues import check_contract, resolve_target
from activity_core.dev.statehub import StateHub
from activity_core.domain import ActivityDefinition, IssueSink
from activity_core.domain.tasks import TASK_KEY_PATTERN, task_key
from activity_core.services.sinks import check_sinks, unchecked_sinks
from activity_core.settings import Settings
from activity_core.store import Ledger, Store, migrate


class _Broken(BaseHTTPRequestHandler):
    """An issue tracker that breaks the contract in one way (``server.flaw``)."""

    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, kind: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        flaw = self.server.flaw
        seen: set[str] = self.server.seen
        if not body.get("title"):
            if flaw == "plain_errors":
                self._send(400, "bad request", "text/plain")
            else:
                self._send(422, {"error": {"code": "invalid", "message": "no", "field": "title"}})
            return
        key = self.headers["Idempotency-Key"]
        if flaw == "ignores_dry_run":
            seen.add(key)
            self._send(201, {"id": "1", "key": body["key"], "created": True})
            return
        would_create = key not in seen
        if flaw == "stores_dry_runs":
            seen.add(key)
        echoed = "something-else" if flaw == "wrong_key" else body["key"]
        self._send(200, {"dry_run": True, "key": echoed, "would_create": would_create})


@pytest.fixture
def broken() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    server.seen = set()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


async def test_the_reference_issue_core_keeps_the_contract_and_stores_nothing() -> None:
    hub = StateHub().start()
    try:
        async with httpx.AsyncClient() as http:
            points = await check_contract(http, hub.url, None)
        assert [p for p in points if not p.ok] == []
        assert {p.field for p in points} >= {
            "status",
            "dry_run",
            "key",
            "would_create",
            "again.would_create",
            "error.status",
            "error.field",
        }
        assert hub.store.issues.all() == []
    finally:
        hub.stop()


@pytest.mark.parametrize(
    ("flaw", "failing"),
    [
        ("ignores_dry_run", {"status", "dry_run", "would_create", "again.status"}),
        ("stores_dry_runs", {"again.would_create"}),
        ("plain_errors", {"error"}),
        ("wrong_key", {"key"}),
    ],
)
async def test_a_receiver_breaking_the_contract_fails_on_that_point(
    broken: Any, flaw: str, failing: set[str]
) -> None:
    broken.flaw = flaw
    base = f"http://127.0.0.1:{broken.server_address[1]}"
    async with httpx.AsyncClient() as http:
        points = await check_contract(http, base, None)
    bad = {p.field for p in points if not p.ok}
    assert failing <= bad, points
    # Nothing else is blamed: each flaw is reported as itself.
    assert bad <= failing | {"again.content_type", "again.would_create"}, points
    for p in points:
        if not p.ok:
            assert p.detail.startswith("expected"), p


def test_the_token_goes_only_where_it_was_configured() -> None:
    settings = Settings(issue_core_url="http://issues.internal:9000", issue_core_token="s3cret")
    own = IssueSink(type="issue", backend="issue_core")
    other = IssueSink(type="issue", backend="issue_core", url="http://elsewhere.example")
    assert resolve_target(own, settings)[1] == "s3cret"
    assert resolve_target(other, settings)[1] is None
    unset = IssueSink(type="issue", secret="my-missing-issue-token")
    _base, token, problem = resolve_target(unset, settings)
    assert token is None and problem is not None
    assert "ACTCORE_SINK_TOKEN_MY_MISSING_ISSUE_TOKEN" in problem
    # A stored sink naming any other variable of the worker gets nothing from it.
    borrowed = IssueSink(type="issue", token_env="HOME")
    _base, token, problem = resolve_target(borrowed, settings)
    assert token is None and "HOME is not a sink secret" in str(problem)
    nowhere = resolve_target(own, Settings(issue_core_url=None))
    assert nowhere[0] is None and "ACTCORE_ISSUE_CORE_URL" in str(nowhere[2])


def test_task_keys_are_stable_and_distinct() -> None:
    assert task_key("stale", "WI-12") == "stale:wi-12" == task_key("stale", "WI-12")
    odd = task_key("stale", "team/a b")
    assert odd.startswith("stale:team-a-b-") and odd != task_key("stale", "team-a-b")
    assert task_key("x", "a/b") != task_key("x", "a b")
    odd_ids = ["", "..", "Ünïcode", "x" * 500, "-lead", "a:b", "WI 12\n", "😀"]
    keys = [task_key("inconsistent", i) for i in odd_ids]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert re.fullmatch(TASK_KEY_PATTERN, key), key


def _actcore(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "activity_core.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ACTCORE_LOG_FORMAT": "text", **env},
    )


async def test_sinks_check_exits_by_the_verdict_and_is_remembered(
    tmp_path: Path, broken: Any
) -> None:
    defs = tmp_path / "definitions"
    defs.mkdir()
    hub = StateHub().start()
    broken.flaw = "stores_dry_runs"
    bad_url = f"http://127.0.0.1:{broken.server_address[1]}"
    for name, url in (("good", hub.url), ("bad", bad_url)):
        body = {
            "name": name,
            "handler": "static_report",
            "trigger_config": {"trigger_type": "manual"},
            "sinks": [{"type": "issue", "name": f"{name}-issues", "url": url}],
        }
        (defs / f"{name}.yaml").write_text(yaml.safe_dump(body))
    db = tmp_path / "actcore.db"
    env = {
        "ACTCORE_DEFINITIONS_DIR": str(defs),
        "ACTCORE_DB_URL": f"sqlite+aiosqlite:///{db}",
        "ACTCORE_ISSUE_SINK_TYPE": "issue_core",
    }
    try:
        ok = _actcore(["sinks", "check", "good-issues"], env)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert f"PASS {hub.url}" in ok.stdout
        failed = _actcore(["sinks", "check", "bad-issues"], env)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "FAIL again.would_create: expected still true" in failed.stdout
        unknown = _actcore(["sinks", "check", "nope"], env)
        assert unknown.returncode == 2 and "good-issues" in unknown.stderr
        listed = _actcore(["sinks", "list"], env)
        assert listed.returncode == 0
        lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
        assert "issue_core" in lines["good"] and "pass" in lines["good"]
        assert "FAIL" in lines["bad"] and lines["bad"].rstrip().endswith("never")
    finally:
        hub.stop()
    store = Store(f"sqlite+aiosqlite:///{db}")
    try:
        await migrate.upgrade(store)
        checks = await Ledger(store).sink_checks()
        assert checks[hub.url]["passed"] is True and checks[hub.url]["last_passed_at"]
        assert checks[bad_url]["passed"] is False and checks[bad_url]["last_passed_at"] is None
    finally:
        await store.close()


async def test_filing_never_leaks_the_token_and_a_proxy_page_is_not_a_filed_task() -> None:
    from temporalio.testing import ActivityEnvironment

    from activities.delivery import SinkActivities
    from activities.issues import IssueActivities
    from activity_core.domain import AttemptOutcome, FileTasksInput
    from activity_core.domain.tasks import Task

    token = "issue-core-secret-token-42"
    hub = StateHub(token=token).start()
    settings = Settings(issue_core_url=hub.url, issue_core_token=token)
    tasks = [Task(key=f"stale:t-{n}", title=f"t{n}") for n in range(3)]
    inp = FileTasksInput(
        sink=IssueSink(type="issue", backend="issue_core"),
        run_id="r",
        activity_id="a",
        activity_name="n",
        tasks=tasks,
        attempt=1,
    )
    try:
        async with httpx.AsyncClient() as http:
            acts = IssueActivities(SinkActivities(http, settings), settings)
            env = ActivityEnvironment()
            # A careless tracker that echoes the request (Authorization included) in its 400.
            hub.set_fault("echo", path="/issues")
            echoed = await env.run(acts.file_tasks, inp)
            assert echoed.outcome == AttemptOutcome.PERMANENT
            assert len(echoed.rejected) == 3
            assert token not in json.dumps(echoed.model_dump(mode="json"))
            # A 200 that is not the contract's JSON stores nothing: not filed, try again.
            hub.set_fault("malformed", path="/issues", after=1)
            partial = await env.run(acts.file_tasks, inp)
            assert [f.key for f in partial.filed] == ["stale:t-0"]
            assert partial.outcome == AttemptOutcome.TRANSIENT
            assert (
                partial.error
                and "task 2/3" in partial.error
                and "not the contract" in partial.error
            )
            hub.set_fault("none")
            rest = await env.run(acts.file_tasks, inp.model_copy(update={"tasks": tasks[1:]}))
            assert rest.outcome == AttemptOutcome.DELIVERED and len(rest.filed) == 2
            assert len(hub.store.issues.all()) == 3
    finally:
        hub.stop()


async def test_a_sink_name_shared_with_null_sinks_is_checked_with_its_own_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A working ``issue_core`` sink whose name two ``null`` sinks share: the check uses the
    filing sink's token (not the first definition's), and ``sync`` has nothing to warn."""
    monkeypatch.setenv("ACTCORE_SINK_TOKEN_TRACKER", "s3cret-tracker")
    hub = StateHub(token="s3cret-tracker").start()
    monkeypatch.setenv("ACTCORE_SINK_ORIGIN_TRACKER", hub.url)
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'actcore.db'}")
    try:
        await migrate.upgrade(store)
        settings = Settings(issue_core_url=hub.url, issue_sink_type="null")

        def definition(name: str, sink: dict[str, Any]) -> ActivityDefinition:
            return ActivityDefinition.model_validate(
                {
                    "name": name,
                    "handler": "static_report",
                    "trigger_config": {"trigger_type": "manual"},
                    "sinks": [{"type": "issue", "name": "issues", **sink}],
                }
            )

        defs = [
            definition("dry-a", {"backend": "null"}),
            definition("dry-b", {"backend": "null"}),
            definition("files", {"backend": "issue_core", "secret": "tracker"}),
        ]
        ledger = Ledger(store)
        [check] = await check_sinks("issues", defs, settings, ledger=ledger)
        assert check.passed, [p for p in check.points if not p.ok]
        assert check.definitions == ["files"]
        assert await unchecked_sinks(defs, settings, ledger) == []
        # The same URL with another token is another check: never passed, so warned.
        other = definition("other", {"backend": "issue_core", "secret": "other"})
        [warning] = await unchecked_sinks([*defs, other], settings, ledger)
        assert warning.startswith("other: sinks.issues") and "never passed" in warning
        # Only null sinks by that name: they are checked, and say so.
        [dry] = await check_sinks("issues", defs[:2], settings)
        assert dry.definitions == ["dry-a", "dry-b"] and not dry.passed
    finally:
        hub.stop()
        await store.close()
