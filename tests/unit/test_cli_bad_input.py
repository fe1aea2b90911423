"""Command-line bad input: a usage error naming the option and the form (exit 2), never a
traceback; a closed pipe ends the output quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CASES = [
    (["verify", "x", "--date", "../../x"], "argument --date: '../../x' is not a date"),
    (["verify", "x", "--date", "23/11/2026"], "write YYYY-MM-DD"),
    (["trigger", "x", "--wait", "--timeout", "0.001"], "--timeout: 0.001 must be at least 1"),
    (["trigger", "x", "--timeout", "nan"], "--timeout: nan must be at least 1"),
    (["runs", "list", "--since", "yesterday"], "--since: 'yesterday' is not a date or time"),
    (["runs", "list", "--limit", "ten"], "--limit: 'ten' is not a whole number"),
    (["definitions", "preview", "x", "--count", "-1"], "--count: -1 must be at least 1"),
    (["api", "--port", "99999"], "--port: 99999 must be at least 1 and at most 65535"),
    (["deliveries", "retry", "--all", "--rate", "0"], "--rate: 0 must be at least 0.01"),
    (["ledger", "reconcile", "--days", "inf"], "--days: inf must be at least"),
    (["events", "dead-letters", "--limit", "0"], "--limit: 0 must be at least 1"),
    (["events", "publish", "user.created", "--payload", "[1]"], "expected a JSON object"),
    (["events", "publish", "User Created"], "type:"),
]


def _actcore(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "activity_core.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ACTCORE_LOG_FORMAT": "text", **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "expected"), CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_bad_option_values_are_usage_errors(args: list[str], expected: str) -> None:
    done = _actcore(args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    for i in range(1500):
        body = {
            "name": f"piped-{i:04d}",
            "handler": "static_report",
            "trigger_config": {"trigger_type": "manual"},
        }
        (tmp_path / f"piped-{i:04d}.yaml").write_text(yaml.safe_dump(body))
    proc = subprocess.Popen(
        [sys.executable, "-m", "activity_core.cli", "definitions", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "ACTCORE_DEFINITIONS_DIR": str(tmp_path)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(100)
    proc.stdout.close()  # like `| head -c 100`
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def _validate(tmp_path: Path, sink: dict[str, str], **env: str) -> subprocess.CompletedProcess[str]:
    body = {
        "name": "hooked",
        "handler": "static_report",
        "trigger_config": {"trigger_type": "manual"},
        "sinks": [{"type": "webhook", "url": "https://inbox.example/h", **sink}],
    }
    (tmp_path / "hooked.yaml").write_text(yaml.safe_dump(body))
    base = {k: v for k, v in os.environ.items() if not k.startswith("ACTCORE_SINK_")}
    return subprocess.run(
        [sys.executable, "-m", "activity_core.cli", "definitions", "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "ACTCORE_DEFINITIONS_DIR": str(tmp_path), **env},
    )


def test_validate_warns_about_a_sink_secret_missing_or_unbound_here(tmp_path: Path) -> None:
    done = _validate(tmp_path, {"secret": "inbox-x"})
    assert done.returncode == 0
    assert "hooked: sinks.webhook.secret: sink secret 'inbox-x' is not set" in done.stderr
    assert "ACTCORE_SINK_TOKEN_INBOX_X" in done.stderr
    unbound = _validate(tmp_path, {"secret": "inbox-x"}, ACTCORE_SINK_TOKEN_INBOX_X="s3cret-value")
    assert "is not bound to an origin" in unbound.stderr
    assert "ACTCORE_SINK_ORIGIN_INBOX_X=https://inbox.example:443" in unbound.stderr
    elsewhere = _validate(
        tmp_path,
        {"secret": "inbox-x"},
        ACTCORE_SINK_TOKEN_INBOX_X="s3cret-value",
        ACTCORE_SINK_ORIGIN_INBOX_X="https://other.example",
    )
    assert "is bound to https://other.example:443, not to https://inbox.example:443" in (
        elsewhere.stderr
    )
    bound = _validate(
        tmp_path,
        {"secret": "inbox-x"},
        ACTCORE_SINK_TOKEN_INBOX_X="s3cret-value",
        ACTCORE_SINK_ORIGIN_INBOX_X="https://inbox.example",
    )
    assert bound.returncode == 0 and "warning" not in bound.stderr, bound.stderr
    for done in (unbound, elsewhere, bound):
        assert "s3cret-value" not in done.stderr + done.stdout


def test_validate_refuses_a_token_env_naming_any_other_variable(tmp_path: Path) -> None:
    done = _validate(
        tmp_path, {"token_env": "AWS_SECRET_ACCESS_KEY"}, AWS_SECRET_ACCESS_KEY="aws-value"
    )
    assert done.returncode == 1
    assert "hooked.yaml: sinks[0].token_env: AWS_SECRET_ACCESS_KEY is not a sink secret" in (
        done.stderr
    )
    assert "secret: aws_secret_access_key" in done.stderr and "aws-value" not in done.stderr
