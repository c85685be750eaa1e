"""``IssuerService`` against a real ``gateway serve`` (issue 17): zeep clients signing with the
demo issuers' entity seals, and one plain-XML envelope.

The gateway is this module's own (exact row counts): TGSS and INSS seals are registered with
``gateway issuers add`` run as the operator would; the company's seal is never registered.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from lxml import etree
from sqlalchemy import func, select

from gateway import namespaces as ns
from gateway.client.transport import ServerVerifyingSignature
from gateway.domain.clock import SystemClock
from gateway.signatures import sign_xades_enveloped
from gateway.store.models import NotificationDocumentRow, NotificationRow

if TYPE_CHECKING:  # only for types: at run time "conftest" may be tests/unit/soap's
    from conftest import RunningGateway, Snapshot

pytestmark = pytest.mark.postgres

GW = f"{{{ns.FAULT_DETAIL}}}"


def fault_code(fault: zeep.exceptions.Fault) -> str | None:
    """The stable ``gw:code`` in a zeep fault's detail."""
    if fault.detail is None:
        return None
    return fault.detail.findtext(f"{GW}error/{GW}code")

PATH = "/IssuerService"


@pytest.fixture(scope="module")
def gw(start_gateway: Any, default_seed: Any) -> Iterator[RunningGateway]:
    with start_gateway(default_seed) as running:
        running.operator("issuers", "add", "TGSS", running.pki.issuer_tgss_cif)
        running.operator("issuers", "add", "INSS", running.pki.issuer_inss_cif)
        yield running


def issuer(gateway: RunningGateway, name: str = "issuer_tgss") -> zeep.Client:
    credential = gateway.pki.client(name)
    return zeep.Client(gateway.base_url + PATH + "?wsdl", wsse=ServerVerifyingSignature(
        credential.key_path, credential.cert_path, gateway.pki.server.cert_path))


def item(gateway: RunningGateway, reference: str, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "issuerReference": reference, "kind": "NOTIFICATION",
        "procedure": "Reclamación de deuda", "subject": f"Deuda {reference}",
        "recipient": gateway.pki.company_cif, "ccc": gateway.seed.ccc_other,
        "category": "NORMAL",
        "mainDocument": {"name": f"{reference}.pdf", "contentType": "application/pdf",
                         "content": f"%PDF-1.4 {reference}".encode()},
    }
    values.update(changes)
    return values


def rows(gateway: RunningGateway) -> tuple[int, int]:
    with gateway.engine.connect() as connection:
        return (connection.execute(select(func.count()).select_from(NotificationRow)).scalar_one(),
                connection.execute(
                    select(func.count()).select_from(NotificationDocumentRow)).scalar_one())


def assert_unchanged(gateway: RunningGateway, before: Snapshot) -> None:
    """No table changed since ``before`` but the replay cache (every signed request adds its
    nonce) and the audit log (checked by each test)."""
    after = gateway.snapshot()
    changed = sorted(name for name, digest in after.digests.items()
                     if before.digests.get(name) != digest and name != "used_nonce")
    assert not changed, {name: (before.counts[name], after.counts[name]) for name in changed}


def problems(fault: zeep.exceptions.Fault) -> list[tuple[int, str]]:
    assert fault.detail is not None
    return [(int(p.findtext(f"{GW}position") or 0), p.findtext(f"{GW}field") or "")
            for p in fault.detail.iterfind(f"{GW}error/{GW}problem")]


def test_publish_then_the_same_batch_again_returns_the_same_ids(gw: RunningGateway) -> None:
    client = issuer(gw)
    batch = [item(gw, "TGSS-A-1"),
             item(gw, "TGSS-A-2", kind="COMMUNICATION",
                  annex=[{"name": "anexo.txt", "content": b"anexo"}]),
             item(gw, "TGSS-A-3", madeAvailableAt=datetime.now(UTC) - timedelta(hours=1))]
    before = rows(gw)
    first = client.service.PublishNotifications(item=batch)
    assert first.created == 3
    assert [i.position for i in first.item] == [1, 2, 3]
    assert [i.created for i in first.item] == [True, True, True]
    assert first.item[0].deadlineAt is not None and first.item[1].deadlineAt is None
    assert rows(gw) == (before[0] + 3, before[1] + 4)
    with gw.engine.connect() as connection:
        stored = connection.execute(select(NotificationRow.issuer, NotificationRow.issuer_reference)
                                    .where(NotificationRow.id.in_([i.id for i in first.item])))
        assert sorted(stored) == [("TGSS", "TGSS-A-1"), ("TGSS", "TGSS-A-2"),
                                  ("TGSS", "TGSS-A-3")]

    snapshot = gw.snapshot()
    again = client.service.PublishNotifications(item=batch)
    assert again.created == 0
    assert [(i.id, i.created) for i in again.item] == [(i.id, False) for i in first.item]
    assert_unchanged(gw, snapshot)
    assert [e for e, _ in gw.audit_since(snapshot)] == ["publication.replayed"]

    # A replay mixed with new items: the old keep their ids, only the new one is written.
    mixed = client.service.PublishNotifications(item=[*batch, item(gw, "TGSS-A-4")])
    assert mixed.created == 1 and [i.created for i in mixed.item] == [False] * 3 + [True]
    assert rows(gw) == (before[0] + 4, before[1] + 5)


