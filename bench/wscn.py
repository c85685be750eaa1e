"""What the WSCN port's one-notification-per-call loop costs the server, against the native bulk
path for the same notifications and against a bare Spyne echo request, measured in one run.

    .venv/bin/python bench/wscn.py [--notifications 100] [--repeats 3] [--echo-requests 1000]
                                   [--database-url URL]

On PostgreSQL (a dedicated schema, dropped at the end) this publishes fresh company
notifications and runs, per repeat, through the complete WSGI application of ``gateway serve``
(``Container.wsgi_app``: WS-Security gate, Spyne, services, signed responses), in-process:

- **WSCN loop**, for N notifications: ``consultarListadoNotificaciones`` until ``hayMas`` is
  false (50 a page), then per notification ``solicitarAcuseNotificacion`` and
  ``enviarAcuseNotificacion`` (whose answer carries the PDF: the content);
- **native bulk path**, for N others: ``ListNotifications`` (one page), one ``PrepareReceipt``
  and one ``SubmitReceipt`` of all N, one ``GetContents`` of all N;
- **native one by one**, for N more: the native operations with one id per call (what the
  WSCN contract forces), to tell the adapter's own cost from the contract's.

Client work (WS-Security signing of each request, XAdES signature of each acknowledgement) is
done outside the measured windows; what is measured is this process's CPU time
(``time.process_time``) inside the WSGI calls, per notification. PostgreSQL's own CPU is not
included (another machine in production). The echo is ``bench/receipts.py``'s: a signed request
through a one-operation Spyne app, measured before, between and after the repeats (the median
of all): on a shared machine the load moves during a run. The load average is printed.

Which echo the target counts in. Issue 16 asks for "<= 30x an echo request per notification".
Every other "echo" baseline of this project is this bare Spyne echo (``docs/DESIGN.md``: the
benchmarks' baselines are "bare Spyne echo, raw lxml serialisation, raw RSA/ECDSA verify"; the
same words in issue 17 and ``bench/e2e_agent.py``'s "<= 3x echo" mean it), and the issue set
30x knowing that each WSCN call passes the gate (it says why the ratio is large: one
notification per call). So the target is checked against the bare echo: measuring it against
an echo that itself pays the gate would multiply the allowance by about ten. What the gate costs
is shown beside it, not hidden: the **gated echo** is the same Echo operation mounted in this
run's own ``GatewayFront`` -- WS-Security verification, the replay nonce written to PostgreSQL,
the rate limit, Spyne, and the response signed as the WSCN port signs it --, and the WSCN loop
is also printed in gated echoes (the two signed calls per notification are two of them).

Prints both per-notification costs, WSCN/native, WSCN/echo and WSCN/gated echo.
Target: WSCN/echo <= 30.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zeep
from lxml import etree

from gateway import namespaces as gwns
from gateway.bootstrap import build
from gateway.client.transport import ServerVerifyingSignature
from gateway.config import Settings
from gateway.domain.clock import SystemClock
from gateway.pki import generate_demo_pki
from gateway.signatures import sign_xades_enveloped
from gateway.soap.application import GatewayWsgiApplication, build_application
from gateway.soap.wsgi import GatewayFront

sys.path.insert(0, str(Path(__file__).resolve().parent))
from receipts import DEFAULT_POSTGRES_URL, company_batch, echo_cost, open_store
from wssec_verify import EchoService

ROOT = Path(__file__).resolve().parents[1]
TARGET_ECHO_RATIO = 30.0
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"


class InProcessServer:
    """Signed requests into the gateway's WSGI front; CPU time spent inside it is summed."""

    def __init__(self, app: Any, signer: ServerVerifyingSignature) -> None:
        self.app, self.signer, self.cpu = app, signer, 0.0

    def call(self, path: str, envelope: etree._Element, action: str) -> etree._Element:
        self.signer.apply(envelope, {})  # the client's work: not measured
        body = etree.tostring(envelope)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/xml; charset=utf-8",
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
            "PATH_INFO": path, "QUERY_STRING": "", "SCRIPT_NAME": "",
            "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
            "HTTP_SOAPACTION": f'"{action}"', "REMOTE_ADDR": "127.0.0.1",
        }
        statuses: list[str] = []
        start = time.process_time()
        response = b"".join(self.app(environ, lambda status, headers, exc_info=None:
                                     statuses.append(status)))
        self.cpu += time.process_time() - start
        if not statuses[0].startswith("200"):
            raise SystemExit(f"{path} {action} failed: {statuses[0]} {response[:600]!r}")
        answer = etree.fromstring(response).find(f"{SOAP}Body")[0]
        return answer


