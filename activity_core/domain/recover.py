"""Recover after a sink outage: which deliveries a recover woke, and its one summary note.
Pure."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class RecoverInput(BaseModel):
    """Input of ``DeliveryRecoverWorkflow``: wake these deliveries, then say how it went."""

    recover_id: str
    delivery_ids: list[str]
    """Oldest first."""
    since: datetime
    until: datetime
    sink: str | None = None
    sinks: list[str] = Field(default_factory=list)
    """The sinks of the woken deliveries."""
    rate_per_second: float
    settle_seconds: float = 60.0
    """How long to wait for the woken deliveries before the summary note."""
    activity_task_queue: str | None = None
    left_for_next: int = 0
    """Deliveries of the window beyond :data:`MAX_DELIVERIES`, left for a next recover."""


class RecoverResult(BaseModel):
    """How a recover went: delivery id -> its state when the summary was written."""

    recover_id: str
    woken: int
    states: dict[str, str]
    note_path: str | None = None


MAX_DELIVERIES = 5000
"""Most deliveries one recover wakes (the oldest; a next recover takes the rest)."""
FINAL = frozenset({"delivered", "given_up", "gone"})
"""Delivery states nothing changes any more."""


class SeenDelivery(BaseModel):
    """A delivery's state and attempts, as a recover sees it."""

    state: str
    attempts: int = -1
    """-1 when not known (its status could not be asked)."""


def settled(before: SeenDelivery | None, now: SeenDelivery) -> bool:
    """Whether a woken delivery is done with the attempt the recover asked for: it ended,
    or it tried again since the wake (a dead one stays ``dead`` until then)."""
    if now.state in FINAL:
        return True
    if before is None or before.attempts < 0 or now.attempts < 0:
        return now.state != "dead" and now.state != "waiting"
    return now.attempts > before.attempts


def recover_summary(inp: RecoverInput, states: dict[str, str]) -> tuple[str, str]:
    """Title and body of a recover's one summary note."""
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    told = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing"
    sinks = sorted(set(inp.sinks))
    title = f"Recover {inp.recover_id}: {len(inp.delivery_ids)} deliveries woken, {told}"
    lines = [
        f"Recover `{inp.recover_id}` woke the dead and waiting deliveries started between "
        f"{inp.since:%Y-%m-%d %H:%M} and {inp.until:%Y-%m-%d %H:%M} UTC"
        + (f" to sink `{inp.sink}`" if inp.sink else "")
        + f", oldest first, {inp.rate_per_second:g} per second.",
        "",
        f"- deliveries: {len(inp.delivery_ids)} ({', '.join(sinks) or 'none'})",
        f"- after {inp.settle_seconds:g} s: {told}",
    ]
    if inp.left_for_next:
        lines.append(
            f"- {inp.left_for_next} more in the window were left for the next recover "
            f"(at most {MAX_DELIVERIES} each): run it again"
        )
    still = sorted(d for d, s in states.items() if s not in ("delivered", "gone"))
    if still:
        lines += ["", "Not delivered yet (`actcore deliveries list --status dead`):", ""]
        lines += [f"- `{d}`: {states[d]}" for d in still[:50]]
        if len(still) > 50:
            lines.append(f"- ... and {len(still) - 50} more")
    lines += [
        "",
        "This note stands for every delivery the recover woke: those that went dead again "
        "wrote no note of their own. Fix the sink, then recover again.",
    ]
    return title, "\n".join(lines) + "\n"
