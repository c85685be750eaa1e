#!/usr/bin/env python3
"""Receive the gateway's events and run the batch agent for what they name, instead of polling.

    python client_examples/webhook_receiver.py --port 8443 --secret whsec_... \\
        --tls-cert receiver.pem --tls-key receiver.key --seen ./events.db \\
        -- python client_examples/batch_agent.py --url https://gw.example/NotificationService \\
           --cert agent.pem --key agent.key --server-cert server.pem --archive ./archive

Subscribe first (``SubscribeEvents`` on the NotificationService, or ``gateway subscriptions
add`` by the operator) with this receiver's https URL; the answer's secret is the ``--secret``.
For every POST it:

1. verifies the Standard Webhooks signature (``webhook-id``, ``webhook-timestamp`` within five
   minutes, ``webhook-signature``: HMAC-SHA256 with the secret) with the ``standardwebhooks``
   library, and reads the body as a CloudEvent with the CloudEvents SDK; anything else is 401;
2. de-duplicates by the event id (the gateway delivers at least once: after a retry or a crash
   the same event comes again with the same id), in the SQLite file ``--seen``;
3. answers 204 at once, and remembers the recipients the event names.

A background loop then runs the command after ``--`` once per named recipient (adding
``--principal <recipient>``), when no event has arrived for ``--quiet`` seconds; a failed run
is tried again on the next round. The batch agent itself is idempotent (its state file), so an
extra run costs a listing and nothing else.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cloudevents.v1.http import from_http
from standardwebhooks.webhooks import Webhook

MAX_BODY = 1 << 20


class Inbox:
    """Seen event ids (durable) and the recipients still to process (in memory)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at REAL)")
        self._lock = threading.Lock()
        self.pending: set[str] = set()
        self.last_event = 0.0

    def first_time(self, event_id: str) -> bool:
        with self._lock:
            inserted = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)",
                                        (event_id, time.time())).rowcount
            return inserted == 1

    def note(self, recipient: str | None) -> None:
        with self._lock:
            self.last_event = time.monotonic()
            if recipient:
                self.pending.add(recipient)

    def take(self, quiet: float) -> list[str]:
        with self._lock:
            if not self.pending or time.monotonic() - self.last_event < quiet:
                return []
            taken, self.pending = sorted(self.pending), set()
            return taken

    def give_back(self, recipient: str) -> None:
        with self._lock:
            self.pending.add(recipient)


def handler(webhook: Webhook, inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self._answer(413)
                return
            body = self.rfile.read(length)
            headers = dict(self.headers.items())
            try:
                webhook.verify(body, headers)
                event = from_http(headers, body)
            except Exception as exc:  # noqa: BLE001 - any failure: not from the gateway
                print(f"refused: {exc.__class__.__name__}: {exc}", file=sys.stderr)
                self._answer(401)
                return
            if inbox.first_time(event["id"]):
                data = event.get_data() or {}
                print(json.dumps({"id": event["id"], "type": event["type"],
                                  "subject": event.get("subject"), "data": data}), flush=True)
                inbox.note(data.get("recipient") if isinstance(data, dict) else None)
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

    return Handler


def run_agent(command: list[str], inbox: Inbox, quiet: float, stop: threading.Event) -> None:
    while not stop.wait(0.2):
        for recipient in inbox.take(quiet):
            done = subprocess.run([*command, "--principal", recipient], check=False)
            print(json.dumps({"agent": recipient, "exit": done.returncode}), flush=True)
            if done.returncode not in (0, 1):  # 1: finished with errors it will retry itself
                inbox.give_back(recipient)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--secret", required=True, help="the subscription's whsec_... secret")
    parser.add_argument("--tls-cert", type=Path, help="certificate chain (PEM) for https")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    parser.add_argument("--seen", type=Path, default=Path("events-seen.db"),
                        help="SQLite file of the event ids already handled")
    parser.add_argument("--quiet", type=float, default=2.0,
                        help="seconds without events before the agent runs")
    parser.add_argument("agent", nargs=argparse.REMAINDER,
                        help="-- then the batch agent command (without --principal)")
    args = parser.parse_args()
    command = args.agent[1:] if args.agent[:1] == ["--"] else args.agent

    inbox = Inbox(args.seen)
    server = ThreadingHTTPServer((args.host, args.port), handler(Webhook(args.secret), inbox))
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    stop = threading.Event()
    if command:
        threading.Thread(target=run_agent, args=(command, inbox, args.quiet, stop),
                         daemon=True).start()
    print(json.dumps({"listening": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 130
    finally:
        stop.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
