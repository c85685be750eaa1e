"""SubmitReceipt takes a CAdES acknowledgement as other signers write it (issue 13): BER with
indefinite lengths (``openssl cms -stream``), level T (a signature time-stamp from the test
TSA, ``openssl ts``) and level LT (validation data from ``openssl ocsp`` and ``openssl ca``).
Each tampered twin is refused with nothing changed."""

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


def test_a_level_lt_cades_acknowledgement_is_accepted(
    setting, signer, pki, trust, policy, database
) -> None:
    """``openssl cms`` signs, ``openssl ts`` stamps, and the SignedData carries the issuing CA,
    OCSP responses for the signer and the unit (``openssl ocsp``) and the root's CRL
    (``openssl ca -gencrl``): level LT. Its twin with one byte of the content changed is
    refused; so is an acknowledgement whose carried OCSP response (issued at PKI_NOW, before the
    service's clock whatever the system clock says) shows the signer revoked before signing."""
    from cryptography.hazmat.primitives.serialization import Encoding
    from sig_cades_lta import add_signature_timestamp, in_signed_data, openssl_crl, openssl_ocsp
    from sig_ocsp import ocsp_response

    service, principal, ids = setting
    company = signer("company")
    contents: dict[bytes, bytes] = {}

    def lt(document: bytes, revoked_at=None) -> bytes:
        signed = openssl_cms(document, company, "-nodetach")
        stamped = add_signature_timestamp(signed, OpenSslTsa(pki.tsa).timestamp)
        return in_signed_data(
            stamped,
            certificates=[pki.issuing_ca.certificate()],
            crls=[openssl_crl(pki.root_ca, this_update=PKI_NOW)],
            responses=[
                openssl_ocsp(pki.issuing_ca, company.certificate)
                if revoked_at is None
                else ocsp_response(
                    company.certificate, pki.issuing_ca, this_update=PKI_NOW,
                    revoked_at=revoked_at,
                ).public_bytes(Encoding.DER),
                openssl_ocsp(pki.issuing_ca, pki.tsa.certificate()),
            ],
        )

    def sign(document: bytes) -> bytes:
        extended = lt(document)
        # openssl stamps the system clock: validate a little after it, as the service will.
        report = validate(extended, policy=policy, trust=trust, now=NOW)
        assert [s.level for s in report.signatures] == ["CAdES-BASELINE-LT"], report.to_json()
        contents[extended] = document
        return extended

    def tamper(extended: bytes) -> bytes:
        return _flip_in_content(extended, contents[extended])

    _refused_then_accepted(service, principal, ids, sign, tamper, database)
    revoked = lt(
        service.prepare(principal, [ids[0]], Decision.ACCEPT).document,
        revoked_at=PKI_NOW - timedelta(hours=1),
    )
    with pytest.raises(InvalidSignature):
        service.submit(principal, revoked)
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.notifications.get(ids[0]).status is Status.AVAILABLE  # type: ignore[union-attr]
