"""SubmitReceipt takes a CAdES acknowledgement as other signers write it (issue 13): BER with
indefinite lengths (``openssl cms -stream``) and level T (a signature time-stamp from the test
TSA, ``openssl ts``). Each tampered twin is refused with nothing changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sig_cms_vectors import openssl_cms
from sig_scenarios import PKI_NOW
from sig_vectors import OpenSslTsa

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import FixedClock
from gateway.domain.model import Category, Issuer, ItemKind, Notification, Status
from gateway.domain.receipts import Decision, Outcome
from gateway.errors import InvalidSignature
from gateway.services.receipts import ReceiptService
from gateway.signatures import sign_cades, validate
from gateway.store.unit_of_work import SqlUnitOfWork
from gateway.trust.principals import principal_from_certificate

pytestmark = pytest.mark.postgres

NOW = PKI_NOW + timedelta(minutes=5)


@pytest.fixture
def setting(database, pki, trust, policy, signer):
    principal = principal_from_certificate(signer("company").certificate)
    with SqlUnitOfWork(database.session_factory) as uow:
        ids = [
            uow.notifications.add(
                Notification(
                    id=None,
                    kind=ItemKind.NOTIFICATION,
                    issuer=Issuer.TGSS,
                    issuer_reference=f"BT-{n}",
                    procedure="Reclamación de deuda",
                    subject="Asunto",
                    recipient=principal.acts_for,
                    ccc=None,
                    category=Category.NORMAL,
                    made_available_at=NOW - timedelta(hours=1),
                    deadline_at=NOW + timedelta(days=9),
                    status=Status.AVAILABLE,
                    status_at=NOW - timedelta(hours=1),
                ),
                [],
            ).id
            for n in range(2)
        ]
        uow.commit()
    service = ReceiptService(
        lambda: SqlUnitOfWork(database.session_factory), FixedClock(NOW), WorkingCalendar(),
        replace(policy, require_whole_document=True), trust, pki.server.private_key(),
        pki.server.certificate())  # fmt: skip
    return service, principal, ids


def _refused_then_accepted(service, principal, ids, sign, tamper, database) -> None:
    twin = tamper(sign(service.prepare(principal, [ids[0]], Decision.ACCEPT).document))
    with pytest.raises(InvalidSignature):
        service.submit(principal, twin)
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.notifications.get(ids[0]).status is Status.AVAILABLE  # type: ignore[union-attr]
    submission = service.submit(
        principal, sign(service.prepare(principal, [ids[1]], Decision.ACCEPT).document)
    )
    assert [(o.notification_id, o.outcome) for o in submission.outcomes] == [
        (ids[1], Outcome.ACCEPTED)
    ]


def _flip_in_content(acknowledgement: bytes, content: bytes) -> bytes:
    """One byte of the signed acknowledgement changed inside the encapsulated content."""
    marker = content[len(content) // 2 : len(content) // 2 + 16]
    at = acknowledgement.index(marker)
    return acknowledgement[:at] + bytes([acknowledgement[at] ^ 0x01]) + acknowledgement[at + 1 :]


def test_a_ber_cades_acknowledgement_is_accepted(setting, signer, database) -> None:
    service, principal, ids = setting
    company = signer("company")
    contents: dict[bytes, bytes] = {}

    def sign(document: bytes) -> bytes:
        ber = openssl_cms(document, company, "-nodetach", "-stream")
        assert ber[1] == 0x80  # indefinite length: BER, not DER
        contents[ber] = document
        return ber

    def tamper(ber: bytes) -> bytes:
        return _flip_in_content(ber, contents[ber])

    _refused_then_accepted(service, principal, ids, sign, tamper, database)


def test_a_level_t_cades_acknowledgement_is_accepted(
    setting, signer, pki, trust, policy, database
) -> None:
    service, principal, ids = setting
    company = signer("company")
    contents: dict[bytes, bytes] = {}

    def sign(document: bytes) -> bytes:
        # signing time PKI_NOW; openssl ts stamps the system clock, a little later
        stamped = sign_cades(
            document, company.key, company.certificate, detached=False,
            clock=FixedClock(PKI_NOW), tsa=OpenSslTsa(pki.tsa),
        )  # fmt: skip
        report = validate(stamped, policy=policy, trust=trust, now=NOW)
        assert [s.level for s in report.signatures] == ["CAdES-BASELINE-T"]
        contents[stamped] = document
        return stamped

    def tamper(stamped: bytes) -> bytes:
        return _flip_in_content(stamped, contents[stamped])

    _refused_then_accepted(service, principal, ids, sign, tamper, database)
