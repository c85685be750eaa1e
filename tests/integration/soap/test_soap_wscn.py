"""Issue 16: the WSCN port against a real ``gateway serve`` on PostgreSQL.

zeep, generated from the served WSDL, runs the loop WSCN integrators run (page every role until
``hayMas`` is false, request an acceptance, sign it, send it, keep ``pdfNotificacion`` and
``selladoTiempo``, reject another, ``verNotificacionAceptada``); plain envelopes shaped like
docs/WSCN.md's examples (unqualified children, ``SOAPAction: urn:<operation>``) check the
wire without any client library; the hostile inputs of the issue each come back as the
documented WSCN ``error`` with no state change and an audit event; and the same actions through
the native port give the same state, receipts and refusals. The mandate bucket is paged with
real mandates from the registry (and stops on revocation); the test-environment namespace
(``/pruebas/WSCN``) runs the whole loop too.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from lxml import etree
from sqlalchemy import func, select

from gateway import namespaces as ns
from gateway.config import Settings
from gateway.domain.clock import OFFICIAL_TIMEZONE, SystemClock
from gateway.receipt_xml import parse_server_receipt
from gateway.services.mandates import MandateRegistry, new_mandate
from gateway.signatures import sign_xades_enveloped
from gateway.store.engine import session_factory
from gateway.store.models import ReceiptPdfRow, ReceiptRow
from gateway.store.unit_of_work import SqlUnitOfWork

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[3]
DATE = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$")
WSCN = ns.WSCN


@pytest.fixture(scope="module")
def gw(start_gateway: Any, default_seed: Any) -> Iterator[RunningGateway]:
    with start_gateway(default_seed) as running:
        yield running


def wscn(gateway: RunningGateway, name: str = "company", path: str = "/WSCN") -> zeep.Client:
    return zeep.Client(f"{gateway.base_url}{path}?wsdl", wsse=gateway.signer(name))


def xades(gateway: RunningGateway, document: bytes, name: str = "company") -> bytes:
    credential = gateway.pki.client(name)
    return sign_xades_enveloped(document, credential.private_key(), credential.certificate(),
                                clock=SystemClock())


def company_notifications(gateway: RunningGateway) -> list[int]:
    return [i.id for i in gateway.seed.of(gateway.pki.company_cif)
            if i.kind == "NOTIFICATION" and i.ccc != gateway.seed.ccc_red
            and i.category == "NORMAL"]


def page_all(client: zeep.Client, rol: int, poderdante: str | None = None
             ) -> tuple[dict[str, list[int]], int]:
    """The loop WSCN clients run: call until hayMas is false, feeding back the cursors."""
    cursors = [-1, -1, -1]
    seen: dict[str, list[int]] = {"propias": [], "red": [], "apoderado": []}
    calls = 0
    while True:
        calls += 1
        listing = client.service.consultarListadoNotificaciones(rol, poderdante, *cursors)
        assert listing.error is None, listing.error
        for key, items in (("propias", listing.notificacionesPropias),
                           ("red", listing.notificacionesAutorizadoRED),
                           ("apoderado", listing.notificacionesApoderado)):
            seen[key] += [n.codigo for n in items or []]
        cursors = [listing.codigoSiguienteNotificacionPropia,
                   listing.codigoSiguienteNotificacionAutorizadoRED,
                   listing.codigoSiguienteNotificacionApoderado]
        if not listing.hayMas:
            return seen, calls


def stored_pdfs(gateway: RunningGateway, registration_number: str) -> int:
    """How many PDF justificantes are stored for the receipt with this number (0 or 1)."""
    with gateway.engine.connect() as connection:
        return int(connection.execute(
            select(func.count()).select_from(ReceiptPdfRow).join(
                ReceiptRow, ReceiptRow.id == ReceiptPdfRow.receipt_id)
            .where(ReceiptRow.registration_number == registration_number)).scalar_one())


def audit_types(gateway: RunningGateway, before: Any) -> list[str]:
    return [event for event, _ in gateway.audit_since(before)]


def stranger_items(gateway: RunningGateway) -> list[Any]:
    """The notifications of the person nobody here may see."""
    known = {gateway.pki.company_cif, gateway.pki.person_nif, gateway.pki.red_agent_cif}
    return [i for i in gateway.seed.items if i.recipient not in known]


def status(gateway: RunningGateway, notification_id: int) -> str:
    return str(gateway.client("company").service.GetNotification(id=notification_id).status)


# --- the contract -----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "committed", "tns"), [
    ("/WSCN", "wscn.wsdl", ns.WSCN), ("/pruebas/WSCN", "wscn-pruebas.wsdl", ns.WSCN_PRUEBAS)])
def test_the_served_wsdl_is_the_committed_one_with_wscn_names(
        gw: RunningGateway, path: str, committed: str, tns: str) -> None:
    import requests

    served = requests.get(f"{gw.base_url}{path}?wsdl", timeout=30).content
    expected = (ROOT / "wsdl" / committed).read_bytes().replace(
        f"https://gateway.example/{path.strip('/')}".encode(), f"{gw.base_url}{path}".encode())
    assert served == expected
    document = etree.fromstring(served)
    w = f"{{{ns.WSDL}}}"
    assert document.get("targetNamespace") == tns
    assert document.find(f"{w}service").get("name") == "WSCNService"
    assert document.find(f"{w}service/{w}port").get("name") == "WSCNPort"
    assert document.find(f"{w}binding").get("name") == "WSCNPortBinding"
    assert document.find(f"{w}portType").get("name") == "WSCN"
    schema = document.find(f"{w}types/{{{ns.XSD}}}schema")
    assert schema.get("elementFormDefault") == "unqualified"
    actions = {o.getparent().get("name"): o.get("soapAction")
               for o in document.iter(f"{{{ns.WSDL_SOAP11}}}operation")}
    assert actions == {op: f"urn:{op}" for op in (
        "consultarListadoNotificaciones", "solicitarAcuseNotificacion",
        "enviarAcuseNotificacion", "verNotificacionAceptada", "solicitarPoderdantes")}


# --- the loop, with zeep --------------------------------------------------------------------------


def test_zeep_runs_the_wscn_loop(gw: RunningGateway) -> None:
    client, native = wscn(gw), gw.client("company")

    everything, calls = page_all(client, 0)
    own = sorted(i.id for i in gw.seed.of(gw.pki.company_cif))
    assert sorted(everything["propias"]) == own and calls > 1  # 250 items, 50 a page
    assert everything["red"] == everything["apoderado"] == []
    assert everything["propias"] == sorted(everything["propias"]) or True  # oldest first
    first = client.service.consultarListadoNotificaciones(1, None, -1, -1, -1)
    item = first.notificacionesPropias[0]
    assert (item.estado, item.descripcionEstado) == (1, "Sin acuse")
    assert DATE.match(item.fechaPuestaDisposicion) and item.tipoDestinatario == "1"

    accept_id, reject_id = company_notifications(gw)[-1], company_notifications(gw)[-2]
    acuse = client.service.solicitarAcuseNotificacion(1, None, accept_id, True)
    assert acuse.error is None and acuse.codigoNotificacion == accept_id
    answer = client.service.enviarAcuseNotificacion(1, None, xades(gw, acuse.XML))
    assert answer.error is None, answer.error
    assert answer.codigoNotificacion == accept_id
    assert answer.pdfNotificacion == gw.seed.by_id(accept_id).content
    assert DATE.match(answer.selladoTiempo) and DATE.match(answer.selladoTiempoAcuse)
    # The receipt of that act is the native port's: its number and CSV are there.
    receipt = native.service.GetReceipt(notificationId=accept_id)
    assert receipt.decision == "ACCEPT" and receipt.csvCode
    assert status(gw, accept_id) == "ACCEPTED"
    # Its PDF justificante is not made by the WSCN loop (the costliest part of an act, and no
    # WSCN client asks for it): rendered, signed and stored on the first request for it, then
    # the same bytes every time.
    assert stored_pdfs(gw, receipt.registrationNumber) == 0
    pdf = native.service.GetReceipt(notificationId=accept_id, format="PDF").pdf
    assert pdf.startswith(b"%PDF") and stored_pdfs(gw, receipt.registrationNumber) == 1
    assert native.service.GetReceipt(notificationId=accept_id, format="PDF").pdf == pdf

    rejection = client.service.solicitarAcuseNotificacion(1, None, reject_id, False)
    rejected = client.service.enviarAcuseNotificacion(1, None, xades(gw, rejection.XML))
    assert rejected.error is None and rejected.pdfNotificacion is None
    assert status(gw, reject_id) == "REJECTED"

    again = client.service.verNotificacionAceptada(1, None, accept_id)
    assert again.error is None and again.pdfNotificacion == answer.pdfNotificacion
    assert again.selladoTiempo == answer.selladoTiempo
    assert again.selladoTiempoAcuse == answer.selladoTiempoAcuse
    not_accepted = client.service.verNotificacionAceptada(1, None, reject_id)
    assert not_accepted.error.codigo == 6 and "NOT_ACCEPTED" in not_accepted.error.descripcion

    listing = client.service.consultarListadoNotificaciones(1, None, accept_id - 1, -1, -1)
    assert listing.notificacionesPropias[0].codigo == accept_id
    assert listing.notificacionesPropias[0].estado == 2


def test_the_test_environment_namespace_serves_the_same_operations(gw: RunningGateway) -> None:
    client = wscn(gw, path="/pruebas/WSCN")
    listing = client.service.consultarListadoNotificaciones(1, None, -1, -1, -1)
    assert listing.hayMas and len(listing.notificacionesPropias) == 50
    assert client.service.solicitarPoderdantes().tienePoderdantes is False


def test_the_test_environment_namespace_runs_the_whole_loop(gw: RunningGateway) -> None:
    """A client generated from the test environment's WSDL (``ws.pruebas.wscn``) runs the same
    loop as on the production namespace: the answers are in its namespace (zeep would refuse
    others), and the acts are the same acts (native receipt, state, audit)."""
    client, native = wscn(gw, path="/pruebas/WSCN"), gw.client("company")
    everything, calls = page_all(client, 1)
    assert sorted(everything["propias"]) == sorted(i.id for i in gw.seed.of(gw.pki.company_cif))
    assert calls > 1
    accept_id, reject_id = company_notifications(gw)[-5], company_notifications(gw)[-6]
    assert status(gw, accept_id) == status(gw, reject_id) == "AVAILABLE"

    before = gw.snapshot()
    acuse = client.service.solicitarAcuseNotificacion(1, None, accept_id, True)
    assert acuse.error is None and acuse.codigoNotificacion == accept_id
    answer = client.service.enviarAcuseNotificacion(1, None, xades(gw, acuse.XML))
    assert answer.error is None, answer.error
    assert answer.pdfNotificacion == gw.seed.by_id(accept_id).content
    assert DATE.match(answer.selladoTiempo) and DATE.match(answer.selladoTiempoAcuse)
    assert audit_types(gw, before) == ["receipt.prepared", "receipt.issued", "content.released"]
    assert status(gw, accept_id) == "ACCEPTED"
    assert native.service.GetReceipt(notificationId=accept_id).decision == "ACCEPT"

    rejection = client.service.solicitarAcuseNotificacion(1, None, reject_id, False)
    rejected = client.service.enviarAcuseNotificacion(1, None, xades(gw, rejection.XML))
    assert rejected.error is None and rejected.pdfNotificacion is None
    assert status(gw, reject_id) == "REJECTED"

    again = client.service.verNotificacionAceptada(1, None, accept_id)
    assert again.error is None and again.pdfNotificacion == answer.pdfNotificacion
    assert (again.selladoTiempo, again.selladoTiempoAcuse) == (
        answer.selladoTiempo, answer.selladoTiempoAcuse)
    assert client.service.verNotificacionAceptada(1, None, reject_id).error.codigo == 6

    # On the wire: the answer's wrapper is in the test namespace, its children unqualified.
    listed = post_plain(gw, "consultarListadoNotificaciones",
                        "<rol>1</rol><codigoSiguienteNotificacionPropia>"
                        f"{accept_id - 1}</codigoSiguienteNotificacionPropia>"
                        "<codigoSiguienteNotificacionAutorizadoRED>-1"
                        "</codigoSiguienteNotificacionAutorizadoRED>"
                        "<codigoSiguienteNotificacionApoderado>-1"
                        "</codigoSiguienteNotificacionApoderado>",
                        path="/pruebas/WSCN", namespace=ns.WSCN_PRUEBAS)
    first = listed.find("listadoNotificaciones/notificacionesPropias")
    assert (first.findtext("codigo"), first.findtext("estado")) == (str(accept_id), "2")


def test_red_bucket_and_principals(gw: RunningGateway) -> None:
    company, agent = gw.client("company"), wscn(gw, "red_agent")
    company.service.AssignReception(ccc=gw.seed.ccc_red, agent=gw.pki.red_agent_cif)
    try:
        principals = agent.service.solicitarPoderdantes()
        assert principals.tienePoderdantes
        assert [p.identificador for p in principals.poderdantes] == [gw.pki.company_cif]
        seen, _ = page_all(agent, 2)
        expected = sorted(i.id for i in gw.seed.of(gw.pki.company_cif)
                          if i.ccc == gw.seed.ccc_red and i.category == "NORMAL")
        assert sorted(seen["red"]) == expected and seen["propias"] == []
        by_principal, _ = page_all(agent, 0, gw.pki.company_cif)
        assert sorted(by_principal["red"]) == expected and by_principal["propias"] == []

        # A special-category notification asked for by the RED agent: not found, audited.
        special = next(i for i in gw.seed.of(gw.pki.company_cif)
                       if i.ccc == gw.seed.ccc_red and i.category == "SPECIAL")
        before = gw.snapshot()
        refused = agent.service.solicitarAcuseNotificacion(2, None, special.id, True)
        assert refused.error.codigo == 1
        assert audit_types(gw, before) == ["access.refused"]
    finally:
        company.service.UnassignReception(ccc=gw.seed.ccc_red)


def mandates(gateway: RunningGateway) -> MandateRegistry:
    """The registry ``gateway mandates`` uses, on the running server's own database."""
    start = Settings().mandate_registry_start
    assert start is not None
    registry_start = datetime.combine(start, time(0), tzinfo=OFFICIAL_TIMEZONE)
    sessions = session_factory(gateway.engine)
    return MandateRegistry(lambda: SqlUnitOfWork(sessions, registry_start), SystemClock(),
                           registry_start)


