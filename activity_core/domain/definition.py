"""The definition file schema: triggers, misfire policies, sinks, delivery policy,
resolvers, the watch block and ``ActivityDefinition``.

Pure and sandbox-safe: imported by workflow code through
``workflow.unsafe.imports_passed_through()``. No I/O.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Namespace for deriving a definition's stable id from its name (uuid5).
DEFINITION_ID_NAMESPACE = uuid.UUID("6b1e3f0c-4c1d-5d2a-9a57-acc0e5a1c0de")

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

#: ``user.created``: dot-separated lower-case words, each one NATS subject token.
EVENT_TYPE_PATTERN = r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$"

#: Old misfire policy names still accepted in definition files.
MISFIRE_ALIASES = {"catchup": "catchup_all", "compress": "catchup_latest"}


class _Strict(BaseModel):
    """Base for models read from files: unknown fields are errors; numbers must be numbers
    (``true`` is not 1, ``"10"`` is not 10) and finite (no ``.inf`` or ``.nan``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


DAY = 86400
YEAR = 366 * DAY
#: Largest duration any field takes: a year (a bigger one overflows Temporal's durations
#: or waits for ever).
MAX_SECONDS = YEAR

_SINK_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_SECRET_QUERY = re.compile(
    r"(^|_|-)(token|key|secret|password|passwd|pwd|signature|sig|auth|credential|apikey)s?($|_|-)",
    re.IGNORECASE,
)
#: Prefixes of variables that hold activity-core's own secrets (never a webhook's token).
_RESERVED_ENV = ("ACTCORE_", "TEMPORAL_", "STATE_HUB_", "NATS_", "PROMETHEUS_")
#: Zone names the tz database carries for compatibility but that name no real place.
_NOT_ZONES = {"localtime", "posixrules", "Factory", "posix/Factory", "right/Factory"}
_CRON_NAMES = {
    *["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    *["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
}
#: Cron characters Temporal's scheduler does not accept although croniter does.
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/-]+$")


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


# --------------------------------------------------------------------------------------
# Triggers
# --------------------------------------------------------------------------------------


class MisfirePolicy(StrEnum):
    """What happens to a fire that could not run on time."""

    SKIP = "skip"
    """Never recover a missed fire; record it as skipped and alert."""
    CATCHUP_ALL = "catchup_all"
    """Run every missed fire, each with its own nominal time."""
    CATCHUP_LATEST = "catchup_latest"
    """Run once, as the most recent due fire; older misses are covered by it."""


def _canonical_policy(value: Any) -> Any:
    if isinstance(value, str):
        return MISFIRE_ALIASES.get(value, value)
    return value


class _ScheduledTrigger(_Strict):
    misfire_policy: MisfirePolicy = Field(strict=False)
    """Required: `skip`, `catchup_all` or `catchup_latest` (aliases `catchup`, `compress`)."""
    catchup_window_seconds: Annotated[int, Field(ge=10, le=MAX_SECONDS)] | None = None
    """How late a fire may still run. Default depends on the policy."""
    jitter_seconds: Annotated[int, Field(ge=0, le=DAY)] = 0
    """Random delay added to each fire by the schedule, to spread load."""

    @field_validator("misfire_policy", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return _canonical_policy(value)


class CronTrigger(_ScheduledTrigger):
    """Fire on a cron expression evaluated in a named time zone."""

    trigger_type: Literal["cron"]
    """Discriminator."""
    cron_expression: str
    """Five-field cron expression, e.g. ``20 7 * * *``."""
    timezone: str = "UTC"
    """IANA time zone the expression is evaluated in, e.g. ``Europe/Berlin``."""

    @field_validator("cron_expression")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        value = value.strip()
        fields = value.split()
        if len(fields) != 5 or len(value) > 200 or not croniter.is_valid(value):
            raise ValueError(
                f"{value[:200]!r} is not a valid five-field cron expression "
                "(minute hour day-of-month month day-of-week, e.g. '20 7 * * *')"
            )
        for field in fields:
            if not _CRON_FIELD.match(field) or (
                any(c in field.upper() for c in "LW")
                and not (field.isalpha() and field.upper() in _CRON_NAMES)
            ):
                raise ValueError(
                    f"{value!r}: field {field!r} uses syntax the Temporal scheduler does not "
                    "accept (L, W, ?, #, R); use numbers, names (MON, JAN), *, ranges, lists "
                    "and steps"
                )
        try:
            croniter(value, datetime(2000, 1, 1, tzinfo=UTC), max_years_between_matches=8).get_next(
                datetime
            )
        except Exception:
            raise ValueError(
                f"{value!r} never fires (e.g. 30 February): check the day-of-month and month"
            ) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            if value in _NOT_ZONES or "\n" in value or value != value.strip():
                raise ValueError(value)
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. 'Europe/Berlin', 'UTC')"
            ) from None
        return value


