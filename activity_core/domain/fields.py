"""Rules shared by every model read from a definition or settings file: the strict base
model, bounded durations, sink names, URLs without secrets, token variables. Pure."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict

from activity_core.domain.egress import (
    ALWAYS_REFUSED,
    METADATA_HOSTS,
    an,
    category,
    parse_numeric_host,
)


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
#: The one family of variables a sink may name: secrets kept for sinks.
SINK_TOKEN_PREFIX = "ACTCORE_SINK_TOKEN_"


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
    problem = _host_problem(parts.hostname)
    if problem:
        raise ValueError(problem)
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


def _host_problem(hostname: str) -> str | None:
    """Spellings and ranges no deployment setting makes right (loopback and private
    literals depend on the deployment's egress policy: see ``domain.egress``)."""
    name = hostname.rstrip(".")
    if name in METADATA_HOSTS:
        return f"{hostname} is a cloud metadata service; use the sink's real host"
    try:
        address = parse_numeric_host(hostname)
    except ValueError as exc:
        return str(exc)
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv4Address) and hostname != str(address):
        return (
            f"{hostname} is {address} written another way; write the address as "
            f"{address} (numeric, hexadecimal, octal and short forms are not accepted)"
        )
    why = category(address)
    if why and why.startswith(ALWAYS_REFUSED):
        return f"{hostname} is {an(why)} address; use the sink's real host"
    return None


def check_token_env(value: str | None) -> str | None:
    """A sink's ``token_env`` must not name a variable of activity-core, Temporal or NATS.

    Raises:
        ValueError: It does (with the fix).
    """
    if (
        value is not None
        and value.startswith(RESERVED_ENV)
        and not value.startswith(SINK_TOKEN_PREFIX)
    ):
        raise ValueError(
            f"{value} is a variable of activity-core, Temporal or NATS themselves; a "
            "sink's token would then be another service's secret sent to this URL. "
            "Give the sink a variable of its own (e.g. INBOX_TOKEN)"
        )
    return value
