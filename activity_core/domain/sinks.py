"""Where a definition's output goes: the working-memory note, remote report sinks (State
Hub progress, webhooks), the issue sink for tasks, and the delivery policy. Pure.

These models are recorded in workflow histories (inside definitions and delivery inputs):
add fields with defaults, never rename or remove one.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from activity_core.domain.fields import (
    DAY,
    ENV_NAME,
    MAX_SECONDS,
    SINK_NAME,
    SINK_TOKEN_PREFIX,
    Strict,
    check_token_env,
    check_url,
)


class WorkingMemorySink(Strict):
    """Local markdown note, written at once by the run itself (never deferred)."""

    type: Literal["working_memory"]
    """Discriminator."""
    name: str = Field(default="working_memory", pattern=SINK_NAME)
    """Sink name, unique within the definition."""
    subdirectory: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,100}(/[A-Za-z0-9_-]{1,100}){0,7}$", max_length=200
    )
    """Folder under the worker's ``ACTCORE_WORKING_MEMORY_DIR`` (no ``..``, not absolute)."""


class Paced(Strict):
    """A remote sink's pace: requests per second it takes from all workers together."""

    pace_per_second: float | None = Field(default=None, gt=0, le=1000)
    """Requests per second this sink's origin takes, shared by every worker (the
    server-side rate limit of the origin's own task queue; see ``docs/performance.md``);
    default: the worker's ``ACTCORE_WAKE_RATE``. Sinks on one origin share the lowest."""