def test_mandate_bucket_pages_filters_acts_and_ends_with_revocation(gw: RunningGateway) -> None:
    """Real mandates (the registry's) through the WSCN port: the holder pages its poderdantes'
    notifications in the mandate bucket (rol 3) with the cursor, ``identificadorPoderdante``
    narrows them to one, it signs for one through the mandate, and a revoked mandate stops."""
    person, native = wscn(gw, "person"), gw.client("person")
    company = gw.pki.company_cif
    other = stranger_items(gw)[0].recipient
    since = datetime.now(UTC) - timedelta(minutes=1)
    registry = mandates(gw)
    from_company = registry.add(new_mandate(
        company, gw.pki.person_nif, ["notifications.read", "notifications.sign",
                                      "notifications.content"], since))
    from_other = registry.add(new_mandate(other, gw.pki.person_nif, ["notifications.read"],
                                          since))
    revoked: set[int | None] = set()
    try:
        principals = person.service.solicitarPoderdantes()
        assert principals.tienePoderdantes
        assert sorted(p.identificador for p in principals.poderdantes) == sorted([company, other])

        # The mandate bucket, page by page: no special-category item (the mandates carry no
        # special-category flag), every item once, oldest first, several pages of 50.
        company_normal = {i.id for i in gw.seed.of(company) if i.category == "NORMAL"}
        others = {i.id for i in gw.seed.of(other)}
        cursors = [-1, -1, -1]
        pages: list[list[int]] = []
        while True:
            listing = person.service.consultarListadoNotificaciones(3, None, *cursors)
            assert listing.error is None, listing.error
            assert not listing.notificacionesPropias and not listing.notificacionesAutorizadoRED
            page = [n.codigo for n in listing.notificacionesApoderado or []]
            assert all(n.tipoDestinatario == "3" and n.descripcionTipoDestinatario ==
                       "Apoderado" for n in listing.notificacionesApoderado or [])
            assert len(page) <= 50
            if page:
                assert listing.codigoSiguienteNotificacionApoderado == page[-1]
            pages.append(page)
            cursors = [listing.codigoSiguienteNotificacionPropia,
                       listing.codigoSiguienteNotificacionAutorizadoRED,
                       listing.codigoSiguienteNotificacionApoderado]
            assert cursors[:2] == [-1, -1]
            if not listing.hayMas:
                break
        seen = [codigo for page in pages for codigo in page]
        assert len(seen) == len(set(seen)) and set(seen) == company_normal | others
        assert len(pages) >= 5 and all(len(page) == 50 for page in pages[:-2])
        # The same items, in the same order, as the native port's MANDATE role.
        assert seen == native_pages(native, "MANDATE")
        # rol 0: the holder's own in the own bucket, its poderdantes' in the mandate bucket.
        everything, _ = page_all(person, 0)
        assert sorted(everything["propias"]) == sorted(
            i.id for i in gw.seed.of(gw.pki.person_nif))
        assert sorted(everything["apoderado"]) == sorted(seen) and everything["red"] == []

        # identificadorPoderdante: one principal only, in every bucket asked for.
        only_other, calls = page_all(person, 0, other)
        assert sorted(only_other["apoderado"]) == sorted(others) and calls == 1
        assert only_other["propias"] == only_other["red"] == []
        only_company, calls = page_all(person, 3, company)
        assert sorted(only_company["apoderado"]) == sorted(company_normal) and calls > 1

        # Acting through the mandate: the acknowledgement is signed by the holder, for the
        # company's notification; the receipt is the holder's.
        target = company_notifications(gw)[-7]
        acuse = person.service.solicitarAcuseNotificacion(3, company, target, True)
        assert acuse.error is None, acuse.error
        sent = person.service.enviarAcuseNotificacion(3, company,
                                                      xades(gw, acuse.XML, "person"))
        assert sent.error is None, sent.error
        assert sent.pdfNotificacion == gw.seed.by_id(target).content
        assert status(gw, target) == "ACCEPTED"
        receipt = native.service.GetReceipt(notificationId=target)
        assert receipt.decision == "ACCEPT"
        assert parse_server_receipt(receipt.signedReceipt).signer == gw.pki.person_nif
        assert receipt.recipient == company
        # The other mandate reads only: no acknowledgement through it.
        own_of_other = min(others)
        refused = person.service.solicitarAcuseNotificacion(3, other, own_of_other, True)
        assert refused.error.codigo == 1

        # Revoked: the company's items leave the bucket at once, naming it is refused (and
        # audited), and it is no longer a poderdante; the other mandate still works.
        registry.revoke(from_company.id or 0)
        revoked.add(from_company.id)
        after, _ = page_all(person, 3)
        assert sorted(after["apoderado"]) == sorted(others)
        before = gw.snapshot()
        listing = person.service.consultarListadoNotificaciones(3, company, -1, -1, -1)
        assert listing.error.codigo == 2 and not listing.notificacionesApoderado
        assert not listing.hayMas
        assert audit_types(gw, before) == ["access.refused"]
        acuse = person.service.solicitarAcuseNotificacion(
            3, company, company_notifications(gw)[-8], True)
        assert acuse.error.codigo == 2 and acuse.XML is None
        assert [p.identificador for p in person.service.solicitarPoderdantes().poderdantes] \
            == [other]
    finally:
        for mandate in (from_company, from_other):
            if mandate.id not in revoked:
                registry.revoke(mandate.id or 0)
    assert person.service.solicitarPoderdantes().tienePoderdantes is False


