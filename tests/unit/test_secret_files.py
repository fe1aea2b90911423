"""Every secret setting may come from a file (a Kubernetes Secret volume), and no
settings error shows a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from activity_core.settings import Settings


def test_a_secret_comes_from_its_file_unless_the_value_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db-url").write_text("postgresql+asyncpg://app:hunter2@db/actcore\n")
    (tmp_path / "nats").write_text("nats://user:pw@n1:4222,nats://user:pw@n2:4222")
    (tmp_path / "ping").write_text("https://hc-ping.example/abc")
    monkeypatch.delenv("ACTCORE_DB_URL", raising=False)
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("ACTCORE_NATS_URL", raising=False)
    monkeypatch.setenv("ACTCORE_DB_URL_FILE", str(tmp_path / "db-url"))
    monkeypatch.setenv("ACTCORE_NATS_URL_FILE", str(tmp_path / "nats"))
    monkeypatch.setenv("ACTCORE_WATCHDOG_PING_URL_FILE", str(tmp_path / "ping"))
    settings = Settings()
    assert settings.database_url() == "postgresql+asyncpg://app:hunter2@db/actcore"
    assert settings.nats_servers() == ["nats://user:pw@n1:4222", "nats://user:pw@n2:4222"]
    assert settings.watchdog_ping_url is not None
    assert settings.watchdog_ping_url.get_secret_value() == "https://hc-ping.example/abc"
    # The value itself (under any of its names) wins over the file.
    monkeypatch.setenv("NATS_URL", "nats://direct:4222")
    monkeypatch.setenv("ACTCORE_DB_URL", "none")
    settings = Settings()
    assert settings.nats_servers() == ["nats://direct:4222"]
    assert settings.database_url() is None


def test_an_unreadable_file_names_the_variable_and_no_error_shows_a_secret(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "ACTCORE_HOME": str(tmp_path),
        "ACTCORE_DB_URL": "postgresql+asyncpg://app:hunter2@db/actcore",
        "ACTCORE_STATE_HUB_TOKEN": "tok-s3cret",
        "ACTCORE_ISSUE_CORE_TOKEN_FILE": str(tmp_path / "missing"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "activity_core.cli", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert f"ACTCORE_ISSUE_CORE_TOKEN_FILE={tmp_path / 'missing'}: cannot read" in out.stderr
    assert "Traceback" not in out.stderr
    for secret in ("hunter2", "tok-s3cret"):
        assert secret not in out.stderr + out.stdout
    with pytest.raises(ValidationError) as info:
        Settings(api_port="x", db_url="postgresql://u:hunter2@h/d")  # type: ignore[arg-type]
    assert "hunter2" not in str(info.value)
