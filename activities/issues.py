"""The issue sink: file a run's tasks at issue-core, one request per task, and check an
endpoint against the contract (``docs/issue-core-contract.md``).

Every failure is *returned* as a classification, never raised: the delivery workflow
decides what to wait for. A task issue-core accepted is reported back and never sent again.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from temporalio import activity

from activities.delivery import (
    SinkActivities,
    bad_header_value,
    classify_status,
    describe_http_error,
    http_error_outcome,
    parse_retry_after,
    post_capped,
    same_origin,
    settle,
    sink_token,
)
from activities.redact import sanitise, scrub
from activity_core.domain import AttemptOutcome, DeliveryAttemptResult, FileTasksInput, IssueSink
from activity_core.domain.tasks import FiledTask, Task, issue_idempotency_key, merge_labels
from activity_core.settings import Settings

log = logging.getLogger(__name__)

#: Refusals that concern one task (its content): the other tasks are still filed.
TASK_LEVEL_REJECTIONS = {400, 413, 422}
#: Share of the attempt's timeout one call may use before it hands back what it did.
BUDGET_SHARE = 0.7


def issues_url(base: str) -> str:
    """``<base>/issues/``."""
    return f"{base.rstrip('/')}/issues/"


def resolve_target(
    sink: IssueSink, settings: Settings
) -> tuple[str | None, str | None, str | None]:
    """(base URL, token, configuration problem) of an issue sink on this worker; a token
    goes only to the origin it was configured for."""
    configured = settings.issue_core_url
    base = sink.url or configured
    if not base:
        return (
            None,
            None,
            f"sink {sink.name} has no issue-core URL: set ACTCORE_ISSUE_CORE_URL on the "
            "worker or url in the sink",
        )
    if sink.token_env or sink.secret:
        token, problem = sink_token(settings, sink, base)
        return base, token, problem
    token = settings.issue_core_token.get_secret_value() if settings.issue_core_token else None
    if token and not (configured and same_origin(base, configured)):
        token = None
    return base, token, None


def _error_text(text: str) -> str:
    """The contract's ``{"error": {"message", "field"}}`` as one line, else the raw start."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        field = f" (field {err['field']})" if isinstance(err.get("field"), str) else ""
        return f"{str(err.get('message', ''))[:200]}{field}"
    return " ".join(text[:200].split())


