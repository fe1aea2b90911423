"""Egress: a sink or resolver URL cannot aim the worker at its own machine, the private
network or a metadata service, however the address is spelled or resolved."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.delivery import SinkActivities, default_http_client
from activities.egress import egress_refused
from activity_core.dev.statehub import StateHub
from activity_core.domain import AttemptOutcome, DeliveryAttemptInput, WebhookSink
from activity_core.domain.egress import EgressPolicy, category, parse_numeric_host
from activity_core.errors import DefinitionsError
from activity_core.loader import validate_definition
from activity_core.settings import Settings
from tests.unit.test_delivery import EVENT

NO_INTERNAL = EgressPolicy()
LOOPBACK = EgressPolicy.parse("127.0.0.0/8,::1/128")

#: Spellings of the metadata address and of loopback a URL parser or resolver accepts.
METADATA = [
    "http://169.254.169.254/",
    "http://0xA9FEA9FE/",
    "http://2852039166/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://169.254.169.254.:80/",
    "http://0251.0376.0251.0376/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://169.254.43518/",
    "http://metadata.google.internal/",
    "http://METADATA.google.internal./",
    "http://[fe80::1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::1]/",
]
LOOPBACK_SPELLINGS = [
    "http://0x7f000001:8080/",
    "http://2130706433:8080/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://127.0.0.1./",
]
INTERNAL_LITERALS = [
    "http://127.0.0.1:8080/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fd00:ec2::254]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
]


def _definition(url: str, where: str = "sink") -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "egress",
        "handler": "static_report",
        "trigger_config": {"trigger_type": "manual"},
    }
    if where == "sink":
        body["sinks"] = [{"type": "webhook", "name": "inbox", "url": url}]
    else:
        body["handler"] = "activity_digest"
        body["resolvers"] = [{"name": "recently_on_scope", "url": url}]
    return body


def _refusal(url: str, policy: EgressPolicy, where: str = "sink") -> str | None:
    try:
        validate_definition(_definition(url, where), "egress.yaml", egress=policy)
    except DefinitionsError as exc:
        return "\n".join(exc.errors)
    return None


@pytest.mark.parametrize("url", METADATA + LOOPBACK_SPELLINGS + INTERNAL_LITERALS)
def test_internal_addresses_in_any_spelling_are_refused_naming_file_field_and_fix(
    url: str,
) -> None:
    problem = _refusal(url, NO_INTERNAL)
    assert problem is not None, url
    assert problem.startswith("egress.yaml: sinks[0].url: "), problem
    # The fix is named: the real host, the canonical spelling, or the setting.
    assert any(
        hint in problem for hint in ("real host", "write the address as", "ACTCORE_EGRESS_ALLOW")
    ), problem


@pytest.mark.parametrize("url", METADATA + LOOPBACK_SPELLINGS)
def test_metadata_and_odd_spellings_stay_refused_when_loopback_is_allowed(url: str) -> None:
    assert _refusal(url, LOOPBACK) is not None, url


def test_allowed_ranges_and_public_hosts_pass_validation() -> None:
    assert _refusal("http://127.0.0.1:8080/", LOOPBACK) is None
    assert _refusal("http://[::1]:8080/", LOOPBACK) is None
    assert _refusal("https://hooks.example.com/in", NO_INTERNAL) is None
    assert _refusal("http://93.184.216.34/", NO_INTERNAL) is None
    # Names are judged on the addresses they resolve to, when the worker connects.
    assert _refusal("http://localhost:8080/", NO_INTERNAL) is None
    private = EgressPolicy.parse("10.20.0.0/16")
    assert _refusal("http://10.20.3.4/", private) is None
    assert _refusal("http://10.21.3.4/", private) is not None


def test_a_resolver_url_is_held_to_the_same_policy() -> None:
    problem = _refusal("http://10.0.0.1/", NO_INTERNAL, where="resolver")
    assert problem is not None and "resolvers[0].url" in problem


def test_the_deployments_own_service_origins_are_trusted() -> None:
    policy = EgressPolicy.parse("", ["http://10.1.2.3:8000"])
    assert _refusal("http://10.1.2.3:8000/progress/", policy) is None
    assert _refusal("http://10.1.2.3:8001/", policy) is not None


def test_numeric_hosts_are_read_as_clients_read_them() -> None:
    v4 = ipaddress.IPv4Address
    assert parse_numeric_host("0x7f.1") == v4("127.0.0.1")
    assert parse_numeric_host("017700000001") == v4("127.0.0.1")
    assert parse_numeric_host("10.1") == v4("10.0.0.1")
    assert parse_numeric_host("example.com") is None
    assert parse_numeric_host("1.example") is None
    for bad in ("1.2.3.4.5", "256.0.0.1", "0x1.0x2.0x3.0x400", "09.1.1.1"):
        with pytest.raises(ValueError):
            parse_numeric_host(bad)
    assert category(ipaddress.ip_address("::ffff:10.0.0.1")) == "private"
    assert category(ipaddress.ip_address("8.8.8.8")) is None


def test_a_bad_allow_entry_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="ACTCORE_EGRESS_ALLOW: 'loopback' is not a network"):
        EgressPolicy.parse("127.0.0.0/8,loopback")


@pytest.fixture
def hub() -> Any:
    server = StateHub().start()
    yield server
    server.stop()


class Listener:
    """A loopback HTTP server that counts the connections it accepts and answers each
    request with ``answer`` (e.g. a redirect)."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.connections = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(self.answer)
        await writer.drain()
        writer.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def _settings(allow: str = "") -> Settings:
    # The State Hub setting points elsewhere: the listener is only "some sink".
    return Settings(egress_allow=allow, state_hub_url="https://hub.example.com")