class StateHubProgressSink(Paced):
    """``POST {STATE_HUB_URL}/progress/`` through the durable delivery workflow."""

    type: Literal["state_hub_progress"]
    """Discriminator."""
    name: str = Field(default="state_hub", pattern=SINK_NAME)
    """Sink name, unique within the definition; part of the delivery workflow id."""
    event_type: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.-]+$")
    """Progress event type, e.g. ``daily_digest``."""
    url: str | None = None
    """Base URL override; default is the worker's ``ACTCORE_STATE_HUB_URL``."""
    signing_secret: str | None = Field(default=None, pattern=SINK_NAME)
    """Sink secret (``whsec_...`` values) to sign each request with, the Standard Webhooks
    way (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)


class WebhookSink(Paced):
    """``POST`` the report as JSON to a URL (e.g. an agent inbox)."""

    type: Literal["webhook"]
    """Discriminator."""
    name: str = Field(default="webhook", pattern=SINK_NAME)
    """Sink name, unique within the definition; part of the delivery workflow id."""
    url: str
    """Full URL to POST to."""
    token_env: str | None = Field(default=None, pattern=ENV_NAME)
    """Deprecated spelling of ``secret``: only ``ACTCORE_SINK_TOKEN_<NAME>`` is accepted."""
    secret: str | None = Field(default=None, pattern=SINK_NAME)
    """Sink secret sent as the bearer token: ``ACTCORE_SINK_TOKEN_<NAME>`` or the file
    ``<name>`` of ``ACTCORE_SINK_SECRETS_DIR``, sent only to the origins it is bound to."""
    signing_secret: str | None = Field(default=None, pattern=SINK_NAME)
    """Sink secret (``whsec_...`` values) to sign each request with, the Standard Webhooks
    way (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("token_env")
    @classmethod
    def _own_variable(cls, value: str | None) -> str | None:
        return check_token_env(value)

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookSink:
        return one_secret(self)


IssueBackend = Literal["null", "issue_core"]


class IssueSink(Paced):
    """Tasks of a report (``Report.tasks``) go to an issue tracker: ``issue_core`` files each
    task through a durable delivery child; ``null`` files nothing and lists the tasks in the
    note and the ledger as a dry run (see ``docs/issue-core-contract.md``)."""

    type: Literal["issue"]
    """Discriminator."""
    name: str = Field(default="issues", pattern=SINK_NAME)
    """Sink name, unique within the definition; part of the delivery workflow id."""
    backend: IssueBackend | None = None
    """``null`` or ``issue_core``; default: the worker's ``ACTCORE_ISSUE_SINK_TYPE`` (alias
    ``ISSUE_SINK_TYPE``), itself ``null`` unless set."""
    url: str | None = None
    """Base URL of issue-core; default: the worker's ``ACTCORE_ISSUE_CORE_URL``."""
    token_env: str | None = Field(default=None, pattern=ENV_NAME)
    """Deprecated spelling of ``secret``: only ``ACTCORE_SINK_TOKEN_<NAME>`` is accepted."""
    secret: str | None = Field(default=None, pattern=SINK_NAME)
    """Sink secret for this URL (as for webhooks); default: the worker's
    ``ACTCORE_ISSUE_CORE_TOKEN`` (sent only to ``ACTCORE_ISSUE_CORE_URL``'s origin)."""
    labels: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=20
    )
    """Labels added to every task this sink files."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @field_validator("token_env")
    @classmethod
    def _own_variable(cls, value: str | None) -> str | None:
        return check_token_env(value)

    @model_validator(mode="after")
    def _one_secret(self) -> IssueSink:
        return one_secret(self)


_S = TypeVar("_S", WebhookSink, IssueSink)


def one_secret(sink: _S) -> _S:
    """``secret`` or ``token_env``, not both."""
    if sink.secret is not None and sink.token_env is not None:
        raise ValueError("set secret or token_env, not both (token_env is the older spelling)")
    return sink


def secret_of(sink: object) -> str | None:
    """The sink secret a sink names: ``secret``, or ``token_env`` when it is a sink secret
    variable (``ACTCORE_SINK_TOKEN_INBOX`` -> ``inbox``); None otherwise."""
    secret = getattr(sink, "secret", None)
    if secret:
        return str(secret)
    env = getattr(sink, "token_env", None)
    if env and env.startswith(SINK_TOKEN_PREFIX) and len(env) > len(SINK_TOKEN_PREFIX):
        return str(env[len(SINK_TOKEN_PREFIX) :].lower())
    return None


def borrowed_variable(sink: object) -> str | None:
    """What is wrong with a ``token_env`` that names an arbitrary variable (any secret of
    the worker's environment would be sent to the sink's URL), with the fix; None if it
    names none or a sink secret."""
    env = getattr(sink, "token_env", None)
    if not env or secret_of(sink) is not None:
        return None
    name = env.lower()
    return (
        f"{env} is not a sink secret: a sink may send only secrets kept for sinks, never "
        f"another variable of the worker (its cloud or database credentials). Store the "
        f"token as {SINK_TOKEN_PREFIX}{env} (or the file {name} of ACTCORE_SINK_SECRETS_DIR), "
        f"bind it to the receiver with ACTCORE_SINK_ORIGIN_{env}=<scheme://host:port>, and "
        f"write `secret: {name}` instead of token_env"
    )


RemoteSink = Annotated[StateHubProgressSink | WebhookSink, Field(discriminator="type")]
"""Sinks a report is delivered to."""
DeliverySink = Annotated[
    StateHubProgressSink | WebhookSink | IssueSink, Field(discriminator="type")
]
"""Sinks a delivery child serves: a report sink, or the issue sink filing tasks."""
SinkConfig = Annotated[
    WorkingMemorySink | StateHubProgressSink | WebhookSink | IssueSink,
    Field(discriminator="type"),
]


class DeliveryPolicy(Strict):
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
    queue_wait_seconds: float = Field(default=600.0, ge=1, le=DAY)
    """How long an attempt waits on the sink's own queue (the shared pace) for a worker
    before it is made on the general activity queue: only a sink no worker polls (one that
    no definition names any more) ever waits this long. Keep it above the longest backlog
    at the pace (attempts waiting / pace) or the tail of a backlog leaves unpaced."""

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