# --- hostile inputs ---------------------------------------------------------------------------


def test_another_callers_principal_is_refused_and_audited(gw: RunningGateway) -> None:
    person = wscn(gw, "person")
    before = gw.snapshot()
    listing = person.service.consultarListadoNotificaciones(0, gw.pki.company_cif, -1, -1, -1)
    assert listing.error.codigo == 2 and not listing.hayMas
    assert not listing.notificacionesPropias
    assert "NOT_AUTHORISED" in listing.error.descripcion
    assert listing.error.identificadorPeticion
    assert audit_types(gw, before) == ["access.refused"]


def test_someone_elses_notification_is_not_found_and_audited(gw: RunningGateway) -> None:
    stranger = stranger_items(gw)[0]
    client = wscn(gw)
    before = gw.snapshot()
    for answer in (client.service.solicitarAcuseNotificacion(1, None, stranger.id, True),
                   client.service.verNotificacionAceptada(1, None, stranger.id)):
        assert answer.error.codigo == 1 and answer.pdfNotificacion is None \
            if hasattr(answer, "pdfNotificacion") else answer.error.codigo == 1
    assert audit_types(gw, before) == ["access.refused", "access.refused"]
    # A cursor naming it is refused too (it would tell where it sits in time).
    listing = client.service.consultarListadoNotificaciones(1, None, stranger.id, -1, -1)
    assert listing.error.codigo == 9


