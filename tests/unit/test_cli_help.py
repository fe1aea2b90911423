"""``actcore --help`` and every command's help read as help: plain text, each command its
own page, every option explained."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from activity_core.cli import build_parser


def _commands() -> list[tuple[list[str], argparse.ArgumentParser]]:
    out: list[tuple[list[str], argparse.ArgumentParser]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        out.append((path, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, [*path, name])

    walk(build_parser(), [])
    return out


def _help(path: list[str]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), pytest.raises(SystemExit) as leaving:
        build_parser().parse_args([*path, "--help"])
    assert leaving.value.code == 0
    return buffer.getvalue()


def test_every_command_has_its_own_help_page() -> None:
    commands = _commands()
    assert len(commands) > 30
    for path, _ in commands:
        text = _help(path)
        assert text.startswith(f"usage: actcore {' '.join(path)}".rstrip()), (path, text[:80])
        assert "``" not in text, f"reST markup in the help of {path}"


def test_every_option_and_argument_says_what_it_is_for() -> None:
    for path, parser in _commands():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if action.help == argparse.SUPPRESS:
                continue
            assert action.help, f"actcore {' '.join(path)} {action.option_strings or action.dest}"


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("actcore deli", {"deliveries"}),
        ("actcore deliveries list --w", {"--wide"}),
        ("actcore definitions ", {"validate", "list", "preview"}),
    ],
)
def test_the_shell_completes_commands_and_options(
    tmp_path: Path, line: str, offered: set[str]
) -> None:
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    done = subprocess.run(
        [sys.executable, "-m", "activity_core.cli"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert offered <= set(out.read_text().split()), out.read_text()


def test_a_bare_actcore_lists_what_there_is_to_do(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "activity_core.cli"],
        env={**os.environ, "ACTCORE_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    for group in ("worker", "status", "trigger", "deliveries", "setup", "dev", "events"):
        assert f"\n    {group}" in out.stderr, group
    assert "Traceback" not in out.stderr
