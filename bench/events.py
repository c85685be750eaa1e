"""Events (issue 17): what the outbox adds to the request path, and delivery throughput.

    .venv/bin/python bench/events.py [--items 10000] [--batch-size 500] [--subscriptions 20]
                                     [--deliveries 5000] [--echo-requests 1000]
                                     [--database-url URL]

On PostgreSQL (a dedicated schema, dropped at the end), in one run:

1. **Outbox cost on the request path**: server CPU (this process) of ``PublishNotifications``
   batches through the complete WSGI application (WS-Security gate, Spyne, services, signed
   response), first with no subscription, then with ``--subscriptions`` subscribers of every
   event type. The difference per notification is what the outbox adds, printed as a ratio to a
   bare Spyne echo request (``bench/receipts.py``'s). Target (issue 17): <= 0.2x. The audit
   chain is the outbox (DESIGN.md §13), so nothing extra is written: the ratio is noise around 0.
   Batches with and without subscribers alternate.
2. **Delivery throughput**: ``gateway events deliver`` (a separate process, as deployed) fans
   out the audit chain and delivers ``--deliveries`` published events, signed, to a loopback
   receiver (a separate process answering 204); events/s from its start to the last delivery
   recorded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import zeep
from lxml import etree
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from publish import SOAP, call, soap_items
from receipts import DEFAULT_POSTGRES_URL, echo_cost, open_store

from gateway.bootstrap import build
from gateway.client.transport import ServerVerifyingSignature
from gateway.config import Settings
from gateway.domain.model import Issuer
from gateway.domain.principal import Principal, PrincipalKind
from gateway.services.events import Owner

ROOT = Path(__file__).resolve().parents[1]
TARGET_OUTBOX_RATIO = 0.2
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers['content-length']))
        self.send_response(204); self.end_headers()
ThreadingHTTPServer.request_queue_size = 256
s = ThreadingHTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--subscriptions", type=int, default=20)
    parser.add_argument("--deliveries", type=int, default=5000,
                        help="events to deliver for the throughput measurement")
    parser.add_argument("--echo-requests", type=int, default=1000)
    parser.add_argument("--database-url", default=os.environ.get(
        "GATEWAY_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL))
    args = parser.parse_args(argv)
    n = args.batch_size
    batches = max(2, args.items // n // 2)

    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        workdir = Path(tmp)
        url, remove = open_store("postgresql", args.database_url, workdir)
        env = {"GATEWAY_EVENTS_ALLOWED_CALLBACKS": "127.0.0.1",
               "GATEWAY_EVENTS_ALLOW_HTTP": "true"}
        settings = Settings.from_mapping({
            "GATEWAY_DATA_DIR": str(workdir), "GATEWAY_PKI_DIR": str(workdir / "pki"),
            "GATEWAY_DATABASE_URL": url, "GATEWAY_MAX_MESSAGE_BYTES": str(64 * 2**20), **env})
        receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE,
                                    text=True)
        try:
            from gateway.pki import generate_demo_pki

            pki = generate_demo_pki(workdir / "pki", now=datetime.now(UTC))
            container = build(settings)
            container.upgrade_database()
            container.issuing().register(pki.issuer_tgss_cif, Issuer.TGSS, "bench")
            app = container.wsgi_app()
            credential = pki.client("issuer_tgss")
            signer = ServerVerifyingSignature(credential.key_path, credential.cert_path,
                                              pki.server.cert_path)
            client = zeep.Client(str(ROOT / "wsdl" / "issuer-service.wsdl"))

            def publish(prefix: str) -> float:
                envelope = client.create_message(client.service, "PublishNotifications",
                                                 item=soap_items(pki, prefix, n, 2048))
                signer.apply(envelope, {})
                _, cpu, response = call(app, etree.tostring(envelope), "/IssuerService",
                                        "PublishNotifications")
                created = etree.fromstring(response).findtext(f"{SOAP}Body//{{*}}created")
                assert created == str(n), response[:300]
                return cpu / n

            publish("WARM")
            assert receiver.stdout is not None
            port = int(receiver.stdout.readline())
            events = container.events()
            company = Principal(PrincipalKind.ENTITY, pki.company_cif, "EMPRESA", "")
            off: list[float] = []
            on: list[float] = []
            for batch in range(batches):  # alternated, so warming up favours neither
                off.append(publish(f"OFF{batch}"))
                made = [events.subscribe(Owner(company), f"http://127.0.0.1:{port}/hook",
                                         ["receipt.issued"])  # hears of nothing here
                        for _ in range(args.subscriptions - 1)]
                made.append(events.subscribe(Owner(company), f"http://127.0.0.1:{port}/hook"))
                on.append(publish(f"ON{batch}"))
                for subscription in made:
                    assert subscription.id is not None
                    events.unsubscribe(Owner(company), subscription.id, "bench")
            # the delivery load: one subscriber of every event, then --deliveries items
            events.subscribe(Owner(company), f"http://127.0.0.1:{port}/hook")
            for batch in range(max(1, args.deliveries // n)):
                publish(f"DLV{batch}")
            echo = statistics.median(echo_cost(args.echo_requests, 3, pki))
            published = max(1, args.deliveries // n) * n
            container.dispose()

            gateway = Path(sys.executable).with_name("gateway")
            started = time.perf_counter()
            deliver = subprocess.Popen(
                [str(gateway), "events", "deliver", "--batch", "500", "--threads", "16",
                 "--interval", "0.05"],
                env={**{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
                     "GATEWAY_DATABASE_URL": url, "GATEWAY_DATA_DIR": str(workdir), **env})
            try:
                engine = build(settings).engine
                while True:
                    with engine.connect() as connection:
                        done = connection.execute(text(
                            "SELECT count(*) FROM event_delivery WHERE state = 'DELIVERED'"
                        )).scalar_one()
                    if done >= published:
                        break
                    if time.perf_counter() - started > 600:
                        raise SystemExit(f"only {done} of {published} delivered in 600 s")
                    time.sleep(0.05)
                elapsed = time.perf_counter() - started
            finally:
                deliver.terminate()
                deliver.wait(timeout=30)
        finally:
            receiver.terminate()
            remove()

    extra = statistics.median(on) - statistics.median(off)
    ratio = extra / echo
    print(f"PublishNotifications server CPU per item: {statistics.median(off) * 1e6:8.1f} us "
          f"without subscribers, {statistics.median(on) * 1e6:8.1f} us with "
          f"{args.subscriptions} ({batches} batches of {n} each)")
    print(f"bare Spyne echo request:                  {echo * 1e6:8.1f} us CPU")
    print(f"outbox extra CPU per notification / echo: {ratio:+.3f} (target <= "
          f"{TARGET_OUTBOX_RATIO}; the audit chain is the outbox: noise around 0)")
    print(f"delivery: {published} events in {elapsed:.1f} s = {published / elapsed:.0f} "
          f"events/s to a loopback receiver (process start and fan-out included)")
    return 0 if ratio <= TARGET_OUTBOX_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