def test_the_same_reference_with_other_content_is_a_conflict(gw: RunningGateway) -> None:
    client = issuer(gw)
    client.service.PublishNotifications(item=[item(gw, "TGSS-B-1"), item(gw, "TGSS-B-2")])
    snapshot = gw.snapshot()
    changed = [item(gw, "TGSS-B-NEW"), item(gw, "TGSS-B-1"),
               item(gw, "TGSS-B-2", subject="Otro asunto")]
    with pytest.raises(zeep.exceptions.Fault) as caught:
        client.service.PublishNotifications(item=changed)
    assert fault_code(caught.value) == "DUPLICATE_REFERENCE"
    assert "'TGSS-B-2'" in caught.value.message and "TGSS-B-1" not in caught.value.message
    assert problems(caught.value) == [(3, "issuer_reference")]
    assert_unchanged(gw, snapshot)  # nothing written, not even the new item
    assert gw.audit_since(snapshot) == []


def test_a_bad_batch_writes_nothing_and_lists_every_problem(gw: RunningGateway) -> None:
    client = issuer(gw)
    snapshot = gw.snapshot()
    batch = [
        item(gw, "TGSS-C-1"),
        item(gw, "TGSS-C-2", recipient="12345678A", procedure=""),
        item(gw, "TGSS-C-3"),
        item(gw, "TGSS-C-4", madeAvailableAt=datetime.now(UTC) + timedelta(days=1),
             mainDocument={"name": "vacio.pdf", "content": b""}),
        item(gw, "TGSS-C-1"),
    ]
    with pytest.raises(zeep.exceptions.Fault) as caught:
        client.service.PublishNotifications(item=batch)
    assert fault_code(caught.value) == "INVALID_BATCH", caught.value.message
    assert problems(caught.value) == [(2, "procedure"), (2, "recipient"),
                                      (4, "made_available_at"), (4, "main_document"),
                                      (5, "issuer_reference")]
    assert_unchanged(gw, snapshot)
    assert gw.audit_since(snapshot) == []


def test_a_certificate_that_is_no_registered_issuer_is_refused(gw: RunningGateway) -> None:
    for name in ("company", "person", "representative"):
        snapshot = gw.snapshot()
        with pytest.raises(zeep.exceptions.Fault) as caught:
            issuer(gw, name).service.PublishNotifications(item=[item(gw, f"X-{name}")])
        assert fault_code(caught.value) == "NOT_AN_ISSUER"
        events = gw.audit_since(snapshot)
        assert [e for e, _ in events] == ["access.refused"]
        assert rows(gw) == (snapshot.counts["notification"],
                            snapshot.counts["notification_document"])
        with pytest.raises(zeep.exceptions.Fault) as caught:
            issuer(gw, name).service.GetPublicationStatus(issuerReference=["SOAP-IT-C-0001"])
        assert fault_code(caught.value) == "NOT_AN_ISSUER"


def test_issuers_see_only_their_own_items(gw: RunningGateway) -> None:
    tgss, inss = issuer(gw), issuer(gw, "issuer_inss")
    own = tgss.service.PublishNotifications(item=[item(gw, "SHARED-REF-1")]).item[0]
    # The same reference is another item when another issuer publishes it.
    other = inss.service.PublishNotifications(
        item=[item(gw, "SHARED-REF-1", subject="Otro")]).item[0]
    assert other.id != own.id and other.created

    answer = tgss.service.GetPublicationStatus(
        issuerReference=["SHARED-REF-1", "TGSS-NEVER", "SOAP-IT-C-0000"])
    assert [(i.issuerReference, i.known) for i in answer.item] == [
        ("SHARED-REF-1", True), ("TGSS-NEVER", False), ("SOAP-IT-C-0000", False)]
    assert answer.item[0].id == own.id and answer.item[1].id is None
    assert inss.service.GetPublicationStatus(issuerReference=["SHARED-REF-1"]).item[0].id \
        == other.id

    # Paging with the cursor: every item is the caller's, and a TGSS cursor is no INSS cursor.
    seen: list[int] = []
    cursor, cursors = "", []
    while True:
        page = tgss.service.GetPublicationStatus(cursor=cursor, pageSize=40)
        assert page.count == len(page.item) <= 40
        seen += [i.id for i in page.item]
        if page.nextCursor is None:
            break
        cursor = page.nextCursor
        cursors.append(cursor)
    with gw.engine.connect() as connection:
        expected = connection.execute(select(NotificationRow.id).where(
            NotificationRow.issuer == "TGSS").order_by(NotificationRow.id)).scalars().all()
    assert seen == expected and own.id in seen and other.id not in seen
    assert len(cursors) >= 2
    with pytest.raises(zeep.exceptions.Fault) as caught:
        inss.service.GetPublicationStatus(cursor=cursors[0])
    assert fault_code(caught.value) == "INVALID_CURSOR"
    with pytest.raises(zeep.exceptions.Fault) as caught:
        tgss.service.GetPublicationStatus(issuerReference=["SHARED-REF-1"], cursor=cursors[0])
    assert fault_code(caught.value) == "INVALID_REQUEST"


