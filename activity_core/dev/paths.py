"""Where a dev stack keeps its state (``ACTCORE_HOME``), and the addresses of a running
one for commands whose environment does not name them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from activity_core.dev.processes import read_pid


@dataclass
class Paths:
    """Where the dev stack keeps its state."""

    home: Path

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def pids(self) -> Path:
        return self.home / "pids"

    @property
    def temporal_db(self) -> Path:
        return self.home / "temporal.db"

    @property
    def statehub_db(self) -> Path:
        return self.home / "statehub.db"

    @property
    def state_file(self) -> Path:
        return self.home / "dev-stack.json"

    @property
    def nats_store(self) -> Path:
        return self.home / "nats"

    @property
    def codec_keys(self) -> Path:
        return self.home / "codec-keys"


ADOPTED = (
    (
        ("TEMPORAL_ADDRESS", "TEMPORAL_HOST", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"),
        "TEMPORAL_ADDRESS",
        "temporal_address",
    ),
    (("ACTCORE_STATE_HUB_URL", "STATE_HUB_URL"), "ACTCORE_STATE_HUB_URL", "state_hub_url"),
    (("ACTCORE_STATE_HUB_ADMIN_PORT",), "ACTCORE_STATE_HUB_ADMIN_PORT", "state_hub_admin_port"),
    (("ACTCORE_ISSUE_CORE_URL", "ISSUE_CORE_URL"), "ACTCORE_ISSUE_CORE_URL", "state_hub_url"),
    (("ACTCORE_NATS_URL", "NATS_URL"), "NATS_URL", "nats_url"),
    (("ACTCORE_WEB_UI_URL",), "ACTCORE_WEB_UI_URL", "ui_url"),
    (
        ("ACTCORE_CODEC_KEYS", "ACTCORE_CODEC_KEYS_FILE"),
        "ACTCORE_CODEC_KEYS_FILE",
        "codec_keys_file",
    ),
    (("ACTCORE_EGRESS_ALLOW",), "ACTCORE_EGRESS_ALLOW", "egress_allow"),
    (("ACTCORE_DEFINITIONS_DIR",), "ACTCORE_DEFINITIONS_DIR", "definitions_dir"),
)
"""What a command takes from a running dev stack when its environment does not say:
(variables that already say it, variable to set, key in ``dev-stack.json``)."""


def running_stack_env(home: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Addresses of the dev stack running from ``home`` that ``environ`` leaves unset.

    A command run in another shell then talks to that stack (on whatever ports it was
    started) rather than to the default ports, which may be someone else's server. Empty
    when no stack from ``home`` is running or the environment names every address.
    """
    paths = Paths(home)
    if read_pid(paths.pids / "temporal.pid") is None:
        return {}
    try:
        recorded = json.loads(paths.state_file.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    out: dict[str, str] = {}
    for already, variable, key in ADOPTED:
        value = recorded.get(key)
        if value is not None and not any(environ.get(v) for v in already):
            out[variable] = str(value)
    return out