class IntervalTrigger(_ScheduledTrigger):
    """Fire every N seconds."""

    trigger_type: Literal["interval"]
    """Discriminator."""
    every_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)]
    """Interval between fires, in seconds."""


class EventTrigger(_Strict):
    """Fire when an event of a type arrives on NATS JetStream (see ``docs/events.md``)."""

    trigger_type: Literal["event"]
    """Discriminator."""
    event_type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=200)
    """Event type to react to, e.g. ``user.created`` (registered in ``event-types/``)."""
    filters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Payload keys that must equal these values exactly (same type and value)."""


class ManualTrigger(_Strict):
    """Run only when triggered by hand (``actcore trigger NAME``)."""

    trigger_type: Literal["manual"]
    """Discriminator."""


TriggerConfig = Annotated[
    CronTrigger | IntervalTrigger | EventTrigger | ManualTrigger,
    Field(discriminator="trigger_type"),
]

# --------------------------------------------------------------------------------------
# Sinks and delivery policy
# --------------------------------------------------------------------------------------


class WorkingMemorySink(_Strict):
    """Local markdown note, written at once by the run itself (never deferred)."""

    type: Literal["working_memory"]
    """Discriminator."""
    name: str = Field(default="working_memory", pattern=_SINK_NAME)
    """Sink name, unique within the definition."""
    subdirectory: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,100}(/[A-Za-z0-9_-]{1,100}){0,7}$", max_length=200
    )
    """Folder under the worker's ``ACTCORE_WORKING_MEMORY_DIR`` (no ``..``, not absolute)."""


class StateHubProgressSink(_Strict):
    """``POST {STATE_HUB_URL}/progress/`` through the durable delivery workflow."""

    type: Literal["state_hub_progress"]
    """Discriminator."""
    name: str = Field(default="state_hub", pattern=_SINK_NAME)
    """Sink name, unique within the definition; part of the delivery workflow id."""
    event_type: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.-]+$")
    """Progress event type, e.g. ``daily_digest``."""
    url: str | None = None
    """Base URL override; default is the worker's ``ACTCORE_STATE_HUB_URL``."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)


class WebhookSink(_Strict):
    """``POST`` the report as JSON to a URL (e.g. an agent inbox)."""

    type: Literal["webhook"]
    """Discriminator."""
    name: str = Field(default="webhook", pattern=_SINK_NAME)
    """Sink name, unique within the definition; part of the delivery workflow id."""
    url: str
    """Full URL to POST to."""
    token_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")
    """Name of an environment variable holding a bearer token (read by the worker)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("token_env")
    @classmethod
    def _own_variable(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(_RESERVED_ENV):
            raise ValueError(
                f"{value} is a variable of activity-core, Temporal or NATS themselves; a "
                "webhook's token would then be another service's secret sent to this URL. "
                "Give the webhook a variable of its own (e.g. INBOX_TOKEN)"
            )
        return value


RemoteSink = Annotated[StateHubProgressSink | WebhookSink, Field(discriminator="type")]
SinkConfig = Annotated[
    WorkingMemorySink | StateHubProgressSink | WebhookSink, Field(discriminator="type")
]


class DeliveryPolicy(_Strict):
    """How long and how often a remote sink delivery is retried."""

    backoff_seconds: list[Annotated[float, Field(gt=0, le=30 * DAY)]] = Field(
        default_factory=lambda: [30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0],
        min_length=1,
        max_length=50,
    )
    """Waits after the 1st, 2nd, ... failed attempt."""
    then_every_seconds: float = Field(default=4 * 3600.0, gt=0, le=30 * DAY)
    """Wait after every attempt beyond the schedule above."""
    jitter_ratio: float = Field(default=0.2, ge=0, le=0.5)
    """Each wait is multiplied by a random factor in ``[1 - r, 1 + r]``."""
    horizon_seconds: float = Field(default=7 * 86400.0, ge=60, le=MAX_SECONDS)
    """After this long without success the delivery is parked as ``dead``."""
    attempt_timeout_seconds: float = Field(default=60.0, ge=1, le=600)
    """Start-to-close timeout of one attempt (how soon a crashed worker's attempt is retried)."""

    def base_delay(self, failed_attempts: int) -> float:
        """Wait before the next attempt after ``failed_attempts`` consecutive failures.

        Args:
            failed_attempts: Failures so far in this episode (1 after the first failure).

        Returns:
            The un-jittered wait in seconds.
        """
        index = max(failed_attempts, 1) - 1
        if index < len(self.backoff_seconds):
            return self.backoff_seconds[index]
        return self.then_every_seconds


class ResolverName(StrEnum):
    """State Hub context resolvers a handler can ask for."""

    WORK_ITEMS = "work_items"
    """``GET /tasks/``: every work item."""
    RECENTLY_ON_SCOPE = "recently_on_scope"
    """Items of a scope touched within a window (params ``scope``, ``days``)."""
    CONSISTENCY_SWEEP = "consistency_sweep"
    """Items whose fields contradict each other."""


class ResolverConfig(_Strict):
    """One context resolver of a definition."""

    name: ResolverName = Field(strict=False)
    """Which resolver."""
    required: bool = True
    """Required: the run ends ``could_not_run`` without it. Optional: report is degraded."""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Query parameters (e.g. ``scope``, ``days``)."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """Connect and read timeout of one HTTP request."""
    tries: int = Field(default=3, ge=1, le=10)
    """HTTP tries inside one activity attempt (exponential backoff with jitter)."""
    url: str | None = None
    """State Hub base URL override; default is the worker's ``ACTCORE_STATE_HUB_URL``."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)


# --------------------------------------------------------------------------------------
# What the watchdog holds a definition to
# --------------------------------------------------------------------------------------


class WatchConfig(_Strict):
    """Thresholds the missed-fire watchdog judges a scheduled definition's fires by."""

    late_after_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] | None = None
    """A run starting later than this is ``late``; a run not picked up by a worker within
    this is ``pending_unclaimed``. Default: 60 s plus the trigger's jitter."""
    page_late_after_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] = 3600
    """Lateness beyond this pages; shorter lateness leaves a note."""
    max_runtime_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] = 1800
    """A run still open after this long is ``running_too_long``."""
    delivery_alert_after_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] = 3600
    """A report not delivered this long after its run started is ``delivery_waiting``."""


