"""SubmitReceipt takes a counter-signed CAdES acknowledgement (issues 12 and 13): a witness's or
approver's counter-signature (Bouncy Castle, ``peers/BcCms.java``) signs the caller's signature,
not the document, so the caller's remains the one signature over the acknowledgement. The report
judges the counter-signature too: its tampered twin is refused with nothing changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sig_cms_vectors import BcJob, bouncy_castle, openssl_cms
from sig_scenarios import PKI_NOW

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import FixedClock
from gateway.domain.model import Category, Issuer, ItemKind, Notification, Status
from gateway.domain.receipts import Decision, Outcome
from gateway.errors import InvalidSignature
from gateway.services.receipts import ReceiptService
from gateway.store.unit_of_work import SqlUnitOfWork
from gateway.trust.principals import principal_from_certificate

pytestmark = pytest.mark.postgres


def test_a_counter_signed_cades_acknowledgement_is_accepted_its_tampered_twin_refused(
    database, pki, trust, policy, signer
) -> None:
    now = PKI_NOW + timedelta(minutes=5)
    company = signer("company")
    principal = principal_from_certificate(company.certificate)
    with SqlUnitOfWork(database.session_factory) as uow:
        ids = [uow.notifications.add(Notification(
            id=None, kind=ItemKind.NOTIFICATION, issuer=Issuer.TGSS,
            issuer_reference=f"CS-{n}", procedure="Reclamación de deuda", subject="Asunto",
            recipient=principal.acts_for, ccc=None, category=Category.NORMAL,
            made_available_at=now - timedelta(hours=1), deadline_at=now + timedelta(days=9),
            status=Status.AVAILABLE, status_at=now - timedelta(hours=1)), []).id
            for n in range(2)]
        uow.commit()
    service = ReceiptService(
        lambda: SqlUnitOfWork(database.session_factory), FixedClock(now), WorkingCalendar(),
        replace(policy, require_whole_document=True), trust, pki.server.private_key(),
        pki.server.certificate())

    def counter_signed(notification_id: int) -> bytes:
        prepared = service.prepare(principal, [notification_id], Decision.ACCEPT)
        attached = openssl_cms(prepared.document, company, "-nodetach")
        (witnessed,) = bouncy_castle([BcJob("countersign", "SHA256withRSA", signer("person"),
                                            attached)])
        return witnessed

    tampered = bytearray(counter_signed(ids[0]))
    tampered[-1] ^= 0x01  # the counter-signature's value ends the SignedData
    with pytest.raises(InvalidSignature):
        service.submit(principal, bytes(tampered))
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.notifications.get(ids[0]).status is Status.AVAILABLE  # type: ignore[union-attr]

    submission = service.submit(principal, counter_signed(ids[1]))
    assert [(o.notification_id, o.outcome) for o in submission.outcomes] == [
        (ids[1], Outcome.ACCEPTED)]
