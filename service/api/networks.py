"""Client addresses and the networks they belong to: what rate limits and risk rules count.

A phone's address changes often within its operator's block, and one household or office
shares one; so limits and rules count *networks*, not addresses: an IPv4 /24 or an IPv6 /48
(a site's usual allocation, RFC 6177). Standard library only: this is pure logic."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from service.kernel.errors import InvalidRequestError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Prefix lengths that make one "network" for counting.
IPV4_PREFIX = 24
IPV6_PREFIX = 48


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` → networks; a bad entry is an InvalidRequestError naming it."""
    networks: list[Network] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise InvalidRequestError(
                f"{part!r} is not an IP address or CIDR network (e.g. 10.0.0.0/8)"
            ) from exc
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as a socket or a header gives it; None when it is not one."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.5:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Iterable[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(
    peer: str, forwarded_for: Sequence[str], proxies: Sequence[Network]
) -> Address | None:
    """The client's address: the socket peer, unless the peer is a trusted proxy; then the
    right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries left of
    it were written by the client and prove nothing)."""
    address = parse_address(peer)
    if address is None or not _trusted(address, proxies):
        return address
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        candidate = parse_address(hop)
        if candidate is None:
            return address  # a garbled chain: trust only what we saw ourselves
        if not _trusted(candidate, proxies):
            return candidate
        address = candidate
    return address


def network_of(address: Address | None) -> str:
    """The counting network of an address, as text: ``203.0.113.0/24``, ``2001:db8:1::/48``;
    ``unknown`` when there is none (every such client then shares one budget)."""
    if address is None:
        return "unknown"
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
