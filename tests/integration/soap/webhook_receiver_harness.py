"""A loopback webhook receiver for the event-delivery tests, verified by libraries we did not
write: ``standardwebhooks`` checks every signature, ``cloudevents`` parses every body.

It records each accepted delivery in arrival order, can answer 500 to its first requests (a
receiver that is down for a while), and can redirect (to check redirects are not followed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudevents.v1.http import from_http
from standardwebhooks.webhooks import Webhook


@dataclass
class Received:
    event_id: str
    type: str
    item: object
    body: bytes


@dataclass
class Receiver:
    secret: str = ""
    fail_first: int = 0
    """How many requests are answered 500 before it recovers (down for a while)."""
    always_fail: bool = False
    redirect_to: str | None = None
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    cut: int = 0
    """Requests whose body ended early (their sender was killed while sending)."""
    failed: int = 0
    hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (a kill test): no answer
                    with receiver.lock:
                        receiver.cut += 1
                    return
                with receiver.lock:
                    receiver.hits += 1
                    down = receiver.hits <= receiver.fail_first
                if receiver.redirect_to is not None:
                    self.send_response(302)
                    self.send_header("location", receiver.redirect_to)
                    self.end_headers()
                    return
                if receiver.always_fail or down:
                    with receiver.lock:
                        receiver.failed += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                try:
                    Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                    event = from_http(dict(self.headers.items()), body)
                except Exception:  # noqa: BLE001 - any verification failure is a refusal
                    with receiver.lock:
                        receiver.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                assert event["id"] == self.headers["webhook-id"]
                with receiver.lock:
                    receiver.received.append(Received(event["id"], event["type"],
                                                      (event.get_data() or {}).get(
                                                          "notificationId"), body))
                self.send_response(204)
                self.end_headers()

        ThreadingHTTPServer.request_queue_size = 256  # not 5: the deliverer sends in parallel
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def ids(self) -> set[str]:
        with self.lock:
            return {r.event_id for r in self.received}
