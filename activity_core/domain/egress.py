"""Egress policy: which addresses a sink or resolver URL may reach. Pure (no DNS).

A URL written by a definition author (or anyone holding the API's write token) must not
be able to aim the worker at its own machine, the cluster's private network or a cloud
metadata service. The same rules run twice: on literal addresses when a definition is
validated, and on every address a host resolves to when the worker connects
(:mod:`activities.egress`), so spellings and DNS names cannot get round them.

Numeric hosts are read the way browsers and C's ``inet_aton`` read them (the WHATWG URL
IPv4 parser): ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` and ``127.1`` are all
127.0.0.1, so all are judged as 127.0.0.1; IPv4-mapped, NAT64 and 6to4 IPv6 addresses
are judged by the IPv4 address inside them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

EGRESS_ALLOW_ENV = "ACTCORE_EGRESS_ALLOW"

#: Host names of cloud metadata services (they resolve to link-local addresses, which
#: are refused anyway; named here so validation can say so without DNS).
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "169.254.169.254.nip.io",
    }
)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def parse_numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host names, in any spelling a client accepts, or None for a
    DNS name. IPv6 hosts come without brackets (as ``urlsplit(...).hostname`` gives them).

    Raises:
        ValueError: The host looks numeric but is no address (e.g. ``1.2.3.4.5``).
    """
    name = host.strip().lower().rstrip(".")
    if ":" in name:
        return ipaddress.IPv6Address(name.split("%", 1)[0])
    parts = name.split(".")
    if not parts or not _is_number(parts[-1]):
        return None
    if len(parts) > 4 or not all(_is_number(p) for p in parts):
        raise ValueError(f"{host} is not a valid IPv4 address")
    numbers = [_number(p) for p in parts]
    last = numbers.pop()
    if any(n > 255 for n in numbers) or last >= 256 ** (4 - len(numbers)):
        raise ValueError(f"{host} is not a valid IPv4 address (a part is too large)")
    value = last
    for i, n in enumerate(numbers):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _is_number(part: str) -> bool:
    if part.startswith(("0x", "0X")):
        digits = part[2:]
        return all(c in "0123456789abcdefABCDEF" for c in digits)
    return part.isascii() and part.isdigit()


def _number(part: str) -> int:
    if part.startswith(("0x", "0X")):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        if not all(c in "01234567" for c in part):
            raise ValueError(f"{part} is not an octal number")
        return int(part, 8)
    return int(part)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, compatible)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d (deprecated form)
        return ipaddress.IPv4Address(int(address))
    return None


def category(address: IPAddress) -> str | None:
    """Why an address is internal (``loopback``, ``private``, ...), or None if public."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return category(inner)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata services live there)"
    if address.is_multicast:
        return "multicast"
    if address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT):
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


#: Internal ranges no setting can open at validation time: a definition never needs them.
ALWAYS_REFUSED = ("unspecified", "link-local", "multicast")


@dataclass(frozen=True)
class EgressPolicy:
    """Internal addresses are refused unless a network is allowed explicitly
    (``ACTCORE_EGRESS_ALLOW``) or the origin is one the deployment configured itself
    (its State Hub, its issue-core)."""

    allow: tuple[IPNetwork, ...] = ()
    """Networks allowed although internal (e.g. ``127.0.0.0/8`` on a dev machine)."""
    origins: frozenset[str] = field(default_factory=frozenset)
    """``scheme://host:port`` origins the deployment itself configured: always allowed."""

    @classmethod
    def parse(cls, allow: str | None, trusted_urls: Iterable[str | None] = ()) -> EgressPolicy:
        """From ``ACTCORE_EGRESS_ALLOW`` (comma-separated networks or addresses) and the
        deployment's own service URLs.

        Raises:
            ValueError: An entry is not a network (names it and the expected form).
        """
        networks: list[IPNetwork] = []
        for entry in (allow or "").split(","):
            entry = entry.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"{EGRESS_ALLOW_ENV}: {entry!r} is not a network; write addresses or "
                    "CIDR ranges separated by commas, e.g. 127.0.0.0/8,10.20.0.0/16"
                ) from None
        origins = frozenset(o for o in (origin_of(u) for u in trusted_urls if u) if o)
        return cls(tuple(networks), origins)

    def refusal(self, address: IPAddress, origin: str | None = None) -> str | None:
        """Why connecting to ``address`` (for a URL of ``origin``) is refused, or None."""
        if origin is not None and origin in self.origins:
            return None
        why = category(address)
        if why is None:
            return None
        inner = embedded_ipv4(address)
        if any(address in n or (inner is not None and inner in n) for n in self.allow):
            return None
        return why


def origin_of(url: str) -> str | None:
    """``scheme://host:port`` of a URL, the port always written (None if it has no host)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.scheme not in ("http", "https"):
        return None
    host = parts.hostname.lower().rstrip(".")
    port = port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{host}:{port}"


def url_refusal(url: str, policy: EgressPolicy) -> str | None:
    """What is wrong with a URL whose host is a literal internal address (no DNS), with
    the fix, or None. DNS names are judged when the worker connects."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        address = parse_numeric_host(host)
    except ValueError as exc:
        return str(exc)
    if address is None:
        return None
    why = policy.refusal(address, origin_of(url))
    if why is None:
        return None
    return (
        f"{host} is {an(why)} address ({address}); sinks may reach only public hosts unless "
        f"the deployment allows the range: set {EGRESS_ALLOW_ENV} (e.g. "
        f"{EGRESS_ALLOW_ENV}={_network_hint(address)}) on the worker, the API and the CLI"
    )


def an(word: str) -> str:
    """``a private``, ``an unspecified``."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _network_hint(address: IPAddress) -> str:
    inner = embedded_ipv4(address) or address
    prefix = 32 if isinstance(inner, ipaddress.IPv4Address) else 128
    return str(ipaddress.ip_network(f"{inner}/{prefix}"))