# --------------------------------------------------------------------------------------
# ActivityDefinition
# --------------------------------------------------------------------------------------


class ActivityDefinition(_Strict):
    """One cron-, interval-, event- or manually-triggered job."""

    id: uuid.UUID = Field(default=None, validate_default=False, strict=False)  # type: ignore[assignment]
    """Stable id; derived from ``name`` with uuid5 when the file gives none."""
    name: str
    """Slug: lower-case letters, digits and dashes (used in ids and file names)."""
    description: str = Field(default="", max_length=4000)
    """Free text shown in summaries."""
    enabled: bool = True
    """Disabled definitions keep their schedule, paused."""
    handler: str = Field(min_length=1, max_length=100)
    """Name of the report handler, e.g. ``activity_digest``."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Handler parameters."""
    trigger_config: TriggerConfig
    """When the definition fires."""
    sinks: list[SinkConfig] = Field(default_factory=list)
    """Where the report goes; a working-memory note is always written."""
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)
    """Retry policy of remote sink deliveries."""
    resolvers: list[ResolverConfig] = Field(default_factory=list)
    """State Hub context the handler needs, resolved before it runs."""
    watch: WatchConfig = Field(default_factory=WatchConfig)
    """Thresholds of the missed-fire watchdog (scheduled definitions only)."""

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a slug: use lower-case letters, digits and dashes, "
                "1-63 characters, starting and ending with a letter or digit"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _derive_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("id") is None and isinstance(data.get("name"), str):
            data = {**data, "id": uuid.uuid5(DEFINITION_ID_NAMESPACE, data["name"])}
        return data

    @model_validator(mode="after")
    def _unique_sinks(self) -> ActivityDefinition:
        names = [s.name for s in self.sinks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(
                f"sink names must be unique; {', '.join(dupes)} appears more than once "
                "(give each sink its own 'name')"
            )
        if sum(1 for s in self.sinks if isinstance(s, WorkingMemorySink)) > 1:
            raise ValueError("at most one working_memory sink is allowed")
        return self

    @property
    def working_memory(self) -> WorkingMemorySink:
        """The working-memory sink (the default one when the file names none)."""
        for sink in self.sinks:
            if isinstance(sink, WorkingMemorySink):
                return sink
        return WorkingMemorySink(type="working_memory")

    @property
    def remote_sinks(self) -> list[StateHubProgressSink | WebhookSink]:
        """Sinks delivered through ReportDeliveryWorkflow children."""
        return [s for s in self.sinks if not isinstance(s, WorkingMemorySink)]

    @property
    def zone(self) -> str:
        """Time zone used for dates in note names and summaries."""
        trig = self.trigger_config
        return trig.timezone if isinstance(trig, CronTrigger) else "UTC"
