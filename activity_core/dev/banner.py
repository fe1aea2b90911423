"""The dev stack's banner: where each part listens and how to reach it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol

from activity_core.dev.paths import Paths
from activity_core.dev.processes import temporal_binary
from activity_core.dev.roles import RolePorts
from activity_core.settings import Settings


class _Stack(Protocol):
    """What the banner reads of a dev stack."""

    @property
    def settings(self) -> Settings: ...

    @property
    def paths(self) -> Paths: ...

    @property
    def ui_url(self) -> str: ...

    @property
    def temporal_address(self) -> str: ...

    @property
    def hub_url(self) -> str: ...

    @property
    def api_url(self) -> str: ...

    @property
    def codec_url(self) -> str: ...

    @property
    def token_file(self) -> Path: ...

    @property
    def roles(self) -> RolePorts: ...

    def ledger_url(self) -> str: ...

    def nats_label(self) -> str: ...


def banner(stack: _Stack) -> str:
    """What is where, printed once the stack is up."""
    return "\n".join(
        [
            "activity-core dev stack is up",
            f"  Temporal Web UI  {stack.ui_url}",
            f"  Temporal gRPC    {stack.temporal_address}   "
            f"({temporal_binary(stack.settings.temporal_cli_path)} workflow list "
            f"--address {stack.temporal_address})",
            f"  State Hub        {stack.hub_url}   (faults: actcore statehub fault refuse|none)",
            f"  issue-core       {stack.hub_url}/issues/   (tasks filed when "
            "ACTCORE_ISSUE_SINK_TYPE=issue_core; check: "
            f"ACTCORE_ISSUE_CORE_URL={stack.hub_url} actcore sinks check issues)",
            f"  Notes            {stack.settings.working_memory_dir.resolve()}",
            f"  Run ledger       {stack.ledger_url()}   (actcore runs list)",
            f"  API + board      {stack.api_url}/   (Swagger: {stack.api_url}/docs; "
            f"writes: Authorization: Bearer $(cat {stack.token_file}))",
            f"  NATS JetStream   {stack.nats_label()}",
            f"  Codec server     {stack.codec_url}   (payloads are sealed; the Web UI reads "
            f"them through it; temporal CLI: --codec-endpoint {stack.codec_url})",
            "  Events           actcore events publish user.created --payload "
            '\'{"tier": "pro"}\'   (actcore events lag | dead-letters)',
            "  Probes           "
            + ", ".join(f"{r} :{p}" for r, p in stack.roles.health.items())
            + "   (/healthz, /readyz; actcore dev status)",
            *(
                ["  Metrics          " + ", ".join(stack.roles.metrics_urls().values())]
                if stack.roles.metrics
                else []
            ),
            f"  Logs             {stack.paths.logs}   (worker.log: runs; watchdog.log: "
            "the missed-fire watchdog, its own process)",
            *_path_hint(),
        ]
    )


def _path_hint() -> list[str]:
    """How to reach ``actcore`` and ``temporal`` when their directory is not on PATH."""
    bindir = Path(sys.executable).parent
    if str(bindir) in os.environ.get("PATH", "").split(os.pathsep):
        return []
    return [
        f'  Commands         export PATH="{bindir}:$PATH"   (actcore, temporal; once per shell)'
    ]
