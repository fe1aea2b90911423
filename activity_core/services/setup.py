"""What a new namespace needs before the first worker starts: our search attributes.

The dev stack registers them when it starts the server; on a cluster the setup Job (or
``actcore setup``) adds the missing ones through the operator service. Temporal Cloud
does not take them through that service: the error says how to add them there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from activity_core.domain import search_attributes as sa
from activity_core.errors import ActivityCoreError

_CLOUD_TYPE = {"KEYWORD": "Keyword", "DATETIME": "Datetime"}


class SearchAttributesMissing(ActivityCoreError):
    """The server refused to add them (and they are not there)."""


@dataclass
class SearchAttributesReport:
    """What :func:`ensure_search_attributes` found and did."""

    present: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


async def ensure_search_attributes(client: Client) -> SearchAttributesReport:
    """Add the search attributes activity-core uses that the namespace lacks.

    Raises:
        SearchAttributesMissing: Some are missing and the server would not add them (a
            wrong type already registered under the name, or Temporal Cloud).
    """
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    report = SearchAttributesReport()
    missing: dict[str, IndexedValueType.ValueType] = {}
    for key in sa.ALL:
        wanted = IndexedValueType.ValueType(int(key.indexed_value_type))
        have = listed.custom_attributes.get(key.name)
        if have is None:
            missing[key.name] = wanted
        elif have != wanted:
            raise SearchAttributesMissing(
                f"search attribute {key.name} is registered as "
                f"{IndexedValueType.Name(have)} in namespace {client.namespace}; activity-core "
                f"needs {IndexedValueType.Name(wanted)} (a name cannot change type: use "
                "another namespace)"
            )
        else:
            report.present.append(key.name)
    if not missing:
        return report
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as exc:
        flags = " ".join(
            f"--search-attribute {name}={_CLOUD_TYPE[IndexedValueType.Name(t).split('_')[-1]]}"
            for name, t in missing.items()
        )
        raise SearchAttributesMissing(
            f"could not add search attributes {', '.join(missing)} to namespace "
            f"{client.namespace} ({exc.status.name if exc.status else 'refused'}: "
            f"{exc.message[:200]}). On Temporal Cloud add them with "
            f"`tcld namespace search-attributes add --namespace {client.namespace} {flags}`"
        ) from None
    report.added = list(missing)
    return report
