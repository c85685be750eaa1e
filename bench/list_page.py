"""What a 1,000-item ListNotifications response costs, as a ratio to building it with lxml.

    .venv/bin/python bench/list_page.py [--items 1000] [--calls 5] [--repeats 7]

Issue 7 target: a 1,000-item list page costs at most 2x the raw lxml build of the same page,
measured in the same run. CPU time (``time.process_time``) per response, median of
``--repeats`` runs of ``--calls`` responses each; the candidates take turns within every repeat
so a change in machine load affects them alike:

(a) the baseline: the same response built with ``etree.SubElement`` (envelope, Body and the
    page, element by element) and serialised with ``etree.tostring``;
(b) the real path, unsigned: the NotificationService port (``GatedSoap11``, exactly as
    ``gateway.bootstrap`` builds it) called through its WSGI interface, as ``soap.wsgi`` calls
    it after the gate, with the service's page query stubbed to return the page;
(c) the same, signed with an RSA-2048 server key, as production answers (exclusive c14n of the
    Body, SHA-256, one RSA signature);
(d) for reference, (b) through Spyne's own serialisation of ``ListNotificationsResult`` (the
    path the listing took before issue 7, kept as the fallback).

The ratios (b)/(a) and (c)/(a) are printed; the target applies to both. Database time is left
out (``bench/store_paging.py`` measures it), as is the gate (``bench/wssec_verify.py``).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from gateway import namespaces as ns
from gateway.domain.clock import SystemClock
from gateway.domain.listing import Role
from gateway.domain.model import (
    Category,
    Document,
    DocumentRole,
    Issuer,
    ItemKind,
    Notification,
    Status,
)
from gateway.domain.principal import Principal, PrincipalKind
from gateway.services.notifications import Page, VisibleNotification
from gateway.soap import listing_xml
from gateway.soap.application import GatewayWsgiApplication
from gateway.soap.context import ENVIRON_ENVELOPE, ENVIRON_VERIFIED, SoapDependencies
from gateway.soap.contract import port_application
from gateway.wssec import sign_response
from gateway.wssec.response import BodyCanonicalForm

TARGET = 2.0
TNS = f"{{{ns.NOTIFICATION_SERVICE}}}"
ENV = f"{{{ns.SOAP11_ENV}}}"


def make_page(items: int) -> Page:
    """A page as the agent sees it: mostly notifications with a CCC and one document, some
    communications, subjects of realistic length, a cursor to the next page."""
    start = datetime(2026, 1, 26, 8, 0, tzinfo=UTC)
    visible = []
    for index in range(items):
        notification_kind = index % 10 != 3
        at = start + timedelta(seconds=37 * index, microseconds=(index * 7919) % 1_000_000)
        notification = Notification(
            id=4_000_000 + index,
            kind=ItemKind.NOTIFICATION if notification_kind else ItemKind.COMMUNICATION,
            issuer=(Issuer.TGSS, Issuer.INSS, Issuer.ISM)[index % 3],
            issuer_reference=f"TGSS-2026-{index:09d}",
            procedure="Reclamación de deudas por cuotas de la Seguridad Social",
            subject=f"Providencia de apremio {index}: deuda del periodo 11/2025 – régimen general",
            recipient="B12345674",
            ccc="28123456742" if index % 4 else None,
            category=Category.NORMAL,
            made_available_at=at,
            deadline_at=at + timedelta(days=11) if notification_kind else None,
            status=Status.AVAILABLE,
            status_at=at,
            documents=(Document(f"providencia-{index}.pdf", "application/pdf",
                                f"{index:064x}", 20_480 + index, DocumentRole.MAIN, 0),),
        )
        visible.append(VisibleNotification(notification, Role.RED))
    return Page(tuple(visible), "v1.Zm9vYmFy.c2lnbmF0dXJl")


def lxml_build(page: Page) -> bytes:
    """The baseline: the same response, element by element with lxml, then serialised."""
    sub = etree.SubElement
    envelope = etree.Element(f"{ENV}Envelope", nsmap={"soap11env": ns.SOAP11_ENV,
                                                      "tns": ns.NOTIFICATION_SERVICE})
    response = sub(sub(envelope, f"{ENV}Body"), f"{TNS}ListNotificationsResponse")
    result = sub(response, f"{TNS}ListNotificationsResult")
    sub(result, f"{TNS}count").text = str(len(page.items))
    for visible in page.items:
        n = visible.notification
        item = sub(result, f"{TNS}item")
        sub(item, f"{TNS}id").text = str(n.id)
        sub(item, f"{TNS}kind").text = n.kind.value
        sub(item, f"{TNS}issuer").text = n.issuer.value
        sub(item, f"{TNS}issuerReference").text = n.issuer_reference
        sub(item, f"{TNS}procedure").text = n.procedure
        sub(item, f"{TNS}subject").text = n.subject
        sub(item, f"{TNS}recipient").text = n.recipient
        if n.ccc is not None:
            sub(item, f"{TNS}ccc").text = n.ccc
        sub(item, f"{TNS}role").text = visible.role.value
        sub(item, f"{TNS}category").text = n.category.value
        sub(item, f"{TNS}madeAvailableAt").text = n.made_available_at.isoformat()
        if n.deadline_at is not None:
            sub(item, f"{TNS}deadlineAt").text = n.deadline_at.isoformat()
        sub(item, f"{TNS}deadlineExtensionDays").text = str(n.deadline_extension_days)
        sub(item, f"{TNS}status").text = n.status.value
        sub(item, f"{TNS}statusAt").text = n.status_at.isoformat()
        for d in n.documents:
            document = sub(item, f"{TNS}document")
            sub(document, f"{TNS}position").text = str(d.position)
            sub(document, f"{TNS}role").text = d.role.value
            sub(document, f"{TNS}name").text = d.name
            sub(document, f"{TNS}contentType").text = d.content_type
            sub(document, f"{TNS}sha256").text = d.sha256
            sub(document, f"{TNS}size").text = str(d.size)
    if page.next_cursor is not None:
        sub(result, f"{TNS}nextCursor").text = page.next_cursor
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def server_signer() -> Callable[..., None]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench server")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    clock = SystemClock()

    def sign(envelope: etree._Element, *, body_canonical: BodyCanonicalForm | None = None) -> None:
        sign_response(envelope, key, cert, clock, body_canonical=body_canonical)

    return sign


class _Queries:
    def __init__(self, page: Page) -> None:
        self.page = page

    def list(self, *_: Any) -> Page:
        return self.page


def port(page: Page, signer: Callable[..., None] | None) -> Callable[[], bytes]:
    deps = SoapDependencies(queries=_Queries(page), representation=None,  # type: ignore[arg-type]
                            clock=SystemClock(), official_zone=ZoneInfo("Europe/Madrid"))
    app = GatewayWsgiApplication(port_application("notification-service", notification=deps,
                                                  response_signer=signer))
    request = etree.fromstring(
        f'<s:Envelope xmlns:s="{ns.SOAP11_ENV}"><s:Body><n:ListNotifications '
        f'xmlns:n="{ns.NOTIFICATION_SERVICE}"><n:pageSize>1000</n:pageSize>'
        "</n:ListNotifications></s:Body></s:Envelope>".encode())
    caller = SimpleNamespace(principal=Principal(PrincipalKind.ENTITY, "B76543214", "agent", "0"))

    def call() -> bytes:
        environ = {
            "REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/xml; charset=utf-8",
            "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b""), "QUERY_STRING": "",
            "PATH_INFO": "/NotificationService", "SCRIPT_NAME": "", "SERVER_NAME": "localhost",
            "SERVER_PORT": "80", "wsgi.url_scheme": "http",
            ENVIRON_ENVELOPE: request, ENVIRON_VERIFIED: caller,
        }
        statuses: list[str] = []
        body = b"".join(app(environ, lambda status, *_: statuses.append(status)))
        if statuses != ["200 OK"] or b"<tns:count>" not in body:
            raise SystemExit(f"ListNotifications failed: {statuses} {body[:300]!r}")
        return body

    return call


def spyne_only(call: Callable[[], bytes]) -> Callable[[], bytes]:
    def run() -> bytes:
        listing_xml.WRITES_CONTRACT = False
        try:
            return call()
        finally:
            listing_xml.WRITES_CONTRACT = True

    return run


def per_call(functions: dict[str, Callable[[], object]], calls: int,
             repeats: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for function in functions.values():  # warm-up
        function()
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.process_time()
            for _ in range(calls):
                function()
            samples[name].append((time.process_time() - started) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    if not listing_xml.WRITES_CONTRACT:
        raise SystemExit("listing_xml does not match the contract's types: fix it first")

    page = make_page(args.items)
    unsigned, signed = port(page, None), port(page, server_signer())
    size = len(unsigned())
    print(f"{args.items}-item page, {size:,} bytes unsigned; CPU per response, median of "
          f"{args.repeats} x {args.calls} responses")
    costs = per_call({
        "lxml": lambda: lxml_build(page),
        "unsigned": unsigned,
        "signed": signed,
        "spyne": spyne_only(unsigned),
    }, args.calls, args.repeats)
    baseline = costs["lxml"]
    print(f"  (a) raw lxml build + tostring          {baseline * 1000:8.2f} ms")
    rows = [("(b) real path, unsigned", "unsigned"), ("(c) real path, signed", "signed"),
            ("(d) Spyne's own serialisation", "spyne")]
    for label, name in rows:
        print(f"  {label:<38}{costs[name] * 1000:8.2f} ms   {costs[name] / baseline:5.2f} x (a)")
    worst = max(costs["unsigned"], costs["signed"]) / baseline
    verdict = "meets" if worst <= TARGET else "MISSES"
    print(f"target (b)/(a) and (c)/(a) <= {TARGET}: {verdict} (worst {worst:.2f})")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
