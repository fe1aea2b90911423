"""Where watchdog alerts go besides the working-memory note: the ``alerts:`` settings.

``ACTCORE_ALERTS_FILE`` names a YAML file with one ``alerts:`` block::

    alerts:
      sinks:                      # default: State Hub, event type activity_alert
        - type: state_hub_progress
          event_type: activity_alert
        - type: webhook
          name: agent-inbox
          url: https://inbox.example/hooks/activity-core
          secret: inbox
      delivery:                   # same fields as a definition's delivery policy
        horizon_seconds: 259200

Without the file, alerts go to State Hub (``ACTCORE_STATE_HUB_URL``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activity_core.documents import read_document
from activity_core.domain.sinks import DeliveryPolicy, RemoteSink, StateHubProgressSink
from activity_core.domain.validation import error_lines
from activity_core.domain.watchdog_io import AlertSinks
from activity_core.errors import ConfigError

ALERT_EVENT_TYPE = "activity_alert"


class _AlertsBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sinks: list[RemoteSink] | None = None
    """Remote sinks for alerts; ``[]`` keeps alerts to notes only."""
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)


class _AlertsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: _AlertsBlock


def default_sinks() -> AlertSinks:
    """State Hub progress events of type ``activity_alert``."""
    return AlertSinks(
        sinks=[StateHubProgressSink(type="state_hub_progress", event_type=ALERT_EVENT_TYPE)]
    )


def load_alert_sinks(path: Path | None) -> AlertSinks:
    """The alert sinks from ``path`` (the default ones when it is None).

    Raises:
        ConfigError: The file is unreadable or invalid (names the file, field and fix).
    """
    if path is None:
        return default_sinks()
    try:
        raw = read_document(path)
        parsed = _AlertsFile.model_validate(raw)
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise ConfigError(error_lines(exc, str(path))) from None
        raise ConfigError([f"{path} (ACTCORE_ALERTS_FILE): {exc}"]) from None
    block = parsed.alerts
    sinks = default_sinks().sinks if block.sinks is None else block.sinks
    names = [s.name for s in sinks]
    if len(set(names)) != len(names):
        raise ConfigError([f"{path}: alerts.sinks: sink names must be unique (give each a name)"])
    return AlertSinks(sinks=sinks, policy=block.delivery)