def _filed(task: Task, status: int, text: str) -> FiledTask | None:
    """The accepted task from a 2xx or 409 answer; None when a 2xx is not the contract's
    JSON (a proxy's page stores nothing)."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return None if status != 409 else FiledTask(key=task.key, created=False)
    issue_id = body.get("id")
    if status != 409 and not isinstance(issue_id, str | int):
        return None
    url = body.get("url")
    created = body.get("created")
    return FiledTask(
        key=task.key,
        issue_id=str(issue_id) if isinstance(issue_id, str | int) else None,
        url=url if isinstance(url, str) else None,
        created=created if isinstance(created, bool) else status == 201,
    )


def task_body(
    task: Task, sink: IssueSink, *, activity_id: str, activity_name: str, run_id: str
) -> dict[str, Any]:
    """What issue-core receives for one task."""
    return {
        "key": task.key,
        "title": task.title,
        "body": task.body,
        "labels": merge_labels(sink.labels, task.labels),
        "priority": task.priority,
        "links": [link.model_dump(exclude_none=True) for link in task.links],
        "source": {"activity_id": activity_id, "activity_name": activity_name, "run_id": run_id},
        "dry_run": False,
    }


class IssueActivities:
    """The ``file_tasks`` activity; shares the delivery activities' HTTP client and pacing."""

    def __init__(self, sinks: SinkActivities, settings: Settings) -> None:
        """Build once per worker next to the delivery activities."""
        self._sinks = sinks
        self._settings = settings

    @activity.defn(name="file_tasks")
    async def file_tasks(self, inp: FileTasksInput) -> DeliveryAttemptResult:
        """File each task in order; stop at the first failure a later try may fix.

        ``DELIVERED``: no failure in this call (it may hand back early, with part of the
        batch filed, when its time is running out: the workflow calls again). ``TRANSIENT``
        and ``PERMANENT`` carry what was filed before the failure (raised as
        ``DeliveryAttemptFailed`` when the workflow asked: see :func:`settle`).
        """
        return settle(inp.fail_visibly, await self._file_tasks(inp))

    async def _file_tasks(self, inp: FileTasksInput) -> DeliveryAttemptResult:
        base, token, problem = resolve_target(inp.sink, self._settings)
        if problem is None and token is not None and bad_header_value(token):
            problem = (
                "the issue sink's token contains whitespace or control characters and cannot "
                "be sent; fix it and retry"
            )
        if problem is not None or base is None:
            log.error("tasks not filed", extra={"sink": inp.sink.name, "why": problem})
            return DeliveryAttemptResult(outcome=AttemptOutcome.PERMANENT, error=problem)
        url = issues_url(base)
        started = time.monotonic()
        budget = BUDGET_SHARE * self._timeout()
        filed: list[FiledTask] = []
        rejected: dict[str, str] = {}
        result: DeliveryAttemptResult | None = None
        for index, task in enumerate(inp.tasks):
            if filed and time.monotonic() - started > budget:
                break
            result = await self._file_one(inp, task, url, token, f"{index + 1}/{len(inp.tasks)}")
            filed += result.filed
            rejected.update(result.rejected)
            if result.outcome in (AttemptOutcome.TRANSIENT, AttemptOutcome.PERMANENT):
                break
            result = None
        if result is None:
            outcome = AttemptOutcome.PERMANENT if rejected else AttemptOutcome.DELIVERED
            error = None
            if rejected:
                first = next(iter(rejected.items()))
                error = f"{len(rejected)} task(s) rejected; {first[0]}: {first[1]}"
            result = DeliveryAttemptResult(outcome=outcome, error=error)
        result.filed, result.rejected = filed, rejected
        log.info(
            "tasks filed",
            extra={
                "sink": inp.sink.name,
                "url": url,
                "outcome": result.outcome.value,
                "filed": len(filed),
                "rejected": len(rejected),
                "of": len(inp.tasks),
                "error": result.error,
                "elapsed_ms": round((time.monotonic() - started) * 1000),
            },
        )
        return result

    def _timeout(self) -> float:
        timeout = activity.info().start_to_close_timeout
        return timeout.total_seconds() if timeout else 60.0

    async def _file_one(
        self, inp: FileTasksInput, task: Task, url: str, token: str | None, position: str
    ) -> DeliveryAttemptResult:
        """One task: filed, rejected (this task only), or a failure that stops the batch."""
        headers = {
            "Idempotency-Key": issue_idempotency_key(inp.activity_id, task.key),
            "X-Activity-Core-Attempt": str(inp.attempt),
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = task_body(
            task,
            inp.sink,
            activity_id=inp.activity_id,
            activity_name=inp.activity_name,
            run_id=inp.run_id,
        )
        await self._sinks.pacer(url, inp.sink.pace_per_second).wait()
        try:
            response, text, cut = await post_capped(self._sinks.http, url, body, headers)
        except httpx.HTTPError as exc:
            return self._failed(
                http_error_outcome(exc),
                f"task {position} ({task.key}): {describe_http_error(exc)}",
                token,
            )
        status = response.status_code
        outcome = classify_status(status)
        if outcome in (AttemptOutcome.DELIVERED, AttemptOutcome.DUPLICATE):
            done = None if cut else _filed(task, status, text)
            if done is not None:
                return DeliveryAttemptResult(
                    outcome=AttemptOutcome.DELIVERED, status_code=status, filed=[done]
                )
            return self._failed(
                AttemptOutcome.TRANSIENT,
                f"task {position} ({task.key}): HTTP {status} but the answer is not the "
                "contract's JSON with an id: a proxy or a wrong URL?",
                token,
                status,
            )
        secrets = [token or ""]
        detail = f"HTTP {status}: {sanitise(_error_text(text), secrets)}"
        if 300 <= status < 400:
            where = sanitise(response.headers.get("Location", "?")[:300], secrets)
            detail = (
                f"HTTP {status}: redirect to {where} "
                "(redirects are not followed: put the final URL in the sink)"
            )
        if outcome == AttemptOutcome.PERMANENT and status in TASK_LEVEL_REJECTIONS:
            why = scrub(detail, [token or ""])
            return DeliveryAttemptResult(
                outcome=AttemptOutcome.DELIVERED, status_code=status, rejected={task.key: why}
            )
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        failed = self._failed(outcome, f"task {position} ({task.key}): {detail}", token, status)
        failed.retry_after_seconds = retry_after
        return failed

    @staticmethod
    def _failed(
        outcome: AttemptOutcome, error: str, token: str | None, status: int | None = None
    ) -> DeliveryAttemptResult:
        return DeliveryAttemptResult(
            outcome=outcome, status_code=status, error=scrub(error, [token or ""])
        )


# -- contract check ------------------------------------------------------------------


@dataclass(frozen=True)
class CheckPoint:
    """One point of the contract check."""

    field: str
    """What was checked (``status``, ``dry_run``, ``error.field``...)."""
    ok: bool
    """Whether the endpoint met it."""
    detail: str
    """What was expected and what came back."""


async def check_contract(http: httpx.AsyncClient, base: str, token: str | None) -> list[CheckPoint]:
    """Send the contract's dry-run requests to ``<base>/issues/`` and check the answers
    point by point. Nothing is created by an endpoint that keeps the contract."""
    url = issues_url(base)
    key = f"activity-core-contract-check:{secrets.token_hex(4)}"
    task = Task(key=key, title="activity-core contract check (dry run)", body="dry run")
    sink = IssueSink(type="issue", backend="issue_core")
    body = task_body(task, sink, activity_id="contract-check", activity_name="-", run_id="-")
    body["dry_run"] = True
    headers = {"Idempotency-Key": f"contract-check:{key}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    points: list[CheckPoint] = []
    first = await _dry_run(http, url, body, headers, points, "")
    if first is None:
        return points
    points.append(_point("dry_run", first.get("dry_run") is True, "true", first.get("dry_run")))
    points.append(_point("key", first.get("key") == key, repr(key), first.get("key")))
    would = first.get("would_create")
    points.append(_point("would_create", would is True, "true (the key is new)", would))
    second = await _dry_run(http, url, body, headers, points, "again.")
    if second is not None:
        again = second.get("would_create")
        points.append(
            _point(
                "again.would_create",
                again is True,
                "still true: a dry run stores nothing",
                again,
            )
        )
    bad = {**body, "title": ""}
    bad["key"] = f"{key}-invalid"
    try:
        response, text, _ = await post_capped(http, url, bad, headers)
    except httpx.HTTPError as exc:
        points.append(CheckPoint("error.status", False, describe_http_error(exc)))
        return points
    status = response.status_code
    points.append(
        _point("error.status", status in (400, 422), "400 or 422 for an empty title", status)
    )
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(err, dict):
        points.append(
            CheckPoint(
                "error",
                False,
                'expected {"error": {"code", "message", "field"}}, got '
                + " ".join(text[:120].split()),
            )
        )
        return points
    for name in ("code", "message"):
        value = err.get(name)
        ok = isinstance(value, str) and bool(value)
        points.append(_point(f"error.{name}", ok, "a non-empty string", value))
    field = err.get("field")
    points.append(_point("error.field", field == "title", "'title'", field))
    return points


async def _dry_run(
    http: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    points: list[CheckPoint],
    prefix: str,
) -> dict[str, Any] | None:
    try:
        response, text, _ = await post_capped(http, url, body, headers)
    except httpx.HTTPError as exc:
        points.append(CheckPoint(f"{prefix}status", False, describe_http_error(exc)))
        return None
    status = response.status_code
    hint = {401: " (token refused)", 403: " (token refused)", 404: " (wrong URL?)"}.get(status, "")
    points.append(_point(f"{prefix}status", status == 200, "200 for a dry run", f"{status}{hint}"))
    kind = response.headers.get("content-type", "")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    is_json = "json" in kind.lower() and isinstance(parsed, dict)
    points.append(_point(f"{prefix}content_type", is_json, "a JSON object", kind or "none"))
    return parsed if is_json else None


def _point(field: str, ok: bool, expected: str, got: object) -> CheckPoint:
    return CheckPoint(field, ok, f"expected {expected}, got {got!r}" if not ok else "ok")


def points_as_dicts(points: list[CheckPoint]) -> list[dict[str, Any]]:
    """Check points as plain dicts (for the store and JSON output)."""
    return [asdict(p) for p in points]
