"""``GetEvidence`` and ``CancelNotification`` (issue 17) against a real ``gateway serve``: an
item's life, signed by the server, checked by ``gateway validate`` and by Debian's ``xmlsec1``;
an item withdrawn by its issuer before anyone accessed it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from lxml import etree
from sqlalchemy import select

from gateway import namespaces as ns
from gateway.domain.clock import SystemClock
from gateway.signatures import sign_xades_enveloped
from gateway.store.models import AuditEventRow

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

PATH = "/IssuerService"
EV = f"{{{ns.EVIDENCE}}}"
GW = f"{{{ns.FAULT_DETAIL}}}"
XADES_SIGNED_PROPERTIES = "http://uri.etsi.org/01903/v1.3.2#:SignedProperties"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def gw(start_gateway: Any, default_seed: Any) -> Iterator[RunningGateway]:
    with start_gateway(default_seed) as running:
        running.operator("issuers", "add", "TGSS", running.pki.issuer_tgss_cif)
        running.operator("issuers", "add", "INSS", running.pki.issuer_inss_cif)
        yield running


def issuer(gw: RunningGateway, name: str = "issuer_tgss") -> zeep.Client:
    return zeep.Client(gw.base_url + PATH + "?wsdl", wsse=gw.signer(name))


def publish(gw: RunningGateway, reference: str) -> int:
    answer = issuer(gw).service.PublishNotifications(item=[{
        "issuerReference": reference, "kind": "NOTIFICATION", "procedure": "Apremio",
        "subject": f"Providencia {reference}", "recipient": gw.pki.company_cif,
        "mainDocument": {"name": "acto.pdf", "content": b"%PDF-1.4 acto " + reference.encode()},
    }])
    return int(answer.item[0].id)


def events(xml: bytes) -> list[tuple[str, str | None]]:
    root = etree.fromstring(xml)
    return [(e.get("type") or "", e.get("actedBy"))
            for e in root.iterfind(f"{EV}Events/{EV}Event")]


def gateway_validate(gw: RunningGateway, path: Path) -> dict[str, Any]:
    data_dir = gw.log_path.parent
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    completed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "validate", "--format", "jsonl", str(path)],
        env={**environment, "GATEWAY_DATA_DIR": str(data_dir),
             "GATEWAY_PKI_DIR": str(data_dir / "pki")},
        capture_output=True, text=True, check=False, cwd=ROOT)
    report: dict[str, Any] = json.loads(completed.stdout.splitlines()[0])
    report["exit"] = completed.returncode
    return report


def xmlsec1_verifies(gw: RunningGateway, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(gw.pki.root_ca.cert_path),
         "--untrusted-pem", str(gw.pki.issuing_ca.cert_path),
         "--id-attr:Id", XADES_SIGNED_PROPERTIES, str(path)],
        capture_output=True, text=True, check=False)


def test_the_evidence_follows_the_item_and_validates(gw: RunningGateway,
                                                     tmp_path: Path) -> None:
    notification_id = publish(gw, "EV-1")
    tgss = issuer(gw)
    first = tgss.service.GetEvidence(issuerReference="EV-1")
    assert (first.id, first.status) == (notification_id, "AVAILABLE")
    assert events(first.evidence) == [("MADE_AVAILABLE", None)]

    company = gw.client("company")
    company.service.GetNotification(id=notification_id)  # the first access
    prepared = company.service.PrepareReceipt(id=[notification_id], decision="ACCEPT")
    credential = gw.pki.client("company")
    signed = sign_xades_enveloped(prepared.receipt, credential.private_key(),
                                  credential.certificate(), clock=SystemClock())
    receipt = company.service.SubmitReceipt(signedReceipt=signed)

    answer = tgss.service.GetEvidence(issuerReference="EV-1")
    assert answer.status == "ACCEPTED"
    assert events(answer.evidence) == [("MADE_AVAILABLE", None),
                                       ("ACCESSED", gw.pki.company_cif),
                                       ("ACCEPTED", gw.pki.company_cif)]
    root = etree.fromstring(answer.evidence)
    on_receipt = root.find(f"{EV}Receipt")
    assert on_receipt is not None
    assert on_receipt.get("registrationNumber") == receipt.registrationNumber
    assert on_receipt.get("sha256") == hashlib.sha256(receipt.signedReceipt).hexdigest()
    document = root.find(f"{EV}Documents/{EV}Document")
    assert document is not None
    assert document.get("sha256") == hashlib.sha256(b"%PDF-1.4 acto EV-1").hexdigest()

    xml, pdf = tmp_path / "evidence.xml", tmp_path / "evidence.pdf"
    xml.write_bytes(answer.evidence)
    pdf.write_bytes(answer.evidencePdf)
    checked = xmlsec1_verifies(gw, xml)
    assert checked.returncode == 0 and "OK" in checked.stdout + checked.stderr, checked.stderr
    for path in (xml, pdf):
        report = gateway_validate(gw, path)
        assert (report["indication"], report["exit"]) == ("TOTAL_PASSED", 0), report

    # One changed fact and neither verifier accepts it.
    forged = tmp_path / "forged.xml"
    forged.write_bytes(answer.evidence.replace(b'type="ACCEPTED"', b'type="REJECTED"'))
    assert xmlsec1_verifies(gw, forged).returncode != 0
    assert gateway_validate(gw, forged)["indication"] == "TOTAL_FAILED"


def test_another_issuers_item_is_unknown(gw: RunningGateway) -> None:
    publish(gw, "EV-2")
    for client, reference in ((issuer(gw, "issuer_inss"), "EV-2"), (issuer(gw), "EV-NEVER")):
        snapshot = gw.snapshot()
        with pytest.raises(zeep.exceptions.Fault) as caught:
            client.service.GetEvidence(issuerReference=reference)
        assert caught.value.detail.findtext(f"{GW}error/{GW}code") == "UNKNOWN_REFERENCE"
        assert [e for e, _ in gw.audit_since(snapshot)] == []
    with pytest.raises(zeep.exceptions.Fault) as caught:
        zeep.Client(gw.base_url + PATH + "?wsdl", wsse=gw.signer("company")).service.GetEvidence(
            issuerReference="EV-2")
    assert caught.value.detail.findtext(f"{GW}error/{GW}code") == "NOT_AN_ISSUER"


def code(caught: pytest.ExceptionInfo[zeep.exceptions.Fault]) -> str | None:
    return caught.value.detail.findtext(f"{GW}error/{GW}code")


def listed(gw: RunningGateway) -> tuple[set[int], set[int]]:
    """The company's ids in the native listing (every page) and in the WSCN listing."""
    native: set[int] = set()
    client, cursor = gw.client("company"), None
    while True:
        page = client.service.ListNotifications(pageSize=1000, cursor=cursor)
        native |= {i.id for i in page.item or []}
        cursor = page.nextCursor
        if cursor is None:
            break
    wscn = zeep.Client(f"{gw.base_url}/WSCN?wsdl", wsse=gw.signer("company"))
    seen, cursors = set(), [-1, -1, -1]
    while True:
        answer = wscn.service.consultarListadoNotificaciones(1, None, *cursors)
        seen |= {n.codigo for n in answer.notificacionesPropias or []}
        cursors = [answer.codigoSiguienteNotificacionPropia,
                   answer.codigoSiguienteNotificacionAutorizadoRED,
                   answer.codigoSiguienteNotificacionApoderado]
        if not answer.hayMas:
            return native, seen


