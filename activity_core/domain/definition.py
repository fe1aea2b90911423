"""The definition file schema: triggers, misfire policies, sinks, delivery policy,
resolvers, the watch block and ``ActivityDefinition``.

Pure and sandbox-safe: imported by workflow code through
``workflow.unsafe.imports_passed_through()``. No I/O.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import Field, field_validator, model_validator

from activity_core.domain.cron import CronError, CronSpec, fire_times, fires_ever
from activity_core.domain.fields import (
    DAY,
    MAX_SECONDS,
    Strict,
    check_url,
)
from activity_core.domain.objective import Objective
from activity_core.domain.sinks import (
    DeliveryPolicy,
    IssueSink,
    SinkConfig,
    StateHubProgressSink,
    WebhookSink,
    WorkingMemorySink,
)

#: Namespace for deriving a definition's stable id from its name (uuid5).
DEFINITION_ID_NAMESPACE = uuid.UUID("6b1e3f0c-4c1d-5d2a-9a57-acc0e5a1c0de")

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

#: ``user.created``: dot-separated lower-case words, each one NATS subject token.
EVENT_TYPE_PATTERN = r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$"

#: Old misfire policy names still accepted in definition files.
MISFIRE_ALIASES = {"catchup": "catchup_all", "compress": "catchup_latest"}


#: Zone names the tz database carries for compatibility but that name no real place.
_NOT_ZONES = {"localtime", "posixrules", "Factory", "posix/Factory", "right/Factory"}
_CRON_NAMES = {
    *["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    *["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
}
#: Characters a cron field may hold at all (L, W, ?, # and R are not Temporal's).
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/-]+$")


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


class _ScheduledTrigger(Strict):
    misfire_policy: MisfirePolicy = Field(strict=False)
    """Required: `skip`, `catchup_all` or `catchup_latest` (aliases `catchup`, `compress`)."""
    catchup_window_seconds: Annotated[int, Field(ge=10, le=MAX_SECONDS)] | None = None
    """How late a fire may still run. Default depends on the policy."""
    jitter_seconds: Annotated[int, Field(ge=0, le=DAY)] = 0
    """Random delay added to each fire by the schedule, to spread load."""
    max_lateness_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] | None = None
    """``catchup_all`` / ``catchup_latest``: a fire that would start later than this is
    recorded ``skipped_too_late`` instead of running (a 07:20 briefing is noise at 23:00).
    Unset: the catchup window alone limits lateness."""

    @field_validator("misfire_policy", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return _canonical_policy(value)

    @model_validator(mode="after")
    def _lateness_needs_catchup(self) -> _ScheduledTrigger:
        if self.max_lateness_seconds is not None and self.misfire_policy == MisfirePolicy.SKIP:
            raise ValueError(
                "max_lateness_seconds applies to catchup_all and catchup_latest; a skip "
                "definition already skips fires later than its catchup_window_seconds "
                "(remove max_lateness_seconds or set catchup_window_seconds)"
            )
        return self


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
        if len(fields) != 5 or len(value) > 200:
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
            CronSpec.parse(value)
        except CronError as exc:
            raise ValueError(
                f"{value!r} is not a valid five-field cron expression ({exc}; minute hour "
                "day-of-month month day-of-week, e.g. '20 7 * * *')"
            ) from None
        if not fires_ever(value):
            raise ValueError(
                f"{value!r} never fires (e.g. 30 February, or a day of month that never falls "
                "on the day of week: the scheduler needs both): check those fields"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        # Looked up among the zones the system knows, never opened by name: a name of
        # 1,000 characters or with path parts is just not a zone.
        if value in _NOT_ZONES or value not in KNOWN_ZONES:
            shown = value if len(value) <= 60 else value[:60] + "..."
            raise ValueError(f"{shown!r} is not an IANA time zone (e.g. 'Europe/Berlin', 'UTC')")
        return value


KNOWN_ZONES: frozenset[str] = frozenset(available_timezones()) | {"UTC"}
"""Every IANA zone name the system's (or the tzdata package's) database holds: read once
at import, outside any workflow sandbox, so validating a zone never opens a file."""


class IntervalTrigger(_ScheduledTrigger):
    """Fire every N seconds."""

    trigger_type: Literal["interval"]
    """Discriminator."""
    every_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)]
    """Interval between fires, in seconds."""


class EventTrigger(Strict):
    """Fire when an event of a type arrives on NATS JetStream (see ``docs/events.md``)."""

    trigger_type: Literal["event"]
    """Discriminator."""
    event_type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=200)
    """Event type to react to, e.g. ``user.created`` (registered in ``event-types/``)."""
    filters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Payload keys that must equal these values exactly (same type and value)."""


class ManualTrigger(Strict):
    """Run only when triggered by hand (``actcore trigger NAME``)."""

    trigger_type: Literal["manual"]
    """Discriminator."""


TriggerConfig = Annotated[
    CronTrigger | IntervalTrigger | EventTrigger | ManualTrigger,
    Field(discriminator="trigger_type"),
]


