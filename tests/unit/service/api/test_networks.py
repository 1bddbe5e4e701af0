import ipaddress

import pytest

from service.api.networks import client_address, network_of, parse_address, parse_networks
from service.kernel.errors import InvalidRequestError

PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1")


def test_a_direct_client_is_its_socket_peer_whatever_it_forwards():
    assert client_address("203.0.113.7", ["198.51.100.1"], PROXIES) == ipaddress.ip_address(
        "203.0.113.7"
    )


def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client():
    # the client forged "1.2.3.4"; the proxy appended the address it really saw
    got = client_address("10.1.1.1", ["1.2.3.4, 203.0.113.9", "10.2.2.2"], PROXIES)
    assert got == ipaddress.ip_address("203.0.113.9")


def test_a_garbled_forwarded_chain_falls_back_to_what_we_saw():
    assert client_address("10.1.1.1", ["not-an-ip"], PROXIES) == ipaddress.ip_address("10.1.1.1")


def test_networks_are_ipv4_slash_24_and_ipv6_slash_48():
    assert network_of(parse_address("203.0.113.77")) == "203.0.113.0/24"
    assert network_of(parse_address("[2001:db8:1:2::5]:443")) == "2001:db8:1::/48"
    assert network_of(parse_address("::ffff:198.51.100.3")) == "198.51.100.0/24"
    assert network_of(None) == "unknown"


def test_a_bad_proxy_entry_is_named():
    with pytest.raises(InvalidRequestError, match="nope"):
        parse_networks("10.0.0.0/8, nope")
