"""Serving the API with uvicorn, not ready from the moment SIGTERM arrives."""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn

from activity_core.api.app import create_app
from activity_core.health import Health
from activity_core.settings import Settings


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the REST API and the status board until SIGINT/SIGTERM."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,  # our JSON logging stays in charge
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_seconds) or None,
    )
    DrainingServer(config, app.state.ctx.health).run()


class DrainingServer(uvicorn.Server):
    """uvicorn, not ready from the moment SIGTERM arrives (requests in flight finish)."""

    def __init__(self, config: uvicorn.Config, health: Health) -> None:
        super().__init__(config)
        self.health = health

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.health.drain()
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            # uvicorn raises the captured signal again once it has shut down, which ends
            # the process "killed by SIGTERM"; a finished drain is a clean exit (0).
            self._captured_signals = [s for s in self._captured_signals if s != sig]