def test_tampered_other_and_replayed_acuses(gw: RunningGateway) -> None:
    client = wscn(gw)
    ids = company_notifications(gw)
    target, other = ids[-3], ids[-4]
    acuse = client.service.solicitarAcuseNotificacion(1, None, target, True)
    signed = xades(gw, acuse.XML)

    before = gw.snapshot()
    tampered = signed.replace(f'notificationId="{target}"'.encode(),
                              f'notificationId="{other}"'.encode(), 1)
    assert tampered != signed
    answer = client.service.enviarAcuseNotificacion(1, None, tampered)
    assert answer.error.codigo == 7 and "(HASH_FAILURE)" in answer.error.descripcion
    # An acuse prepared for one notification, edited to name another, and signed:
    edited = acuse.XML.replace(f'notificationId="{target}"'.encode(),
                               f'notificationId="{other}"'.encode())
    assert edited != acuse.XML
    answer = client.service.enviarAcuseNotificacion(1, None, xades(gw, edited))
    assert answer.error.codigo == 8 and "(ITEMS_MISMATCH)" in answer.error.descripcion
    # Signed by someone else (the person, not the company):
    answer = client.service.enviarAcuseNotificacion(1, None, xades(gw, acuse.XML, "person"))
    assert answer.error.codigo == 7 and "(SIGNER_NOT_CALLER)" in answer.error.descripcion
    assert status(gw, target) == status(gw, other) == "AVAILABLE"
    assert audit_types(gw, before) == ["receipt.refused"] * 3

    first = client.service.enviarAcuseNotificacion(1, None, signed)
    assert first.error is None and first.pdfNotificacion
    before = gw.snapshot()
    replayed = client.service.enviarAcuseNotificacion(1, None, signed)
    assert replayed.error is None
    assert replayed.selladoTiempoAcuse == first.selladoTiempoAcuse
    # No second receipt and no state change: the PDF is released (and audited) again.
    assert audit_types(gw, before) == ["content.released"]
    # Signed again (new signature bytes) after use: the acuse is spent.
    again = client.service.enviarAcuseNotificacion(1, None, xades(gw, acuse.XML))
    assert again.error.codigo == 8 and "(NONCE_REUSED)" in again.error.descripcion


