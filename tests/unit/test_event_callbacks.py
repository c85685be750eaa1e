"""No SSRF through event callbacks (issue 17): the allow-list at subscription and at each
delivery, the resolved address pinned, redirects and hostile URLs refused.

The sender is exercised against a loopback HTTP server, with a resolver that lies (DNS
rebinding to a metadata address), so every case is deterministic and nothing leaves the host.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.callbacks import CallbackPolicy, CallbackRefused
from gateway.domain.events import Delivery
from gateway.events.sender import WebhookSender

POLICY = CallbackPolicy.parse("hooks.example.com, 10.20.0.0/16, 127.0.0.1, ::1")


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/events",
    "https://HOOKS.example.com./events?x=1",
    "https://10.20.3.4:8443/h",
    "https://[::1]/h",
])
def test_allowed_callbacks(url: str) -> None:
    assert POLICY.check(url).host in ("hooks.example.com", "10.20.3.4", "::1")


@pytest.mark.parametrize(("url", "why"), [
    ("http://hooks.example.com/events", "https"),
    ("https://evil.example.com/events", "not an allowed callback host"),
    ("https://hooks.example.com.evil.net/", "not an allowed callback host"),
    ("https://10.21.0.1/", "networks"),
    ("https://169.254.169.254/latest/meta-data/", "networks"),
    ("https://[::ffff:169.254.169.254]/", "networks"),
    ("https://2130706433/", "not an allowed callback host"),  # 127.0.0.1 as an integer
    ("https://user:pw@hooks.example.com/", "user information"),
    ("https://hooks.example.com@evil.net/", "user information"),
    ("https://hooks.example.com:0x50/", "invalid port"),
    ("https://hooks.example.com/\r\nHost: evil", "control characters"),
    ("ftp://hooks.example.com/", "https"),
    ("//hooks.example.com/", "https"),
    ("https:///nohost", "no host"),
    ("https://hooks.example.com/" + "a" * 3000, "too long"),
])
def test_hostile_callbacks_are_refused(url: str, why: str) -> None:
    with pytest.raises(CallbackRefused, match=why):
        POLICY.check(url)


def test_an_empty_allow_list_allows_nothing() -> None:
    with pytest.raises(CallbackRefused):
        CallbackPolicy.parse("").check("https://127.0.0.1/")


@given(st.text(max_size=200))
def test_any_text_is_refused_or_inside_the_allow_list(url: str) -> None:
    try:
        callback = POLICY.check(url)
    except CallbackRefused:
        return
    address = callback.literal_address
    assert callback.host in POLICY.hosts or (address is not None
                                             and POLICY.allows_address(address))


class _Hook(BaseHTTPRequestHandler):
    hits = 0
    status = 204

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        type(self).hits += 1
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(self.status)
        if self.status == 301:
            self.send_header("location", "http://127.0.0.1:1/elsewhere")
        if self.status == 429:
            self.send_header("retry-after", "42")
        self.end_headers()
        self.wfile.write(b"x" * 200_000 if self.status == 200 else b"")


@pytest.fixture
def hook() -> Iterator[int]:
    _Hook.hits, _Hook.status = 0, 204
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def delivery(url: str) -> Delivery:
    return Delivery(1, 1, "evt_1_0", "notification.published", b'{"id":"evt_1_0"}', 0, url,
                    "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")


def test_a_name_resolving_to_a_metadata_address_is_not_contacted(hook: int) -> None:
    policy = CallbackPolicy.parse("hooks.example.com", allow_http=True)
    rebinding = WebhookSender(policy, resolver=lambda host, port: [
        ipaddress.ip_address("169.254.169.254")])
    outcome = rebinding.send(delivery(f"http://hooks.example.com:{hook}/h"))
    assert not outcome.ok and "resolves outside" in outcome.error
    # the same name resolving to loopback is reached at the address checked, and only there
    pinned = WebhookSender(policy, resolver=lambda host, port: [
        ipaddress.ip_address("127.0.0.1")])
    assert pinned.send(delivery(f"http://hooks.example.com:{hook}/h")).ok
    assert _Hook.hits == 1


def test_statuses_redirects_retry_after_and_bounded_answers(hook: int) -> None:
    sender = WebhookSender(CallbackPolicy.parse("127.0.0.1", allow_http=True), timeout=2)
    url = f"http://127.0.0.1:{hook}/h"
    assert sender.send(delivery(url)).ok
    _Hook.status = 301
    redirected = sender.send(delivery(url))
    assert not redirected.ok and "redirects are not followed" in redirected.error
    _Hook.status = 429
    limited = sender.send(delivery(url))
    assert (limited.ok, limited.retry_after) == (False, 42.0)
    _Hook.status = 200  # a 200 with a large body: read up to the bound, still delivered
    assert sender.send(delivery(url)).ok
    closed = sender.send(delivery("http://127.0.0.1:1/h"))
    assert not closed.ok and "ConnectionRefused" in closed.error
    narrowed = WebhookSender(CallbackPolicy.parse("10.0.0.0/8", allow_http=True))
    refused = narrowed.send(delivery(url))
    assert not refused.ok and refused.error.startswith("callback refused")
    assert _Hook.hits == 4


def test_signature_headers_verify_with_the_reference_library() -> None:
    from standardwebhooks.webhooks import Webhook

    from gateway.events.sender import signed_headers

    d = delivery("http://127.0.0.1/h")
    headers = signed_headers(d, datetime.now(UTC))
    assert Webhook(d.secret).verify(d.body, headers) == {"id": "evt_1_0"}
    assert headers["webhook-id"] == d.event_id
