"""Who is asking, as far as the network tells: the client's address and its counting network.

Behind a reverse proxy every request comes from the proxy; list its addresses in
``TRACECERT_TRUSTED_PROXIES`` and the client is read from ``X-Forwarded-For`` (the right-most
hop the proxies did not write themselves). Nothing else is believed: a client that sends its own
``X-Forwarded-For`` straight to the service changes nothing."""

from __future__ import annotations

from fastapi import Request

from service.api.networks import Address, Network, client_address, network_of


def address_of(request: Request, proxies: tuple[Network, ...]) -> Address | None:
    peer = request.client.host if request.client is not None else ""
    forwarded = request.headers.getlist("x-forwarded-for") if proxies else []
    return client_address(peer, forwarded, proxies)


def network_key(request: Request, proxies: tuple[Network, ...]) -> str:
    """The client's counting network (an IPv4 /24, an IPv6 /48), e.g. ``203.0.113.0/24``."""
    return network_of(address_of(request, proxies))