def test_unsigned_requests_are_refused_by_the_same_gate(gw: RunningGateway) -> None:
    body = envelope("solicitarPoderdantes", "")
    response = gw.post(body, path="/WSCN", soap_action="urn:solicitarPoderdantes")
    assert response.status_code == 401
    document = etree.fromstring(response.content)
    assert document.find(f".//{{{ns.FAULT_DETAIL}}}code").text == "SECURITY_HEADER_MISSING"
    # The refusal is signed too, without mustUnderstand (Axis 1.4 would reject the answer).
    security = document.find(f"{{{ns.SOAP11_ENV}}}Header/{{{ns.WSSE}}}Security")
    assert security is not None and security.get(f"{{{ns.SOAP11_ENV}}}mustUnderstand") is None
    native = gw.post(body.replace(WSCN.encode(), ns.NOTIFICATION_SERVICE.encode()))
    native_security = etree.fromstring(native.content).find(
        f"{{{ns.SOAP11_ENV}}}Header/{{{ns.WSSE}}}Security")
    assert native_security.get(f"{{{ns.SOAP11_ENV}}}mustUnderstand") == "1"


# --- plain envelopes, as WSCN.md shows them -------------------------------------------------------


def envelope(operation: str, children: str, namespace: str = WSCN) -> bytes:
    return (f'<soapenv:Envelope xmlns:soapenv="{ns.SOAP11_ENV}" xmlns:ws="{namespace}">'
            f"<soapenv:Header/><soapenv:Body><ws:{operation}>{children}</ws:{operation}>"
            "</soapenv:Body></soapenv:Envelope>").encode()