async def test_the_worker_does_not_connect_to_an_internal_address_however_named() -> None:
    async with Listener(OK) as sink:
        port = sink.url.rsplit(":", 1)[1]
        spellings = [
            sink.url,
            f"http://localhost:{port}",
            f"http://0x7f000001:{port}",
            f"http://2130706433:{port}",
            f"http://127.1:{port}",
            f"http://[::ffff:127.0.0.1]:{port}",
        ]
        async with default_http_client(_settings()) as http:
            for url in spellings:
                with pytest.raises(httpx.ConnectError) as caught:
                    await http.get(f"{url}/")
                assert egress_refused(caught.value), url
                assert "egress refused" in str(caught.value) and "ACTCORE_EGRESS_ALLOW" in str(
                    caught.value
                )
        assert sink.connections == 0
        # Allowed explicitly, the same server answers.
        async with default_http_client(_settings("127.0.0.0/8")) as http:
            assert (await http.get(f"{sink.url}/")).text == "ok"
        assert sink.connections == 1


async def test_a_redirect_to_an_internal_address_is_not_followed() -> None:
    async with Listener(OK) as internal:
        moved = (
            f"HTTP/1.1 302 Found\r\nLocation: {internal.url}/\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        async with Listener(moved) as sink, default_http_client(_settings("127.0.0.0/8")) as http:
            answer = await http.post(f"{sink.url}/hook", json={})
    assert answer.status_code == 302 and internal.connections == 0


async def test_the_configured_state_hub_is_reached_without_an_allowance(hub: StateHub) -> None:
    async with default_http_client(Settings(egress_allow="", state_hub_url=hub.url)) as http:
        assert (await http.get(f"{hub.url}/health")).status_code == 200


async def test_a_refused_delivery_is_permanent_with_the_reason(hub: StateHub) -> None:
    sink = WebhookSink(type="webhook", name="inbox", url=f"{hub.url}/progress/")
    settings = _settings()
    async with default_http_client(settings) as http:
        acts = SinkActivities(http, settings)
        result = await ActivityEnvironment().run(
            acts.deliver,
            DeliveryAttemptInput(sink=sink, event=EVENT, idempotency_key="r:inbox", attempt=1),
        )
    assert result.outcome == AttemptOutcome.PERMANENT
    assert "egress refused" in (result.error or "") and "ACTCORE_EGRESS_ALLOW" in (
        result.error or ""
    )
    assert hub.events() == []


async def test_every_reader_uses_the_processs_own_policy_not_the_environments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose settings trust its State Hub reads a definition naming that hub,
    whatever ACTCORE_EGRESS_ALLOW says in the environment."""
    from activity_core.catalog import Catalog

    monkeypatch.delenv("ACTCORE_EGRESS_ALLOW", raising=False)
    hub = "http://127.0.0.1:5555"
    body = _definition(f"{hub}/progress/")
    (tmp_path / "egress.yaml").write_text(json.dumps(body))
    settings = Settings(definitions_dir=tmp_path, state_hub_url=hub, db_url="none")
    found = await Catalog(settings, None).find("egress")
    assert found.name == "egress"
    strict = Settings(definitions_dir=tmp_path, state_hub_url="http://hub.example", db_url="none")
    with pytest.raises(Exception, match="loopback"):
        await Catalog(strict, None).find("egress")
