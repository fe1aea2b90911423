"""Definition files: valid ones load, invalid ones name the file, the field and the fix."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from activity_core.domain import (
    DEFINITION_ID_NAMESPACE,
    CronTrigger,
    MisfirePolicy,
    StateHubProgressSink,
)
from activity_core.errors import DefinitionsError
from activity_core.loader import load_definitions

REPO = Path(__file__).resolve().parents[2]

GOOD = """
name: nightly
handler: static_report
trigger_config:
  trigger_type: cron
  cron_expression: "0 3 * * *"
  timezone: Europe/Berlin
  misfire_policy: skip
sinks:
  - type: working_memory
  - type: state_hub_progress
    event_type: nightly_report
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _errors(tmp_path: Path) -> list[str]:
    with pytest.raises(DefinitionsError) as info:
        load_definitions(tmp_path)
    return info.value.errors


def test_shipped_definitions_load() -> None:
    loaded = load_definitions(REPO / "definitions")
    digest = loaded.by_name("daily-activity-digest")
    assert isinstance(digest.trigger_config, CronTrigger)
    assert digest.trigger_config.cron_expression == "20 7 * * *"
    assert digest.trigger_config.timezone == "Europe/Berlin"
    sinks = {s.type: s for s in digest.sinks}
    assert set(sinks) == {"working_memory", "state_hub_progress"}
    hub_sink = sinks["state_hub_progress"]
    assert isinstance(hub_sink, StateHubProgressSink) and hub_sink.event_type == "daily_digest"
    assert any(d.trigger_config.trigger_type == "interval" for d in loaded.definitions)


def test_id_is_derived_from_name_and_stable(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD)
    first = load_definitions(tmp_path).by_name("nightly")
    second = load_definitions(tmp_path).by_name("nightly")
    assert first.id == second.id == uuid.uuid5(DEFINITION_ID_NAMESPACE, "nightly")


def test_explicit_id_is_kept(tmp_path: Path) -> None:
    fixed = uuid.uuid4()
    _write(tmp_path, "a.yaml", f"id: {fixed}\n{GOOD}")
    assert load_definitions(tmp_path).by_name("nightly").id == fixed


def test_json_files_load(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "m.json",
        '{"name": "by-hand", "handler": "static_report", '
        '"trigger_config": {"trigger_type": "manual"}}',
    )
    assert load_definitions(tmp_path).by_name("by-hand").handler == "static_report"


def test_misspelt_time_zone_names_file_field_and_fix(tmp_path: Path) -> None:
    _write(tmp_path, "x.yaml", GOOD.replace("Europe/Berlin", "Europe/Berln"))
    assert _errors(tmp_path) == [
        f"{tmp_path / 'x.yaml'}: trigger_config.timezone: "
        "'Europe/Berln' is not an IANA time zone (e.g. 'Europe/Berlin', 'UTC')"
    ]


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ('"0 3 * * *"', '"0 25 * * *"', "trigger_config.cron_expression", "not a valid"),
        (
            "misfire_policy: skip",
            "misfire_policy: sometimes",
            "trigger_config.misfire_policy",
            "'skip', 'catchup_all' or 'catchup_latest'",
        ),
        ("  misfire_policy: skip\n", "", "trigger_config.misfire_policy", "required field"),
        ("handler: static_report", "handler: static_report\nowner: me", "owner", "unknown field"),
        (
            "event_type: nightly_report",
            "event_type: nightly_report\n    colour: red",
            "sinks[1].colour",
            "unknown field",
        ),
        (
            "type: working_memory",
            "type: carrier_pigeon",
            "sinks[0].type",
            "'carrier_pigeon' is not one of 'working_memory', 'state_hub_progress', 'webhook'",
        ),
        ("name: nightly", "name: Nightly Run", "name", "is not a slug"),
        ("name: nightly", "name: ../etc", "name", "is not a slug"),
        (
            "trigger_type: cron",
            "trigger_type: crn",
            "trigger_config.trigger_type",
            "'crn' is not one of 'cron', 'interval', 'event', 'manual'",
        ),
    ],
)
def test_bad_field_is_named(tmp_path: Path, old: str, new: str, field: str, expected: str) -> None:
    assert old in GOOD
    _write(tmp_path, "bad.yaml", GOOD.replace(old, new))
    errors = _errors(tmp_path)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{tmp_path / 'bad.yaml'}: {field}: "), errors[0]
    assert expected in errors[0]


def test_policy_aliases_are_accepted_with_a_warning(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD.replace("misfire_policy: skip", "misfire_policy: compress"))
    loaded = load_definitions(tmp_path)
    trig = loaded.by_name("nightly").trigger_config
    assert isinstance(trig, CronTrigger) and trig.misfire_policy == MisfirePolicy.CATCHUP_LATEST
    assert loaded.warnings and "'compress' is deprecated" in loaded.warnings[0]


def test_unknown_handler_lists_known_ones(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD.replace("static_report", "wsjf_magic"))
    (error,) = _errors(tmp_path)
    assert "handler: unknown handler 'wsjf_magic'" in error
    assert "activity_digest" in error


def test_all_or_nothing_every_bad_file_is_reported(tmp_path: Path) -> None:
    _write(tmp_path, "good.yaml", GOOD)
    _write(tmp_path, "empty.yaml", "")
    _write(tmp_path, "broken.yaml", "name: [unclosed\n")
    _write(tmp_path, "list.yaml", "- a\n- b\n")
    errors = _errors(tmp_path)
    assert len(errors) == 3
    assert any("broken.yaml: invalid YAML at line" in e for e in errors)
    assert any("empty.yaml: file is empty" in e for e in errors)
    assert any("list.yaml: expected a mapping" in e for e in errors)


def test_duplicate_names_and_sink_names_are_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD)
    _write(tmp_path, "b.yaml", GOOD)
    (error,) = _errors(tmp_path)
    assert "b.yaml: name: 'nightly' is already defined in" in error

    dup_sinks = GOOD + "  - type: webhook\n    name: state_hub\n    url: http://x/\n"
    _write(tmp_path, "b.yaml", dup_sinks.replace("nightly", "other"))
    (error,) = _errors(tmp_path)
    assert "sink names must be unique; state_hub appears more than once" in error


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionsError, match="does not exist"):
        load_definitions(tmp_path / "nope")