def gated_echo_front(front: GatewayFront) -> GatewayFront:
    """``front`` (the gateway's own WSGI application) with an ``Echo`` port beside the real
    ones: the same gate, nonce store, limits and response signing as the WSCN port."""
    signer = (front.port_signers or {}).get("WSCN", front.response_signer)
    echo = GatewayWsgiApplication(build_application([EchoService], name="Echo",
                                                    response_signer=signer))
    return dataclasses.replace(front, services={**front.services, "Echo": echo},
                               port_signers={**(front.port_signers or {}), "Echo": signer})


def gated_echo_cost(server: InProcessServer, count: int) -> float:
    """CPU seconds per signed Echo through the gated front (each request distinct: a fresh
    Timestamp and SignatureValue, so the replay check writes a nonce every time)."""
    ns = gwns.NOTIFICATION_SERVICE
    start = server.cpu
    for _ in range(count):
        envelope = etree.fromstring(
            f'<soap:Envelope xmlns:soap="{SOAP[1:-1]}"><soap:Body><e:Echo xmlns:e="{ns}">'
            f"<e:text>hola</e:text></e:Echo></soap:Body></soap:Envelope>".encode())
        answer = server.call("/Echo", envelope, "Echo")
        if answer.findtext(f"{{{ns}}}EchoResult") != "hola":
            raise SystemExit(f"gated echo failed: {etree.tostring(answer)!r}")
    return (server.cpu - start) / count


def message(client: zeep.Client, operation: str, **arguments: Any) -> etree._Element:
    return client.create_message(client.service, operation, **arguments)


def wscn_loop(server: InProcessServer, wscn: zeep.Client, sign: Callable[[bytes], bytes],
              ids: set[int]) -> int:
    """The WSCN integrators' loop over ``ids`` (others listed are skipped); items done."""
    pending: list[int] = []
    cursor = -1
    while True:
        answer = server.call("/WSCN", message(
            wscn, "consultarListadoNotificaciones", rol=1, identificadorPoderdante=None,
            codigoSiguienteNotificacionPropia=cursor,
            codigoSiguienteNotificacionAutorizadoRED=-1,
            codigoSiguienteNotificacionApoderado=-1), "urn:consultarListadoNotificaciones")
        listing = answer.find("listadoNotificaciones")
        pending += [int(n.findtext("codigo")) for n in listing.iterfind("notificacionesPropias")
                    if n.findtext("estado") == "1" and int(n.findtext("codigo")) in ids]
        cursor = int(listing.findtext("codigoSiguienteNotificacionPropia"))
        if listing.findtext("hayMas") != "true":
            break
    for notification_id in pending:
        answer = server.call("/WSCN", message(
            wscn, "solicitarAcuseNotificacion", rol=1, identificadorPoderdante=None,
            codigoNotificacion=notification_id, esDeAceptacion=True),
            "urn:solicitarAcuseNotificacion")
        acuse = base64.b64decode(answer.findtext("acuseNotificacion/XML"))
        signed = sign(acuse)
        answer = server.call("/WSCN", message(
            wscn, "enviarAcuseNotificacion", rol=1, identificadorPoderdante=None,
            xmlAcuseFirmado=signed), "urn:enviarAcuseNotificacion")
        if answer.find("notificacionRecuperada/pdfNotificacion") is None:
            raise SystemExit(f"enviarAcuseNotificacion gave no PDF: {etree.tostring(answer)!r}")
    return len(pending)


def native_bulk(server: InProcessServer, native: zeep.Client, sign: Callable[[bytes], bytes],
                ids: list[int]) -> int:
    server.call("/NotificationService", message(native, "ListNotifications", pageSize=1000),
                "ListNotifications")
    answer = server.call("/NotificationService", message(
        native, "PrepareReceipt", id=ids, decision="ACCEPT"), "PrepareReceipt")
    receipt = base64.b64decode(answer.findtext(".//{*}receipt"))
    server.call("/NotificationService", message(native, "SubmitReceipt",
                                                signedReceipt=sign(receipt)), "SubmitReceipt")
    answer = server.call("/NotificationService", message(native, "GetContents", id=ids),
                         "GetContents")
    released = len(answer.findall(".//{*}content"))
    if released != len(ids):
        raise SystemExit(f"GetContents released {released} of {len(ids)}")
    return len(ids)


