"""Issue sinks from the operator's side: which definitions file where, the contract check
of an issue-core endpoint (kept in the store), and the warnings ``sync`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from activities.delivery import default_http_client
from activities.issues import CheckPoint, check_contract, points_as_dicts, resolve_target
from activity_core.domain import ActivityDefinition, IssueSink
from activity_core.domain.sinks import secret_of
from activity_core.settings import Settings
from activity_core.store import Ledger
from activity_core.store.errors import STORE_ERRORS


@dataclass
class IssueSinkUse:
    """One issue sink of one definition, as this process's settings resolve it."""

    definition: str
    sink: IssueSink
    backend: str
    """``null`` or ``issue_core`` (the file's, else ``ACTCORE_ISSUE_SINK_TYPE``)."""
    target: str | None
    """Base URL it files at (None: none configured)."""

    @property
    def check_key(self) -> str | None:
        """What one contract check covers: the URL and the token sent to it (a pass with
        one token says nothing about another), as kept in the store."""
        return check_key(self.target, token_label(self.sink))


def token_label(sink: IssueSink) -> str | None:
    """Which token a sink sends (None: the default one): its secret, or its variable."""
    name = secret_of(sink)
    return f"secret {name}" if name else (f"token {sink.token_env}" if sink.token_env else None)


def check_key(target: str | None, token: str | None) -> str | None:
    """``target`` alone for the default token, else ``"<target> (secret <name>)"``."""
    if target is None:
        return None
    return target if token is None else f"{target} ({token})"


@dataclass
class SinkCheck:
    """The contract check of one endpoint."""

    target: str
    """What was checked: :func:`check_key` (the URL, and the token variable if any)."""
    sink: str
    definitions: list[str]
    points: list[CheckPoint] = field(default_factory=list)
    problem: str | None = None
    """Why it could not be checked (no URL, token variable unset)."""

    @property
    def passed(self) -> bool:
        """Every point held."""
        return self.problem is None and bool(self.points) and all(p.ok for p in self.points)


def issue_sink_uses(
    definitions: list[ActivityDefinition], settings: Settings
) -> list[IssueSinkUse]:
    """Every issue sink of ``definitions`` with its backend and target decided."""
    out = []
    for d in definitions:
        for sink in d.issue_sinks:
            base, _, _ = resolve_target(sink, settings)
            out.append(
                IssueSinkUse(
                    definition=d.name,
                    sink=sink,
                    backend=sink.backend or settings.issue_sink_type,
                    target=base.rstrip("/") if base else None,
                )
            )
    return out


async def check_sinks(
    name: str,
    definitions: list[ActivityDefinition],
    settings: Settings,
    *,
    url: str | None = None,
    ledger: Ledger | None = None,
    http: httpx.AsyncClient | None = None,
) -> list[SinkCheck]:
    """Check every endpoint the issue sinks called ``name`` file at (or ``url`` alone),
    once per URL and token, each with its own token, and remember each result in the
    store when there is one (keyed by :func:`check_key`).

    Raises:
        LookupError: No definition has an issue sink of that name (and no ``url``).
    """
    uses = [u for u in issue_sink_uses(definitions, settings) if u.sink.name == name]
    if url is not None:
        sink = IssueSink(type="issue", name=name, backend="issue_core", url=url)
        uses = [IssueSinkUse("-", sink, "issue_core", url.rstrip("/"))]
    if not uses:
        known = sorted({u.sink.name for u in issue_sink_uses(definitions, settings)})
        raise LookupError(
            f"no definition has an issue sink named {name!r}"
            + (f" (issue sinks: {', '.join(known)})" if known else " (no definition has one)")
        )
    # Null sinks file nothing: they are checked only when the name has no other kind.
    filing = [u for u in uses if u.backend != "null"] or uses
    by_key: dict[str, SinkCheck] = {}
    client = http or default_http_client(settings)
    try:
        for use in filing:
            base, token, problem = resolve_target(use.sink, settings)
            key = check_key((base or "(no URL)").rstrip("/"), token_label(use.sink)) or ""
            check = by_key.get(key)
            if check is None:
                check = by_key[key] = SinkCheck(key, name, [])
                if problem is not None or base is None:
                    check.problem = problem
                else:
                    check.points = await check_contract(client, base, token)
            check.definitions.append(use.definition)
    finally:
        if http is None:
            await client.aclose()
    checks = list(by_key.values())
    if ledger is not None:
        now = datetime.now(UTC)
        for check in checks:
            if check.problem is None:
                await ledger.record_sink_check(
                    check.target, name, check.passed, points_as_dicts(check.points), now
                )
    return checks


async def unchecked_sinks(
    definitions: list[ActivityDefinition], settings: Settings, ledger: Ledger | None
) -> list[str]:
    """Warnings for ``sync``: each ``issue_core`` sink whose endpoint never passed the
    contract check (or has no URL at all)."""
    uses = [u for u in issue_sink_uses(definitions, settings) if u.backend == "issue_core"]
    if not uses:
        return []
    passed: set[str] = set()
    if ledger is not None:
        try:
            checks = await ledger.sink_checks()
        except STORE_ERRORS:
            checks = {}
        passed = {k for k, row in checks.items() if row.get("last_passed_at") is not None}
    out = []
    for use in uses:
        where = f"{use.definition}: sinks.{use.sink.name}"
        if use.target is None:
            out.append(f"{where}: files at issue-core but no URL is set (ACTCORE_ISSUE_CORE_URL)")
        elif use.check_key not in passed:
            out.append(
                f"{where}: files at {use.target}, which has never passed the contract check: "
                f"run `actcore sinks check {use.sink.name}` (docs/issue-core-contract.md)"
            )
    return out
