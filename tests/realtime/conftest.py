"""Fixtures of the real-time tests: a dev stack's environment on free ports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]


def _free_ports(n: int) -> list[int]:
    return [free_port() for _ in range(n)]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    temporal, ui, hub, admin, api, nats_port, nats_monitor, codec = _free_ports(8)
    env = dict(os.environ)
    env.update(
        {
            "ACTCORE_HOME": str(tmp_path / "home"),
            "ACTCORE_WORKING_MEMORY_DIR": str(tmp_path / "notes"),
            "ACTCORE_DEFINITIONS_DIR": str(REPO / "definitions"),
            "ACTCORE_TEMPORAL_PORT": str(temporal),
            "ACTCORE_UI_PORT": str(ui),
            "ACTCORE_STATE_HUB_PORT": str(hub),
            "ACTCORE_STATE_HUB_ADMIN_PORT": str(admin),
            "ACTCORE_API_PORT": str(api),
            "ACTCORE_NATS_PORT": str(nats_port),
            "ACTCORE_NATS_MONITOR_PORT": str(nats_monitor),
            "ACTCORE_CODEC_PORT": str(codec),
            "ACTCORE_DEV_HEALTH_PORT": "0",
            "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal}",
            "ACTCORE_STATE_HUB_URL": f"http://127.0.0.1:{hub}",
            "ACTCORE_LOG_FORMAT": "text",
        }
    )
    return env
