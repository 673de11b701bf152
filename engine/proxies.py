"""The client's address: the TCP peer, or X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# NOTE: one host usually holds a whole IPv6 /64, so counting per address would let it spread
# its requests over 2^64 buckets; counting per /64 is what one IPv4 address is worth.
IPV6_BUCKET_PREFIX = 64


def parse_address(text: str) -> Address | None:
    """An IP from a header hop or REMOTE_ADDR (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; bare IPv6 has two or more colons
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """Which peers may tell us the client's address (TASKMANAGER_TRUSTED_PROXIES)."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False)
                                                   for n in networks)

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client_address(self, env: Mapping[str, Any]) -> str:
        """The client: the right-most X-Forwarded-For hop that is not a trusted proxy.

        Only consulted when the TCP peer itself is trusted; every hop right of the client was
        appended by a trusted proxy, and anything left of it is the client's own claim.
        """
        peer_text = env.get("REMOTE_ADDR") or ""
        peer = parse_address(peer_text)
        if peer is None:
            return peer_text or "unknown"
        forwarded = env.get("HTTP_X_FORWARDED_FOR")
        if not forwarded or not self.networks or not self.trusts(peer):
            return _bucket_address(peer)
        nearest = peer
        for hop in reversed(forwarded.split(",")):
            address = parse_address(hop)
            if address is None:  # garbage from the client side: stop at the last good hop
                break
            nearest = address
            if not self.trusts(address):
                break
        return _bucket_address(nearest)


def _bucket_address(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/{IPV6_BUCKET_PREFIX}", strict=False))
    return str(address)
