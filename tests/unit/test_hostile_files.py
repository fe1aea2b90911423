"""Files that are not plain definition files: refused quickly, by name, never read whole
or waited on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from activity_core.errors import DefinitionsError
from activity_core.loader import load_definitions

GOOD = "name: good\nhandler: static_report\ntrigger_config: {trigger_type: manual}\n"
pytestmark = pytest.mark.timeout(20)


def _errors(directory: Path) -> str:
    with pytest.raises(DefinitionsError) as info:
        load_definitions(directory)
    return "\n".join(info.value.errors)


def test_fifo_named_like_a_definition_does_not_block(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    os.mkfifo(tmp_path / "zz.yaml")
    text = _errors(tmp_path)
    assert f"{tmp_path / 'zz.yaml'}: is not a regular file" in text


def test_symlink_to_dev_zero_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    assert "zero.yaml: is a symbolic link out of the definitions directory" in _errors(tmp_path)


def test_symlink_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(GOOD)
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "linked.yaml").symlink_to(outside)
    assert "linked.yaml: is a symbolic link out of the definitions directory" in _errors(defs)


def test_symlink_inside_the_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / "real.yml").write_text(GOOD)
    (tmp_path / "sub").mkdir()
    (tmp_path / "alias.yaml").symlink_to(tmp_path / "real.yml")
    # Both name the same definition: refused as a duplicate, which proves both were read.
    assert "'good' is already defined" in _errors(tmp_path)


def test_directory_named_like_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "folder.yaml").mkdir()
    assert "folder.yaml: is not a regular file" in _errors(tmp_path)


@pytest.mark.parametrize(
    "name", ["daily.YAML", "daily.Yml", "daily.yaml.bak", "daily.yaml~", "daily.json.orig"]
)
def test_lookalike_names_are_refused_not_skipped(tmp_path: Path, name: str) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / name).write_text(GOOD.replace("good", "daily"))
    text = _errors(tmp_path)
    assert f"{tmp_path / name}: looks like a definition file but is not read" in text


def test_hidden_and_unrelated_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / ".good.yaml.swp").write_text("binary")
    (tmp_path / "README.md").write_text("# notes")
    assert [d.name for d in load_definitions(tmp_path).definitions] == ["good"]


def test_unreadable_bytes_are_named(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert "latin1.yaml: file is not UTF-8 text" in _errors(tmp_path)