def post_plain(gw: RunningGateway, operation: str, children: str, *, path: str = "/WSCN",
               namespace: str = WSCN) -> etree._Element:
    signed = gw.sign_custom(etree.fromstring(envelope(operation, children, namespace)))
    response = gw.post(etree.tostring(signed), path=path, soap_action=f"urn:{operation}")
    assert response.status_code == 200, response.text[:2000]
    document = etree.fromstring(response.content)
    security = document.find(f"{{{ns.SOAP11_ENV}}}Header/{{{ns.WSSE}}}Security")
    assert security is not None and security.get(f"{{{ns.SOAP11_ENV}}}mustUnderstand") is None
    answer = document.find(f"{{{ns.SOAP11_ENV}}}Body/{{{namespace}}}{operation}Response")
    assert answer is not None
    return answer


def test_plain_wscn_envelopes_get_unqualified_answers(gw: RunningGateway) -> None:
    listing = post_plain(gw, "consultarListadoNotificaciones",
                         "<rol>1</rol><codigoSiguienteNotificacionPropia>-1"
                         "</codigoSiguienteNotificacionPropia>"
                         "<codigoSiguienteNotificacionAutorizadoRED>-1"
                         "</codigoSiguienteNotificacionAutorizadoRED>"
                         "<codigoSiguienteNotificacionApoderado>-1"
                         "</codigoSiguienteNotificacionApoderado>")
    wrapped = listing.find("listadoNotificaciones")
    assert wrapped is not None  # unqualified, as JAX-WS writes it
    assert wrapped.findtext("hayMas") == "true"
    first = wrapped.find("notificacionesPropias")
    codigo = int(first.findtext("codigo"))
    assert [c.tag for c in wrapped][:4] == [
        "hayMas", "codigoSiguienteNotificacionPropia",
        "codigoSiguienteNotificacionAutorizadoRED", "codigoSiguienteNotificacionApoderado"]

    principals = post_plain(gw, "solicitarPoderdantes", "")
    assert principals.findtext("listadoPoderdantes/tienePoderdantes") == "false"

    acuse = post_plain(gw, "solicitarAcuseNotificacion",
                       f"<rol>1</rol><codigoNotificacion>{codigo}</codigoNotificacion>"
                       "<esDeAceptacion>false</esDeAceptacion>")
    xml = base64.b64decode(acuse.findtext("acuseNotificacion/XML"))
    assert acuse.findtext("acuseNotificacion/codigoNotificacion") == str(codigo)
    assert b"REJECT" in xml