def test_the_issuer_sees_the_acceptance_and_its_receipt(gw: RunningGateway) -> None:
    tgss = issuer(gw)
    published = tgss.service.PublishNotifications(item=[item(gw, "TGSS-D-1")]).item[0]
    status = tgss.service.GetPublicationStatus(issuerReference=["TGSS-D-1"]).item[0]
    assert status.status == "AVAILABLE" and status.receipt is None
    assert [c.status for c in status.change] == ["AVAILABLE"]

    company = gw.client("company")
    prepared = company.service.PrepareReceipt(id=[published.id], decision="ACCEPT")
    credential = gw.pki.client("company")
    signed = sign_xades_enveloped(prepared.receipt, credential.private_key(),
                                  credential.certificate(), clock=SystemClock())
    receipt = company.service.SubmitReceipt(signedReceipt=signed)

    status = tgss.service.GetPublicationStatus(issuerReference=["TGSS-D-1"]).item[0]
    assert status.status == "ACCEPTED"
    assert [(c.status, c.actedBy) for c in status.change] == [
        ("AVAILABLE", None), ("ACCEPTED", gw.pki.company_cif)]
    assert status.receipt.registrationNumber == receipt.registrationNumber
    assert status.receipt.issuedAt == receipt.issuedAt
    # Nothing more than the issue grants: no subject, documents, CSV or signed receipt.
    assert set(status.__values__) == {"issuerReference", "known", "id", "kind", "status",
                                      "madeAvailableAt", "deadlineAt", "change", "receipt"}
    assert set(status.receipt.__values__) == {"registrationNumber", "issuedAt"}


def test_a_plain_xml_envelope_publishes_too(gw: RunningGateway) -> None:
    """No client library: the envelope written by hand, signed as any client signs."""
    i = f"{{{ns.ISSUER_SERVICE}}}"
    envelope = etree.fromstring(f"""
<soap:Envelope xmlns:soap="{ns.SOAP11_ENV}" xmlns:iss="{ns.ISSUER_SERVICE}">
  <soap:Header/>
  <soap:Body>
    <iss:PublishNotifications>
      <iss:item>
        <iss:issuerReference>TGSS-XML-1</iss:issuerReference>
        <iss:kind>NOTIFICATION</iss:kind>
        <iss:procedure>Procedimiento</iss:procedure>
        <iss:subject>Asunto</iss:subject>
        <iss:recipient>{gw.pki.person_nif}</iss:recipient>
        <iss:mainDocument>
          <iss:name>acto.txt</iss:name>
          <iss:content>{base64.b64encode(b"acto administrativo").decode()}</iss:content>
        </iss:mainDocument>
      </iss:item>
    </iss:PublishNotifications>
  </soap:Body>
</soap:Envelope>""".strip().encode())
    gw.sign(envelope, "issuer_tgss")
    response = gw.post(etree.tostring(envelope), path=PATH)
    assert response.status_code == 200, response.text[:2000]
    gw.verify_response_signature(response.content)
    answer = etree.fromstring(response.content)
    published = answer.find(f".//{i}PublishNotificationsResult/{i}item")
    assert published is not None
    assert published.findtext(f"{i}created") == "true"
    with gw.engine.connect() as connection:
        content_type = connection.execute(
            select(NotificationDocumentRow.content_type).where(
                NotificationDocumentRow.notification_id == int(published.findtext(f"{i}id") or 0)
            )).scalar_one()
    assert content_type == "text/plain"  # guessed from the name, as gateway import does


def test_more_than_a_thousand_items_is_refused_whole(gw: RunningGateway) -> None:
    """zeep refuses to send 1,001 items: the 1,001st is added to its envelope by hand."""
    snapshot = gw.snapshot()
    small = {"name": "a.txt", "content": b"a"}
    client = zeep.Client(gw.base_url + PATH + "?wsdl")  # unsigned: signed below, once
    envelope = client.create_message(
        client.service, "PublishNotifications",
        item=[item(gw, f"TGSS-BIG-{i}", mainDocument=small) for i in range(1000)])
    wrapper = envelope.find(f".//{{{ns.ISSUER_SERVICE}}}PublishNotifications")
    assert wrapper is not None
    extra = copy.deepcopy(wrapper[-1])
    extra.find(f"{{{ns.ISSUER_SERVICE}}}issuerReference").text = "TGSS-BIG-1000"
    wrapper.append(extra)
    gw.sign(envelope, "issuer_tgss")
    response = gw.post(etree.tostring(envelope), path=PATH)
    gw.assert_fault(response, faultcode="soap11env:Client.LimitExceeded", code="BATCH_TOO_LARGE",
                    status=400)
    assert_unchanged(gw, snapshot)
    assert gw.audit_since(snapshot) == []
