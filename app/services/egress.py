"""Where the service may send a request of its own: a partner's webhook, resolved once.

A URL's host is decided the way the connection will decide it — by the system's resolver,
which also reads ``2130706433``, ``127.1``, ``0177.0.0.1`` and ``0x7f000001`` as 127.0.0.1 —
and every address it yields must be public: ``ipaddress``'s globally reachable ranges, with
the IPv4 inside IPv4-mapped, NAT64 (64:ff9b::/96), 6to4 and Teredo addresses checked too,
IPv4-compatible (::/96) and local-use NAT64 (64:ff9b:1::/48) addresses refused. The
request then goes to the address that was checked (the URL's host kept in ``Host`` and
TLS's server name), so a second lookup cannot answer differently (DNS rebinding).

Outside production, private addresses are allowed (a receiver on this machine), unless
``GOLDTRAIL_WEBHOOK_ALLOW_PRIVATE_NETWORKS`` says otherwise; the resolution and the pinning
are the same either way.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "NOT_PUBLIC",
    "NOT_RESOLVED",
    "EgressRefused",
    "PinnedTarget",
    "Resolver",
    "is_public",
    "pin",
    "resolve",
]

Resolver = Callable[..., Sequence[tuple[Any, ...]]]
"""``socket.getaddrinfo``, or a stand-in with its signature (tests)."""

_INTERNAL_NAMES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
_NAT64 = IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = IPv6Network("::/96")


class EgressRefused(Exception):
    """The URL may not be requested: ``outcome`` is what the partner is told."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


NOT_PUBLIC = "refused: the host's address is not public"
NOT_RESOLVED = "could not connect"


def is_public(address: IPv4Address | IPv6Address) -> bool:
    """Whether ``address`` is reachable on the internet and not a way back inside."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in _LOCAL_NAT64 or address in _IPV4_COMPATIBLE:
            return False
        if address in _NAT64:
            return is_public(IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            return is_public(address.sixtofour)
        if address.teredo is not None:
            server, client = address.teredo
            return is_public(server) and is_public(client)
    return address.is_global and not address.is_multicast


def _internal_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(_INTERNAL_NAMES)


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """A URL rewritten to the address that was checked, and what keeps its name."""

    url: str
    """The URL with its host replaced by the checked address."""
    host_header: str
    """The original ``host[:port]``, sent as ``Host``."""
    server_name: str
    """The original host name, for TLS's server name and certificate check."""
    address: IPv4Address | IPv6Address


def resolve(
    host: str, port: int, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo
) -> list[IPv4Address | IPv6Address]:
    """Every address ``host`` resolves to, or EgressRefused: none, or any not public."""
    if not allow_private and _internal_name(host):
        raise EgressRefused(NOT_PUBLIC, f"{host} is a name for this host or a private network")
    try:
        found = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise EgressRefused(NOT_RESOLVED, f"{host} does not resolve: {exc}") from exc
    addresses = [ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]
    if not addresses:
        raise EgressRefused(NOT_RESOLVED, f"{host} resolves to no address")
    if not allow_private:
        private = [str(a) for a in addresses if not is_public(a)]
        if private:
            raise EgressRefused(NOT_PUBLIC, f"{host} resolves to {', '.join(private)}")
    return addresses


def pin(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> PinnedTarget:
    """The URL to request instead of ``url``: its host resolved once and checked."""
    parts = urlsplit(url)
    host = parts.hostname
    if host is None:
        raise EgressRefused(NOT_RESOLVED, "the URL names no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(host, port, allow_private=allow_private, resolver=resolver)[0]
    literal = f"[{address}]" if isinstance(address, IPv6Address) else str(address)
    netloc = f"{literal}:{port}"
    default_port = parts.port is None
    host_header = (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")
    return PinnedTarget(
        url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=host_header,
        server_name=host,
        address=address,
    )
