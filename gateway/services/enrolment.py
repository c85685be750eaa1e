"""``gateway certs enrol|list|revoke``: certificates key references may name (issue 14).

A client whose stack refers to its certificate by IssuerSerial, SubjectKeyIdentifier,
ThumbprintSHA1 or an X509v3 KeyIdentifier (instead of embedding a BinarySecurityToken) is
accepted only for a certificate enrolled here. Enrolment checks what the gate will check anyway
(trusted path now, digitalSignature, a principal mapping), so that an operator learns of a wrong
file at once; the gate checks trust and revocation again at every use. Every change is audited:
``certificate.enrolled`` and ``certificate.enrolment_revoked`` (actor ``--by``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.domain.clock import Clock
from gateway.domain.enrolment import EnrolledCertificate
from gateway.domain.principal import Principal
from gateway.errors import InvalidRequest, NotFound
from gateway.trust.certificates import TrustStore, check_signing_usage
from gateway.trust.principals import principal_from_certificate
from gateway.wssec.tokens import subject_key_identifier

from .ports import UnitOfWork

ENROLMENT_ACTOR = "OPERATOR"


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes (``InvalidRequest`` otherwise)."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise InvalidRequest("not an X.509 certificate (PEM or DER)",
                             code="CERTIFICATE_MALFORMED") from exc


def enrolment_of(certificate: x509.Certificate, principal: Principal,
                 clock: Clock | None = None) -> EnrolledCertificate:
    """The enrolment record of ``certificate`` for ``principal`` (lookup keys derived), dated
    ``clock.now()`` (without a clock, the certificate's notBefore: for tests)."""
    der = certificate.public_bytes(Encoding.DER)
    return EnrolledCertificate(
        fingerprint=hashlib.sha256(der).hexdigest(),
        thumbprint_sha1=hashlib.sha1(der).hexdigest(),
        subject_key_identifier=subject_key_identifier(certificate).hex(),
        serial_number=str(certificate.serial_number),
        issuer_name=certificate.issuer.rfc4514_string(),
        principal_identifier=principal.identifier,
        certificate=der,
        enrolled_at=clock.now() if clock is not None else certificate.not_valid_before_utc,
    )


class EnrolmentService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock,
                 trust_store: TrustStore, *, min_rsa_key_bits: int) -> None:
        self.uow_factory = uow_factory
        self.clock = clock
        self.trust_store = trust_store
        self.min_rsa_key_bits = min_rsa_key_bits

    def enrol(self, data: bytes, actor: str = ENROLMENT_ACTOR,
              principal_identifier: str | None = None) -> EnrolledCertificate:
        """Enrol the certificate in ``data`` for the principal its subject maps to (which must be
        ``principal_identifier`` when given)."""
        certificate = load_certificate(data)
        now = self.clock.now()
        self.trust_store.validate(certificate, now)
        check_signing_usage(certificate, min_rsa_key_bits=self.min_rsa_key_bits)
        principal = principal_from_certificate(certificate)
        if principal_identifier is not None and principal_identifier != principal.identifier:
            raise InvalidRequest(
                f"the certificate speaks for {principal.identifier}, not {principal_identifier}",
                code="PRINCIPAL_MISMATCH")
        entry = enrolment_of(certificate, principal, self.clock)
        with self.uow_factory() as uow:
            uow.enrolled.add(entry)
            uow.audit.append("certificate.enrolled", actor, principal.identifier, {
                "fingerprint": entry.fingerprint, "serial": entry.serial_number,
                "issuer": entry.issuer_name, "ski": entry.subject_key_identifier,
                "thumbprint_sha1": entry.thumbprint_sha1}, entry.enrolled_at)
            uow.commit()
        return entry

    def revoke(self, fingerprint: str, actor: str = ENROLMENT_ACTOR) -> EnrolledCertificate:
        """End an enrolment at once (references to it are refused from the next request)."""
        fingerprint = fingerprint.strip().lower().replace(":", "")
        now = self.clock.now()
        with self.uow_factory() as uow:
            entry = uow.enrolled.get(fingerprint)
            if entry is None or not uow.enrolled.revoke(fingerprint, now):
                raise NotFound(f"no current enrolment of certificate {fingerprint}",
                               code="NOT_ENROLLED")
            uow.audit.append("certificate.enrolment_revoked", actor, entry.principal_identifier,
                             {"fingerprint": fingerprint}, now)
            uow.commit()
        return entry

    def enrolled(self, principal_identifier: str | None = None) -> list[EnrolledCertificate]:
        with self.uow_factory() as uow:
            return uow.enrolled.all(principal_identifier)
