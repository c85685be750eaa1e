"""Which callback URLs events may be sent to: the operator's allow-list (no SSRF).

A subscriber names an URL; the gateway will send to it from inside the data centre, so the URL
could point at anything the gateway can reach (a metadata service, an admin port). Only hosts
and networks the operator listed in ``GATEWAY_EVENTS_ALLOWED_CALLBACKS`` are ever contacted:

- an entry is a host name (``hooks.example.com``, matched exactly, case-insensitively), an IP
  address or a network in CIDR form (``10.20.0.0/16``, ``::1/128``);
- the URL must be absolute, ``https`` (``http`` only when the operator allows it, for loopback
  receivers in tests and labs), without user information, and its host either a listed name or
  a literal address inside a listed network;
- when it is sent, the host is resolved and the connection goes to the address checked (no
  second resolution, so DNS rebinding cannot switch it): a listed name may resolve to any
  address but a link-local, multicast or unspecified one (cloud metadata services) unless a
  network entry allows it. Redirects are never followed.

The check is made when subscribing (the subscription is refused with ``CALLBACK_NOT_ALLOWED``)
and again at every delivery (the allow-list may have shrunk since).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class CallbackRefused(ValueError):
    """The URL may not be used as a callback; the message says why."""


@dataclass(frozen=True, slots=True)
class Callback:
    scheme: str
    host: str
    port: int
    target: str
    """Path and query, as sent in the request line."""

    @property
    def literal_address(self) -> Address | None:
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    allow_http: bool = False
    max_url_length: int = 2048

    @classmethod
    def parse(cls, entries: str, allow_http: bool = False) -> CallbackPolicy:
        """From the setting's comma-separated entries (host names, addresses, CIDR networks)."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for raw in entries.split(","):
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks), allow_http)

    def check(self, url: str) -> Callback:
        """The parsed callback, or ``CallbackRefused`` naming what is wrong with ``url``."""
        if len(url) > self.max_url_length:
            raise CallbackRefused("the callback URL is too long")
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
            raise CallbackRefused("the callback URL contains spaces or control characters")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http") or (scheme == "http" and not self.allow_http):
            raise CallbackRefused("the callback URL must use https")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise CallbackRefused("the callback URL must not carry user information")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise CallbackRefused("the callback URL has no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise CallbackRefused("the callback URL has an invalid port") from None
        callback = Callback(scheme, host, port,
                            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        address = callback.literal_address
        if address is not None:
            if not self.allows_address(address):
                raise CallbackRefused(f"{host} is not in the allowed callback networks")
        elif host not in self.hosts:
            raise CallbackRefused(f"{host} is not an allowed callback host")
        return callback

    def allows_address(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def allows_resolved(self, callback: Callback, addresses: list[Address]) -> bool:
        """Whether the addresses ``callback``'s host resolved to may be contacted."""
        if not addresses:
            return False
        if callback.literal_address is None and callback.host in self.hosts:
            # A listed name may resolve to private addresses (the operator named it), but
            # never to link-local ones (cloud metadata services) unless a network allows them.
            return all(not _link_local(a) or self.allows_address(a) for a in addresses)
        return all(self.allows_address(a) for a in addresses)


def _link_local(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_link_local or address.is_multicast or address.is_unspecified
