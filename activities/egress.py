"""The egress policy where connections are made: every address a host resolves to is
checked before the worker connects, and the connection goes to the checked address.

Validation refuses literal internal addresses in a definition (``domain.egress``); this
is what makes the rule hold for DNS names, odd spellings the validator let through, and
names whose records change between validation and delivery (the socket is opened to the
address that was judged, never to a second lookup). An ``httpcore`` network backend is the
one place every connection of the shared client passes, whatever the URL looked like.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing

import httpcore
import httpx

from activity_core.domain.egress import EGRESS_ALLOW_ENV, EgressPolicy, an

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
"""httpcore's socket option shape."""


class EgressRefused(httpcore.ConnectError):
    """A connection the egress policy does not allow (a permanent failure: retrying
    cannot help until the deployment changes its policy)."""


def egress_refused(exc: BaseException) -> bool:
    """Whether an ``httpx`` error (or its cause) is an egress refusal."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, EgressRefused):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, judges every address, then connects to the first allowed one."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend) -> None:
        self._policy = policy
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface names it)
        local_address: str | None = None,
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        trusted = {f"http://{host}:{port}", f"https://{host}:{port}"} & self._policy.origins
        for address in addresses:
            why = None if trusted else self._policy.refusal(ipaddress.ip_address(address))
            if why is not None:
                raise EgressRefused(
                    f"egress refused: {host} resolves to {address}, {an(why)} address; "
                    f"allow the range with {EGRESS_ALLOW_ENV} if this sink is meant to be "
                    "reached inside the network"
                )
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host} has no address")

    async def _resolve(self, host: str, port: int, within: float | None) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        out: list[str] = []
        for *_, sockaddr in infos:
            address = str(sockaddr[0]).split("%", 1)[0]
            if address not in out:
                out.append(address)
        return out

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface names it)
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("egress refused: sinks are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(policy: EgressPolicy) -> httpx.AsyncHTTPTransport:
    """An ``httpx`` transport whose every connection passes the egress policy.

    Given as the client's transport, it also keeps environment proxies out: a proxy
    would make the connection on the worker's behalf, past the check.
    """
    transport = httpx.AsyncHTTPTransport()
    # httpx builds its connection pool without a way to pass a network backend; the pool
    # is rebuilt with the same defaults and the guarded backend.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=100,  # httpx's defaults
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(policy, httpcore.AnyIOBackend()),
    )
    return transport
