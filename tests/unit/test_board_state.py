"""The board's words: one state per definition, verdicts no older than the ledger, ages,
and every alert's next step and runbook section."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activity_core.api.board import _code
from activity_core.api.runbook import anchors, heading_anchor, runbook_source
from activity_core.domain import Alert, RunRecord, Severity
from activity_core.domain.alert_text import RUNBOOK_SECTIONS, WHAT_TO_DO, what_to_do
from activity_core.services.board import ago, freshest_verdict, row_state

NOW = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)
FIRE = datetime(2026, 12, 3, 7, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("verdict", "dead", "waiting", "pages", "expected"),
    [
        ("ok", 0, 0, [], ("ok", "good")),
        ("ok", 4, 0, [], ("delivery_dead", "bad")),
        ("ok", 0, 2, [], ("delivery_waiting", "warn")),
        ("ok", 1, 2, [], ("delivery_dead", "bad")),
        ("missing", 0, 2, [], ("missing", "bad")),
        ("late", 0, 0, ["failed"], ("failed", "bad")),
        ("running", 0, 0, [], ("running", "info")),
    ],
)
def test_a_definition_has_the_worst_of_its_verdict_deliveries_and_pages(
    verdict: str, dead: int, waiting: int, pages: list[str], expected: tuple[str, str]
) -> None:
    assert row_state(verdict, dead, waiting, pages) == expected


def _run(state: str, fire: datetime, outcome: str | None = "ran") -> RunRecord:
    return RunRecord(
        run_id="r",
        activity_id="a",
        activity_name="n",
        state=state,  # type: ignore[arg-type]
        outcome=outcome,
        scheduled_for=fire,
        updated_at=fire,
    )


def test_the_ledger_overrides_a_pass_that_judged_a_fire_still_running() -> None:
    assert freshest_verdict("running", FIRE, _run("completed", FIRE), scheduled=True) == "ok"
    assert freshest_verdict("due", FIRE, _run("failed", FIRE, None), scheduled=True) == "failed"
    # A newer fire in the ledger than the one judged: the ledger's word.
    newer = _run("completed", FIRE + timedelta(days=1), "ran_late")
    assert freshest_verdict("missing", FIRE, newer, scheduled=True) == "late"
    # The same fire, judged finished: the watchdog's verdict stands (it knows deliveries).
    assert freshest_verdict("delivery_dead", FIRE, _run("completed", FIRE), scheduled=True) == (
        "delivery_dead"
    )
    assert freshest_verdict("running", FIRE, _run("running", FIRE), scheduled=True) == "running"
    assert freshest_verdict(None, None, None, scheduled=True) == "not judged yet"
    assert freshest_verdict(None, None, None, scheduled=False) == "never run"


def test_times_say_how_old_they_are() -> None:
    assert ago(NOW - timedelta(seconds=10), NOW) == "just now"
    assert ago(NOW - timedelta(minutes=10), NOW) == "10 min ago"
    assert ago(NOW - timedelta(hours=5), NOW) == "5 h ago"
    assert ago(NOW - timedelta(days=3), NOW) == "3 d ago"
    assert ago(NOW + timedelta(minutes=50), NOW) == "in 50 min"
    assert ago(None, NOW) == ""


def test_every_alert_kind_has_a_runbook_section_that_exists() -> None:
    source = runbook_source()
    assert source is not None
    headings = anchors(source)
    assert set(WHAT_TO_DO) <= set(RUNBOOK_SECTIONS), set(WHAT_TO_DO) - set(RUNBOOK_SECTIONS)
    missing = {k: v for k, v in RUNBOOK_SECTIONS.items() if v not in headings}
    assert not missing, f"runbook sections gone: {missing}"


def test_anchors_are_githubs() -> None:
    assert heading_anchor("Did today's run happen?") == "did-todays-run-happen"
    assert heading_anchor("Deliveries are waiting: what now") == "deliveries-are-waiting-what-now"
    assert heading_anchor("Moving from `null` to `issue_core`") == "moving-from-null-to-issue_core"


def test_what_to_do_names_the_definition_and_commands_render_as_code() -> None:
    alert = Alert(
        alert_id="x",
        activity_id="a",
        activity_name="daily-triage",
        kind="failed",
        severity=Severity.PAGE,
        opened_at=NOW,
    )
    todo = what_to_do(alert)
    assert todo is not None and "`actcore trigger daily-triage`" in todo
    assert "`actcore backfill daily-triage --since 1d --dry-run`" in todo
    assert "NAME" not in todo
    html = str(_code("run `actcore sync` <script>x</script>"))
    assert "<code>actcore sync</code>" in html and "<script>" not in html
