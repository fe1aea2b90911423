"""Bad input gets a clear error and loses nothing.

Every file in tests/data/bad_definitions/ is loaded on its own and must be rejected with
the message its first line (``# expect: ...``) or expected.json names, prefixed by the
file; then sync must write nothing when any file is bad.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from activities import notes
from activity_core.domain.schedule_spec import is_scheduled, schedule_id
from activity_core.errors import DefinitionsError
from activity_core.loader import load_definitions

CORPUS = Path(__file__).parents[1] / "data" / "bad_definitions"
REPO = Path(__file__).resolve().parents[2]
SIDE = json.loads((CORPUS / "expected.json").read_text())
FILES = sorted(p for p in CORPUS.iterdir() if p.name != "expected.json")


def _expected(path: Path) -> str:
    if path.name in SIDE:
        return str(SIDE[path.name])
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} has no '# expect:' line"
    return first.removeprefix("# expect: ")


def test_corpus_is_big_enough() -> None:
    assert len(FILES) >= 25


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_bad_definition_is_rejected_clearly(path: Path, tmp_path: Path) -> None:
    shutil.copy(path, tmp_path / path.name)
    with pytest.raises(DefinitionsError) as info:
        load_definitions(tmp_path)
    (error,) = info.value.errors
    assert error.startswith(f"{tmp_path / path.name}: "), error
    assert _expected(path) in error, error


def test_ten_megabyte_file_is_refused_without_parsing(tmp_path: Path) -> None:
    big = tmp_path / "huge.yaml"
    big.write_text("name: huge\n" + "# padding\n" * 1_100_000)
    with pytest.raises(DefinitionsError, match=r"huge.yaml: file is \d+ bytes; a definition"):
        load_definitions(tmp_path)


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    body = "id: 6b1e3f0c-0000-4000-8000-000000000001\nhandler: static_report\n"
    body += "trigger_config: {trigger_type: manual}\n"
    (tmp_path / "a.yaml").write_text("name: one\n" + body)
    (tmp_path / "b.yaml").write_text("name: two\n" + body)
    with pytest.raises(DefinitionsError, match=r"b.yaml: id: .* is already used by .*a.yaml"):
        load_definitions(tmp_path)


def test_note_paths_cannot_escape_the_working_memory(tmp_path: Path) -> None:
    assert notes.within(tmp_path, "sub", "n.md") == (tmp_path / "sub" / "n.md").resolve()
    with pytest.raises(ValueError, match="refusing to write outside"):
        notes.within(tmp_path, "..", "evil.md")
    with pytest.raises(ValueError, match="refusing to write outside"):
        notes.within(tmp_path, "/etc/passwd")
    assert notes.safe_component("../../etc/passwd") == "etc-passwd"
    assert notes.safe_component("") == "x"


def test_sync_writes_nothing_when_any_file_is_bad(env: WorkflowEnvironment, tmp_path: Path) -> None:
    defs = tmp_path / "definitions"
    shutil.copytree(REPO / "definitions", defs)
    shutil.copy(CORPUS / "unknown-zone.yaml", defs)
    address = env.client.service_client.config.target_host
    out = subprocess.run(
        [sys.executable, "-m", "activity_core.cli", "sync"],
        env={**os.environ, "ACTCORE_DEFINITIONS_DIR": str(defs), "TEMPORAL_ADDRESS": address},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "unknown-zone.yaml: trigger_config.timezone: 'Europe/Berln'" in out.stderr
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "temporal"), "schedule", "list", "--address", address],
        capture_output=True,
        text=True,
        timeout=30,
    )
    # The server is shared with other tests: look for the schedules this sync would
    # have written, not for any schedule at all.
    wanted = [
        schedule_id(d)
        for d in load_definitions(REPO / "definitions").definitions
        if is_scheduled(d)
    ]
    assert wanted, "the repository's definitions should include scheduled ones"
    assert listed.returncode == 0, listed.stderr
    written = [sid for sid in wanted if sid in listed.stdout]
    assert written == []


@pytest.mark.parametrize("name", ["dlq.schema", "unmatched.user.created"])
def test_event_types_may_not_take_the_routers_own_subjects(name: str) -> None:
    from activity_core.domain.events import EventEnvelope, EventType

    with pytest.raises(ValidationError, match="rename the type"):
        EventType.model_validate({"name": name})
    with pytest.raises(ValidationError, match="dead letters and unmatched"):
        EventEnvelope.model_validate(
            {
                "event_id": "e1",
                "type": name,
                "source": "s",
                "occurred_at": "2026-12-03T07:00:00Z",
                "subject": "x",
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                "payload": {},
            }
        )