# --- one service, two adapters ------------------------------------------------------------------


def audited(gw: RunningGateway, action: Any) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    """``action()`` and the audit events it appended (type and details minus per-act ids)."""
    before = gw.snapshot()
    result = action()
    volatile = {"receipt_id", "client_ack_digest", "csv_sha256", "sha256"}
    events = []
    for event, details in gw.audit_since(before):
        parsed = json.loads(details) if isinstance(details, str) else dict(details or {})
        events.append((event, {k: v for k, v in parsed.items() if k not in volatile}))
    return result, events


def native_pages(client: zeep.Client, role: str) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        page = client.service.ListNotifications(role=role, cursor=cursor, pageSize=1000)
        ids += [i.id for i in page.item or []]
        cursor = page.nextCursor
        if cursor is None:
            return ids


def without_ids(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, Any]]:
    return [(event, sorted(k for k in details)) for event, details in events]


def test_each_wscn_operation_is_the_native_action(gw: RunningGateway) -> None:
    native, client = gw.client("company"), wscn(gw)
    a, b, c, d = company_notifications(gw)[-12:-8]

    # consultarListadoNotificaciones == ListNotifications(role=OWN), in the same order.
    listed, _ = page_all(client, 1)
    assert listed["propias"] == native_pages(native, "OWN")

    # solicitarAcuseNotificacion == PrepareReceipt([id]): same events, same document shape.
    prepared, native_events = audited(gw, lambda: native.service.PrepareReceipt(
        id=[a], decision="ACCEPT"))
    acuse, wscn_events = audited(gw, lambda: client.service.solicitarAcuseNotificacion(
        1, None, b, True))
    assert without_ids(native_events) == without_ids(wscn_events) == [
        ("receipt.prepared", ["decision", "items"])]
    assert native_events[0][1] == wscn_events[0][1]
    def shape(document: bytes) -> list[tuple[str, list[str], str | None]]:
        fixed = ("Signer", "Decision")
        return [(e.tag, sorted(e.attrib), e.text if etree.QName(e).localname in fixed else None)
                for e in etree.fromstring(document).iter()]

    assert shape(prepared.receipt) == shape(acuse.XML)

    # enviarAcuseNotificacion == SubmitReceipt + GetContent: same state, receipts, events.
    def native_accept() -> Any:
        receipt = native.service.SubmitReceipt(signedReceipt=xades(gw, prepared.receipt))
        return receipt, native.service.GetContent(id=a)

    (receipt, content), native_events = audited(gw, native_accept)
    sent, wscn_events = audited(gw, lambda: client.service.enviarAcuseNotificacion(
        1, None, xades(gw, acuse.XML)))
    assert without_ids(native_events) == without_ids(wscn_events)
    assert [e for e, _ in wscn_events] == ["receipt.issued", "content.released"]
    assert status(gw, a) == status(gw, b) == "ACCEPTED"
    assert sent.pdfNotificacion == gw.seed.by_id(b).content
    assert content.data == gw.seed.by_id(a).content
    via_wscn = native.service.GetReceipt(notificationId=b)
    assert (via_wscn.decision, [(o.outcome) for o in via_wscn.item]) == (
        receipt.decision, [o.outcome for o in receipt.item])
    assert int(via_wscn.registrationNumber[5:]) == int(receipt.registrationNumber[5:]) + 1

    # verNotificacionAceptada == GetContent (and GetReceipt's release rule for its time).
    _, native_events = audited(gw, lambda: native.service.GetContent(id=a))
    _, wscn_events = audited(gw, lambda: client.service.verNotificacionAceptada(1, None, b))
    assert without_ids(native_events) == without_ids(wscn_events) == [
        ("content.released", ["document", "role"])]

    # Refusals: the same audit event, a fault there, an error here.
    stranger = stranger_items(gw)[1].id
    for native_call, wscn_call in (
            (lambda: native.service.PrepareReceipt(id=[stranger], decision="REJECT"),
             lambda: client.service.solicitarAcuseNotificacion(1, None, stranger, False)),
            (lambda: native.service.GetContent(id=stranger),
             lambda: client.service.verNotificacionAceptada(1, None, stranger))):
        def refused(call: Any = native_call) -> None:
            with pytest.raises(zeep.exceptions.Fault) as fault:
                call()
            assert fault.value.detail is not None

        _, native_events = audited(gw, refused)
        answer, wscn_events = audited(gw, wscn_call)
        assert answer.error.codigo == 1
        assert native_events == wscn_events and [e for e, _ in wscn_events] == [
            "access.refused"]
    # Already final, through both: NOT_PENDING there, WSCN 3 here, nothing audited or changed.
    with pytest.raises(zeep.exceptions.Fault):
        native.service.PrepareReceipt(id=[a], decision="REJECT")
    assert client.service.solicitarAcuseNotificacion(1, None, b, False).error.codigo == 3
    assert status(gw, c) == status(gw, d) == "AVAILABLE"

    # solicitarPoderdantes == ListPrincipals without the caller itself.
    principals = [p.identifier for p in native.service.ListPrincipals()
                  if p.identifier != gw.pki.company_cif]
    assert [p.identificador for p in client.service.solicitarPoderdantes().poderdantes
            or []] == principals


def test_the_demo_wscn_example_lists_every_own_notification(gw: RunningGateway) -> None:
    import subprocess
    import sys

    credential = gw.pki.client("company")
    result = subprocess.run(
        [sys.executable, str(ROOT / "client_examples" / "wscn_list.py"),
         "--url", f"{gw.base_url}/WSCN?wsdl", "--cert", str(credential.cert_path),
         "--key", str(credential.key_path), "--server-cert", str(gw.pki.server.cert_path),
         "--rol", "1"], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.strip().endswith(f"{len(gw.seed.of(gw.pki.company_cif))} "
                                          "notification(s)")