def native_one_by_one(server: InProcessServer, native: zeep.Client,
                      sign: Callable[[bytes], bytes], ids: list[int]) -> int:
    """The native port used the WSCN way: one notification per call (listing, then
    PrepareReceipt, SubmitReceipt and GetContent of one id each). It separates what the
    one-per-call contract costs from what the WSCN adapter itself adds."""
    server.call("/NotificationService", message(native, "ListNotifications", pageSize=1000),
                "ListNotifications")
    for notification_id in ids:
        answer = server.call("/NotificationService", message(
            native, "PrepareReceipt", id=[notification_id], decision="ACCEPT"), "PrepareReceipt")
        receipt = base64.b64decode(answer.findtext(".//{*}receipt"))
        server.call("/NotificationService", message(
            native, "SubmitReceipt", signedReceipt=sign(receipt)), "SubmitReceipt")
        server.call("/NotificationService", message(native, "GetContent", id=notification_id),
                    "GetContent")
    return len(ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--echo-requests", type=int, default=1000)
    parser.add_argument("--gated-echo-requests", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get(
        "GATEWAY_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL))
    args = parser.parse_args(argv)
    n = args.notifications

    wscn_samples: list[float] = []
    native_samples: list[float] = []
    single_samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-wscn-") as tmp:
        workdir = Path(tmp)
        pki = generate_demo_pki(workdir / "pki", now=datetime.now(UTC))
        echo = echo_cost(args.echo_requests, args.repeats, pki)
        url, remove = open_store("postgresql", args.database_url, workdir)
        # One client as fast as it can: the per-principal rate limit (20/s by default) would
        # refuse it on a quiet machine; the limit has its own tests and bench.
        container = build(Settings(data_dir=workdir, pki_dir=workdir / "pki", database_url=url,
                                   rate_per_second=100_000.0, rate_burst=100_000))
        try:
            container.upgrade_database()
            app = container.wsgi_app()
            credential = pki.client("company")
            # What the demo client signs with (Timestamp, token, RSA-SHA256 over both).
            signer = ServerVerifyingSignature(credential.key_path, credential.cert_path,
                                              pki.server.cert_path)
            wscn = zeep.Client(str(ROOT / "wsdl" / "wscn.wsdl"))
            native = zeep.Client(str(ROOT / "wsdl" / "notification-service.wsdl"))

            def sign(document: bytes) -> bytes:
                return sign_xades_enveloped(document, credential.private_key(),
                                            credential.certificate(), clock=SystemClock())

            echo_server = InProcessServer(gated_echo_front(app), signer)
            gated_echo_cost(echo_server, 50)  # warm-up
            gated = [gated_echo_cost(echo_server, args.gated_echo_requests)]
            publishing, now = container.publishing(), container.clock.now()
            for repeat in range(args.repeats + 1):  # the first is a warm-up
                start = repeat * 3 * n
                ids = publishing.publish(company_batch(pki, now, start, 3 * n))
                server = InProcessServer(app, signer)
                done = wscn_loop(server, wscn, sign, set(ids[:n]))
                wscn_cpu = server.cpu / done
                server = InProcessServer(app, signer)
                done = native_bulk(server, native, sign, ids[n:2 * n])
                native_cpu = server.cpu / done
                server = InProcessServer(app, signer)
                done = native_one_by_one(server, native, sign, ids[2 * n:])
                single_cpu = server.cpu / done
                if repeat:
                    wscn_samples.append(wscn_cpu)
                    native_samples.append(native_cpu)
                    single_samples.append(single_cpu)
                    # The echo between repeats too: on a shared machine the load moves, and the
                    # ratio should compare samples taken under the same load.
                    echo += echo_cost(args.echo_requests, 1, pki)
                    gated.append(gated_echo_cost(echo_server, args.gated_echo_requests))
        finally:
            container.dispose()
            remove()
        echo += echo_cost(args.echo_requests, args.repeats, pki)

    bare, gated_echo, wscn_cost, native_cost, single_cost = (statistics.median(s) for s in (
        echo, gated, wscn_samples, native_samples, single_samples))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average (1, 5, 15 min):    {load}  ({os.cpu_count()} CPUs)")
    print(f"bare Spyne echo request:        {bare * 1e6:9.1f} us CPU (median of {len(echo)}, "
          "before, between and after the repeats)")
    print(f"gated echo request:             {gated_echo * 1e6:9.1f} us CPU (median of "
          f"{len(gated)}: the Echo through this gateway's WS-Security gate, nonce, limits and "
          "signed response)")
    print(f"WSCN loop, per notification:    {wscn_cost * 1e6:9.1f} us CPU "
          f"(list + solicitar + enviar with the PDF; {n} notifications, median of "
          f"{args.repeats})")
    print(f"native bulk, per notification:  {native_cost * 1e6:9.1f} us CPU "
          f"(ListNotifications + PrepareReceipt + SubmitReceipt + GetContents of {n})")
    print(f"native one by one, per notif.:  {single_cost * 1e6:9.1f} us CPU "
          f"(PrepareReceipt + SubmitReceipt + GetContent of one id each)")
    print(f"WSCN / native bulk: {wscn_cost / native_cost:6.1f}x   "
          f"WSCN / native one by one: {wscn_cost / single_cost:5.2f}x")
    print(f"WSCN / gated echo: {wscn_cost / gated_echo:5.1f}x  (informative: the loop in "
          "signed gateway requests; two of them per notification are the gate's floor)")
    ratio = wscn_cost / bare
    ok = ratio <= TARGET_ECHO_RATIO
    print(f"WSCN / echo:   {ratio:6.1f}x  (target <= {TARGET_ECHO_RATIO:.0f}: "
          f"{'OK' if ok else 'MISSED'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
