"""Search attributes: our custom keys (and the CLI flags that register them) and the
server's own keys that scheduled runs carry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

ACTIVITY_ID = SearchAttributeKey.for_keyword("ActivityId")
ACTIVITY_NAME = SearchAttributeKey.for_keyword("ActivityName")
RUN_OUTCOME = SearchAttributeKey.for_keyword("RunOutcome")
SCHEDULED_FOR = SearchAttributeKey.for_datetime("ScheduledFor")
DELIVERY_STATUS = SearchAttributeKey.for_keyword("DeliveryStatus")
DELIVERY_SINK = SearchAttributeKey.for_keyword("DeliverySink")
RUN_TRIGGER = SearchAttributeKey.for_keyword("RunTrigger")
"""Set at start on runs a backfill started (``backfill``)."""

#: Set by the server on scheduled runs: the fire's nominal time and the schedule's id.
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
SCHEDULED_BY_ID = SearchAttributeKey.for_keyword("TemporalScheduledById")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    ACTIVITY_ID,
    ACTIVITY_NAME,
    RUN_OUTCOME,
    SCHEDULED_FOR,
    DELIVERY_STATUS,
    DELIVERY_SINK,
    RUN_TRIGGER,
)


def visibility_time(when: datetime) -> str:
    """A time as a visibility query literal (UTC, microseconds)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def definition_attributes(activity_id: str, activity_name: str) -> TypedSearchAttributes:
    """``ActivityId`` and ``ActivityName``, set on every run a definition starts."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(ACTIVITY_ID, activity_id),
            SearchAttributePair(ACTIVITY_NAME, activity_name),
        ]
    )


_CLI_TYPE = {"KEYWORD": "Keyword", "DATETIME": "Datetime"}


def dev_server_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE[key.indexed_value_type.name]}"]
    return flags
