"""Sends one delivery to its callback: signed, pinned to a checked address, bounded.

- **Signed** per Standard Webhooks (the ``standardwebhooks`` library): ``webhook-id`` (the
  CloudEvent id, the same on every attempt), ``webhook-timestamp`` and ``webhook-signature``
  (``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` with the subscription's secret).
- **No SSRF** (``domain.callbacks``): the URL is checked against the allow-list again, the
  host resolved once, every address checked, and the connection made to the checked address
  (TLS still verifies the certificate for the host name). A redirect is a failure and never
  followed.
- **Bounded**: connect and read timeouts, at most ``max_response_bytes`` of the answer read.

A 2xx answer is a delivery; anything else (including 3xx) a failed attempt, with the
receiver's ``Retry-After`` passed on for 429 and 503.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from gateway.domain.callbacks import Address, Callback, CallbackPolicy, CallbackRefused
from gateway.domain.events import Delivery
from gateway.services.events import Outcome

Resolver = Callable[[str, int], list[Address]]
USER_AGENT = "notess-gateway-events/1"


def system_resolver(host: str, port: int) -> list[Address]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def signed_headers(delivery: Delivery, sent_at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    signature = Webhook(delivery.secret).sign(delivery.event_id, sent_at, delivery.body)
    return {"webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
            "content-type": "application/cloudevents+json; charset=utf-8",
            "user-agent": USER_AGENT}


class WebhookSender:
    def __init__(self, policy: CallbackPolicy, *, timeout: float = 5.0,
                 max_response_bytes: int = 64 * 1024, ca_file: Path | None = None,
                 resolver: Resolver = system_resolver,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.policy = policy
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.resolver = resolver
        self.clock = clock
        self._tls = ssl.create_default_context()
        if ca_file is not None:
            self._tls.load_verify_locations(cafile=str(ca_file))

    def send(self, delivery: Delivery) -> Outcome:
        try:
            callback = self.policy.check(delivery.url)
            address = self._address(callback)
        except CallbackRefused as exc:
            return Outcome(False, f"callback refused: {exc}")
        except OSError as exc:
            return Outcome(False, f"cannot resolve {delivery.url}: {exc.__class__.__name__}")
        headers = signed_headers(delivery, self.clock())
        connection = self._connection(callback, address)
        try:
            connection.request("POST", callback.target, body=delivery.body,
                               headers={**headers, "host": _host_header(callback)})
            response = connection.getresponse()
            response.read(self.max_response_bytes)  # bounded; the rest is dropped with the socket
            status = response.status
            retry_after = _retry_after(response.getheader("retry-after"))
        except (OSError, http.client.HTTPException) as exc:
            return Outcome(False, f"{exc.__class__.__name__}: {exc}"[:300])
        finally:
            connection.close()
        if 200 <= status < 300:
            return Outcome(True)
        if 300 <= status < 400:
            return Outcome(False, f"HTTP {status}: redirects are not followed")
        return Outcome(False, f"HTTP {status}",
                       retry_after if status in (429, 503) else None)

    def _address(self, callback: Callback) -> Address:
        literal = callback.literal_address
        addresses = [literal] if literal is not None else self.resolver(callback.host,
                                                                        callback.port)
        if not self.policy.allows_resolved(callback, addresses):
            raise CallbackRefused(f"{callback.host} resolves outside the allowed networks")
        return addresses[0]

    def _connection(self, callback: Callback, address: Address) -> http.client.HTTPConnection:
        if callback.scheme == "https":
            return _PinnedHTTPS(str(address), callback.port, callback.host, self._tls,
                                self.timeout)
        return http.client.HTTPConnection(str(address), callback.port, timeout=self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, verifying the certificate for the URL's host name."""

    def __init__(self, address: str, port: int, server_name: str, context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self._server_name = server_name
        self._tls_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self._server_name)


def _host_header(callback: Callback) -> str:
    default = 443 if callback.scheme == "https" else 80
    host = f"[{callback.host}]" if ":" in callback.host else callback.host
    return host if callback.port == default else f"{host}:{callback.port}"


def _retry_after(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None
