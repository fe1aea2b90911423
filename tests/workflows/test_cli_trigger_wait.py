"""``actcore trigger --wait`` past its timeout says the run goes on, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from temporalio.testing import WorkflowEnvironment


async def test_trigger_wait_past_its_timeout_says_the_run_goes_on(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    defs = tmp_path / "definitions"
    defs.mkdir()
    body = {
        "name": "trigger-wait-timeout",
        "handler": "static_report",
        "params": {"title": "t", "body": "-"},
        "trigger_config": {"trigger_type": "manual"},
    }
    (defs / "t.yaml").write_text(yaml.safe_dump(body))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "activity_core.cli",
            "trigger",
            str(body["name"]),
            "--wait",
            "--timeout=1",
        ],
        env={
            **os.environ,
            "ACTCORE_HOME": str(tmp_path / "home"),
            "ACTCORE_DEFINITIONS_DIR": str(defs),
            "ACTCORE_DB_URL": "none",
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = next((x for x in out.stderr.splitlines() if "still running" in x), "")
    run_id = said.split(":", 1)[0].strip()
    try:
        # No worker polls the default queue here: the run cannot finish within 1 s.
        assert out.returncode == 1, out.stderr
        assert "Traceback" not in out.stderr
        assert "still running after 1 s; it goes on without this command" in out.stderr
        assert run_id.startswith("activity-run-trigger-wait-timeout-manual-")
    finally:
        if run_id.startswith("activity-run-"):
            await env.client.get_workflow_handle(run_id).terminate("test over")
