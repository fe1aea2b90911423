"""Mutes and maintenance windows: while one is in force the watchdog keeps judging, but
holds back pages and recovery notices, and sends one summary when it ends. Pure.

A mute is set by hand (``actcore mute``, ``POST /mutes``) and stored in the registry
database; a maintenance window recurs, declared in a definition
(``watch.maintenance``)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel

from activity_core.domain.definition import MaintenanceWindow
from activity_core.domain.watchdog import Advance, Alert, MuteSpan, Severity, alert_id

ALL = "*"
"""The target of a mute of everything (every definition, sink, router and the watchdog)."""
MAX_MUTE = timedelta(days=90)
"""Longest mute: a mute that outlives its reason is how monitoring goes silent."""
_DURATION = re.compile(r"(\d+)\s*([smhdw])", re.I)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Mute(BaseModel):
    """One mute: a definition's (or everything's) pages held from ``starts_at`` to
    ``ends_at``."""

    mute_id: str
    target: str
    """A definition name, or ``*`` for everything."""
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str = "cli"
    created_at: datetime
    ended_early_at: datetime | None = None
    """Set by ``actcore unmute``: the mute ended then."""

    @property
    def until(self) -> datetime:
        """When the mute stops (early end included)."""
        return min(self.ends_at, self.ended_early_at or self.ends_at)

    def active(self, at: datetime) -> bool:
        """Whether the mute holds at ``at``."""
        return self.starts_at <= at < self.until


def parse_duration(text: str) -> timedelta:
    """``2h``, ``90m``, ``1d12h``, ``45s`` as a timedelta.

    Raises:
        ValueError: The text is not such a duration, is zero, or exceeds 90 days.
    """
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise ValueError(f"{text[:40]!r} is not a duration: use e.g. 30m, 2h, 1d or 1d12h")
    total = timedelta(seconds=sum(int(n) * _UNIT_S[u.lower()] for n, u in parts))
    if total <= timedelta(0) or total > MAX_MUTE:
        raise ValueError(f"{text!r}: a mute lasts more than 0 s and at most 90 days")
    return total


def muted_targets(
    mutes: list[Mute],
    maintenance: dict[str, list[MaintenanceWindow]],
    at: datetime,
) -> dict[str, str]:
    """Target (definition name or ``*``) -> why it is muted at ``at``.

    Args:
        mutes: The stored mutes (any state: only those in force count).
        maintenance: Definition name -> its recurring windows.
        at: The pass time.
    """
    out: dict[str, str] = {}
    for m in sorted(mutes, key=lambda m: m.starts_at):
        if m.active(at):
            out[m.target] = f"muted until {m.until:%Y-%m-%d %H:%M} UTC: {m.reason}"
    for name, windows in maintenance.items():
        for w in windows:
            opened = w.open_at(at)
            if opened is not None and name not in out:
                ends = opened + timedelta(seconds=w.duration_seconds)
                out[name] = f"maintenance window until {ends:%Y-%m-%d %H:%M} UTC ({w.cron})"
    return out


def _key(activity_id: str, muted: dict[str, str]) -> str | None:
    """The mute that holds an alert about ``activity_id`` (its own, else everything's)."""
    if activity_id in muted:
        return activity_id
    return ALL if ALL in muted else None


def hold_muted(
    out: Advance,
    open_alerts: list[Alert],
    spans: dict[str, MuteSpan],
    muted: dict[str, str],
    names: dict[str, str],
    now: datetime,
) -> dict[str, MuteSpan]:
    """Hold back what a mute covers; summarise each mute that ended. Returns the spans
    still in force.

    Args:
        out: This pass's result: muted alerts move from ``raised`` and muted notices from
            ``recovered`` to ``held``; each ended mute's summary joins ``recovered``.
        open_alerts: The open alerts after this pass (held ones stay open, flagged).
        spans: The mutes in force at the previous pass.
        muted: Mute key (definition id, or ``*``) -> why, now.
        names: Definition id -> name (for the summaries).
        now: Pass time.
    """
    spans = {k: v.model_copy(deep=True) for k, v in spans.items()}
    for key, why in muted.items():
        if key not in spans:
            name = "everything" if key == ALL else names.get(key, key)
            spans[key] = MuteSpan(since=now, reason=why, name=name)
        spans[key].reason = why
    for alert in list(out.raised):
        holder = _key(alert.activity_id, muted)
        if holder is not None:
            alert.muted = muted[holder]
            out.raised.remove(alert)
            out.held.append(alert)
            spans[holder].held.append(alert.title())
            spans[holder].held_ids.append(alert.alert_id)
    for notice in list(out.recovered):
        holder = _key(notice.activity_id, muted)
        if holder is not None:
            out.recovered.remove(notice)
            out.held.append(notice)
            spans[holder].held.append(notice.title())
    for key in [k for k in spans if k not in muted]:
        span = spans.pop(key)
        out.recovered.append(_summary(key, span, open_alerts, now))
    return spans


def _summary(key: str, span: MuteSpan, open_alerts: list[Alert], now: datetime) -> Alert:
    """One notice for a mute that ended: what it held back and what is still wrong (a
    page when a held page alert is still open)."""
    still = [a for a in open_alerts if a.alert_id in span.held_ids]
    for a in still:
        a.muted = None  # from here on, an ordinary open alert
    pages = [a for a in still if a.severity == Severity.PAGE]
    held = f"{len(span.held)} alert(s) and notice(s) held back" if span.held else "nothing held"
    open_text = f"; still open: {'; '.join(a.title() for a in still)}" if still else ""
    detail = (
        f"muted {span.since:%Y-%m-%d %H:%M} to {now:%H:%M} UTC ({span.reason}); {held}{open_text}"
    )
    return Alert(
        alert_id=alert_id(span.name, "mute_ended", span.since.isoformat()),
        activity_id=key,
        activity_name=span.name,
        kind="mute_ended",
        severity=Severity.PAGE if pages else Severity.NOTE,
        opened_at=now,
        detail=detail + "".join(f"\n- held: {t}" for t in span.held[:50]),
    )
