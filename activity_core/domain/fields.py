"""Rules shared by every model read from a definition or settings file: the strict base
model, bounded durations, sink names, URLs without secrets, token variables. Pure."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base for models read from files: unknown fields are errors; numbers must be numbers
    (``true`` is not 1, ``"10"`` is not 10) and finite (no ``.inf`` or ``.nan``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


DAY = 86400
YEAR = 366 * DAY
#: Largest duration any field takes: a year (a bigger one overflows Temporal's durations
#: or waits for ever).
MAX_SECONDS = YEAR

SINK_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,127}$"
_SECRET_QUERY = re.compile(
    r"(^|_|-)(token|key|secret|password|passwd|pwd|signature|sig|auth|credential|apikey)s?($|_|-)",
    re.IGNORECASE,
)
#: Prefixes of variables that hold activity-core's own secrets (never a sink's own token).
RESERVED_ENV = ("ACTCORE_", "TEMPORAL_", "STATE_HUB_", "NATS_", "PROMETHEUS_")


def check_url(value: str) -> str:
    """An http(s) URL with a host and nothing secret in it (pure, no DNS).

    Raises:
        ValueError: What is wrong and the fix.
    """
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        raise ValueError("must not contain spaces or control characters")
    if len(value) > 2000:
        raise ValueError(f"is {len(value)} characters long; at most 2000")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must start with http:// or https:// (got scheme {parts.scheme!r})")
    if not parts.hostname:
        raise ValueError("has no host name")
    if parts.username or parts.password:
        raise ValueError(
            "must not carry credentials (user:password@): put the token in an environment "
            "variable and name it in token_env"
        )
    for key, _ in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_QUERY.search(key):
            raise ValueError(
                f"query parameter {key!r} looks like a secret: it would be logged and kept "
                "in workflow history; use token_env instead"
            )
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        address = None
    if address is not None and (address.is_link_local or address.is_unspecified):
        raise ValueError(
            f"{parts.hostname} is a link-local or unspecified address (cloud metadata "
            "services live there); use the sink's real host"
        )
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


def check_token_env(value: str | None) -> str | None:
    """A sink's ``token_env`` must not name a variable of activity-core, Temporal or NATS.

    Raises:
        ValueError: It does (with the fix).
    """
    if value is not None and value.startswith(RESERVED_ENV):
        raise ValueError(
            f"{value} is a variable of activity-core, Temporal or NATS themselves; a "
            "sink's token would then be another service's secret sent to this URL. "
            "Give the sink a variable of its own (e.g. INBOX_TOKEN)"
        )
    return value
