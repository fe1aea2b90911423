"""Event-type schemas fetch nothing from elsewhere; event text is copied into notes as
text, never as HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from activity_core.errors import DefinitionsError
from activity_core.loader import parse_event_type


@pytest.mark.parametrize(
    ("ref", "where"),
    [
        ({"$ref": "https://schemas.example/user.json"}, "(top)"),
        ({"properties": {"tier": {"$ref": "http://169.254.169.254/latest"}}}, "properties/tier"),
        ({"allOf": [{"$ref": "file:///etc/passwd"}]}, "allOf/0"),
        ({"$defs": {"x": {"$dynamicRef": "other.json#meta"}}}, "$defs/x"),
    ],
)
def test_a_schema_with_a_remote_reference_is_refused(
    tmp_path: Path, ref: dict[str, object], where: str
) -> None:
    path = tmp_path / "user.created.yaml"
    path.write_text(yaml.safe_dump({"name": "user.created", "schema": {"type": "object", **ref}}))
    with pytest.raises(DefinitionsError) as caught:
        parse_event_type(path)
    [line] = caught.value.errors
    assert line.startswith(f"{path}: schema: ") and f"at {where} is" in line, line
    assert "remote references are never fetched" in line and "#/$defs/" in line


def test_a_local_reference_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "user.created.yaml"
    schema = {
        "type": "object",
        "$defs": {"tier": {"enum": ["free", "pro"]}},
        "properties": {"tier": {"$ref": "#/$defs/tier"}},
    }
    path.write_text(yaml.safe_dump({"name": "user.created", "schema": schema}))
    assert parse_event_type(path).payload_schema == schema


async def test_event_source_and_subject_are_escaped_in_the_note() -> None:
    from activities.handlers import HandlerContext
    from activities.handlers.static import static_report
    from activity_core.domain import ActivityDefinition, HandlerInput
    from activity_core.domain.events import EventEnvelope

    definition = ActivityDefinition.model_validate(
        {
            "name": "welcome",
            "handler": "static_report",
            "trigger_config": {"trigger_type": "manual"},
        }
    )
    event = EventEnvelope(
        event_id="e-1",
        type="user.created",
        source='<img src=x onerror="alert(1)">',
        subject="<script>steal()</script>",
        occurred_at=datetime.now(UTC),
        trace_id="0af7651916cd43dd8448eb211c80319c",
        payload={},
    )
    inp = HandlerInput(
        definition=definition, run_id="r-1", scheduled_for=datetime.now(UTC), event=event
    )
    report = await static_report(
        HandlerContext(input=inp, client=None, settings=None)  # type: ignore[arg-type]
    )
    assert "<img" not in report.markdown and "<script>" not in report.markdown
    assert "&lt;script&gt;steal()&lt;/script&gt;" in report.markdown