class ResolverName(StrEnum):
    """State Hub context resolvers a handler can ask for."""

    WORK_ITEMS = "work_items"
    """``GET /tasks/``: every work item."""
    RECENTLY_ON_SCOPE = "recently_on_scope"
    """Items of a scope touched within a window (params ``scope``, ``days``)."""
    CONSISTENCY_SWEEP = "consistency_sweep"
    """Items whose fields contradict each other."""


class ResolverConfig(Strict):
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


class MaintenanceWindow(Strict):
    """A recurring window (``watch.maintenance`` of a definition)."""

    cron: str = Field(max_length=200)
    """When each window opens, a five-field cron expression."""
    duration_seconds: int = Field(ge=60, le=7 * 86400)
    """How long each window lasts."""
    timezone: str = "UTC"
    """IANA zone the cron expression is read in."""

    @model_validator(mode="after")
    def _valid_window(self) -> MaintenanceWindow:
        # The same checks as a cron trigger's (five fields, fires ever, a known zone).
        CronTrigger(
            trigger_type="cron",
            cron_expression=self.cron,
            timezone=self.timezone,
            misfire_policy=MisfirePolicy.SKIP,
        )
        return self

    def open_at(self, at: datetime) -> datetime | None:
        """The start of the window in force at ``at`` (None: none is)."""
        span = timedelta(seconds=self.duration_seconds)
        for start in fire_times(self.cron, self.timezone, at - span, limit=50):
            if start > at:
                return None
            if at < start + span:
                return start.astimezone(UTC)
        return None


class WatchConfig(Strict):
    """Thresholds the missed-fire watchdog judges a scheduled definition's fires by."""

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: str | None) -> str | None:
        if value is not None:
            Objective.parse(value)  # ValueError names the form
        return value

    late_after_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] | None = None
    """A run starting later than this is ``late``; a run not picked up by a worker within
    this is ``pending_unclaimed``. Default: 60 s plus the trigger's jitter."""
    page_late_after_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] = 3600
    """Lateness beyond this pages; shorter lateness leaves a note."""
    max_runtime_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] = 1800
    """A run still open after this long is ``running_too_long``."""
    delivery_alert_after_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] = 3600
    """A delivery still waiting this long counts toward its sink's ``sink_waiting`` alert."""
    recover_after: Annotated[int, Field(ge=1, le=100)] = 1
    """Fires that must run ok after the last problem fire before an alert sends its
    recovery notice (judged in a later pass than the one that raised it)."""
    alert_after: Annotated[int, Field(ge=1, le=100)] = 1
    """Consecutive problem fires (failed, missing, unclaimed, too long, too fast) before
    a page: with 2, one bad fire followed by a good one pages nobody (its verdict is still
    recorded and shown)."""
    min_runtime_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] | None = None
    """A run that completes faster than this (from its creation) is ``too_fast``: a job
    that returns at once usually did nothing (an empty query, a wrong path)."""
    pause_after: Annotated[int, Field(ge=1, le=100)] | None = None
    """Pause the schedule after this many failed fires in a row (failed, could not run,
    too fast); the page says so. It stays paused until someone unpauses it: ``actcore
    sync`` leaves a schedule the watchdog paused alone."""
    expect_within_seconds: Annotated[int, Field(ge=60, le=MAX_SECONDS)] | None = None
    """Event-triggered definitions: no matching event (no run) in this long is a verdict,
    ``no_events``, and a page ("no user.created with tier=pro since ...")."""
    objective: str | None = Field(default=None, max_length=100)
    """A service level, e.g. ``99% delivered within 2h``: status shows the error budget
    left over 30 days (from the ledger); ``docs/prometheus/alerts.yml`` has the burn-rate
    rule for it."""
    maintenance: list[MaintenanceWindow] = Field(default_factory=list, max_length=20)
    """Recurring windows in which the watchdog judges but holds back pages and recovery
    notices; one summary goes out as each window ends."""


# --------------------------------------------------------------------------------------
# ActivityDefinition
# --------------------------------------------------------------------------------------


class ActivityDefinition(Strict):
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
        if self.watch.expect_within_seconds is not None and not isinstance(
            self.trigger_config, EventTrigger
        ):
            raise ValueError(
                "watch.expect_within_seconds applies to event-triggered definitions; a "
                "scheduled one is judged fire by fire (remove it)"
            )
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
        """Report sinks delivered through ReportDeliveryWorkflow children."""
        return [s for s in self.sinks if isinstance(s, StateHubProgressSink | WebhookSink)]

    @property
    def issue_sinks(self) -> list[IssueSink]:
        """Sinks the report's tasks go to."""
        return [s for s in self.sinks if isinstance(s, IssueSink)]

    def with_issue_backend(self, default: str) -> ActivityDefinition:
        """This definition with every issue sink's backend decided (``default`` for those
        naming none: the worker's ``ACTCORE_ISSUE_SINK_TYPE``)."""
        if not any(isinstance(s, IssueSink) and s.backend is None for s in self.sinks):
            return self
        sinks = [
            s.model_copy(update={"backend": default})
            if isinstance(s, IssueSink) and s.backend is None
            else s
            for s in self.sinks
        ]
        return self.model_copy(update={"sinks": sinks})

    @property
    def zone(self) -> str:
        """Time zone used for dates in note names and summaries."""
        trig = self.trigger_config
        return trig.timezone if isinstance(trig, CronTrigger) else "UTC"