def unchanged_but_audit(gw: RunningGateway, before: Any) -> None:
    after = gw.snapshot()
    assert sorted(name for name, digest in after.digests.items()
                  if before.digests.get(name) != digest and name != "used_nonce") == []


def test_a_cancelled_item_leaves_the_listings_and_shows_cancelled(gw: RunningGateway) -> None:
    notification_id = publish(gw, "CX-1")
    assert all(notification_id in ids for ids in listed(gw))
    tgss = issuer(gw)
    before = gw.snapshot()
    done = tgss.service.CancelNotification(issuerReference="CX-1", reason="Emitida por error")
    assert (done.id, done.status, done.alreadyCancelled) == (notification_id, "CANCELLED", False)
    assert [e for e, _ in gw.audit_since(before)] == ["notification.cancelled"]

    assert not any(notification_id in ids for ids in listed(gw))
    company = gw.client("company")
    pending = company.service.ListNotifications(pageSize=1000, status="AVAILABLE").item or []
    assert notification_id not in {i.id for i in pending}
    seen = company.service.GetNotification(id=notification_id)
    assert seen.status == "CANCELLED"
    # Its history: only a listing that asks for CANCELLED shows it.
    history = company.service.ListNotifications(pageSize=1000, status="CANCELLED").item or []
    assert [i.id for i in history] == [notification_id]
    assert history[0].status == "CANCELLED"
    with pytest.raises(zeep.exceptions.Fault) as caught:
        company.service.PrepareReceipt(id=[notification_id], decision="ACCEPT")
    assert code(caught) == "NOT_PENDING"
    with pytest.raises(zeep.exceptions.Fault) as caught:
        company.service.GetContent(id=notification_id)
    assert code(caught) == "CANCELLED"

    # Idempotent: the first cancellation is answered again and nothing changes.
    settled = gw.snapshot()
    again = tgss.service.CancelNotification(issuerReference="CX-1", reason="Otro motivo")
    assert (again.alreadyCancelled, again.cancelledAt, again.reason) == (
        True, done.cancelledAt, "Emitida por error")
    unchanged_but_audit(gw, settled)
    assert [e for e, _ in gw.audit_since(settled)] == ["publication.cancel_replayed"]

    status = tgss.service.GetPublicationStatus(issuerReference=["CX-1"]).item[0]
    assert [(c.status, c.actedBy) for c in status.change] == [
        ("AVAILABLE", None), ("CANCELLED", gw.pki.issuer_tgss_cif)]
    evidence = tgss.service.GetEvidence(issuerReference="CX-1").evidence
    cancelled = etree.fromstring(evidence).find(f"{EV}Events/{EV}Event[@type='CANCELLED']")
    assert cancelled is not None and cancelled.get("reason") == "Emitida por error"

    # It stays in the audit chain, which still verifies.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    verified = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "audit", "verify"],
        env={**environment, "GATEWAY_DATABASE_URL": gw.database_url,
             "GATEWAY_DATA_DIR": str(gw.log_path.parent)},
        capture_output=True, text=True, check=False, cwd=ROOT)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    with gw.engine.connect() as connection:
        trail = connection.execute(select(AuditEventRow.event_type).where(
            AuditEventRow.subject == str(notification_id)).order_by(AuditEventRow.seq)).scalars()
        assert [e for e in trail if e.startswith("notification.")] == [
            "notification.published", "notification.cancelled"]


def test_an_accessed_item_cannot_be_cancelled(gw: RunningGateway) -> None:
    notification_id = publish(gw, "CX-2")
    gw.client("company").service.GetNotification(id=notification_id)
    before = gw.snapshot()
    with pytest.raises(zeep.exceptions.Fault) as caught:
        issuer(gw).service.CancelNotification(issuerReference="CX-2", reason="Tarde")
    assert code(caught) == "ALREADY_ACCESSED"
    unchanged_but_audit(gw, before)
    assert gw.audit_since(before) == []
    assert all(notification_id in ids for ids in listed(gw))


def test_another_issuers_item_cannot_be_cancelled(gw: RunningGateway) -> None:
    notification_id = publish(gw, "CX-3")
    before = gw.snapshot()
    for client, reference in ((issuer(gw, "issuer_inss"), "CX-3"), (issuer(gw), "CX-NEVER")):
        with pytest.raises(zeep.exceptions.Fault) as caught:
            client.service.CancelNotification(issuerReference=reference, reason="Ajena")
        assert code(caught) == "UNKNOWN_REFERENCE"
    unchanged_but_audit(gw, before)
    assert gw.audit_since(before) == []
    assert all(notification_id in ids for ids in listed(gw))
