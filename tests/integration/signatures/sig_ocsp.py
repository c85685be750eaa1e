"""OCSP responses for the signature tests, made with ``cryptography``'s OCSPResponseBuilder
(RFC 6960), signed by a demo CA or by a delegated responder it issues."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.pki import Credential


def responder(
    ca: Credential, *, at: datetime, ocsp_signing: bool = True
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A delegated OCSP responder certificate issued by ``ca`` (with id-kp-OCSPSigning unless
    told otherwise)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    usage = [ExtendedKeyUsageOID.OCSP_SIGNING if ocsp_signing else ExtendedKeyUsageOID.CLIENT_AUTH]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST OCSP RESPONDER")]))
        .issuer_name(ca.certificate().subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(days=1))
        .not_valid_after(at + timedelta(days=400))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .sign(ca.private_key(), hashes.SHA256())
    )
    return certificate, key


def ocsp_response(
    certificate: x509.Certificate,
    ca: Credential,
    *,
    this_update: datetime,
    next_update: datetime | None = None,
    revoked_at: datetime | None = None,
    unknown: bool = False,
    delegated: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None,
    cert_id_hash: hashes.HashAlgorithm | None = None,
) -> ocsp.OCSPResponse:
    """The status of ``certificate`` (issued by ``ca``) as ``ca`` -- or its delegated responder
    -- says it at ``this_update`` (``next_update`` default: a week later)."""
    issuer = ca.certificate()
    status = (
        ocsp.OCSPCertStatus.UNKNOWN
        if unknown
        else ocsp.OCSPCertStatus.REVOKED
        if revoked_at is not None
        else ocsp.OCSPCertStatus.GOOD
    )
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=certificate,
        issuer=issuer,
        algorithm=cert_id_hash or hashes.SHA1(),
        cert_status=status,
        this_update=this_update,
        next_update=next_update or this_update + timedelta(days=7),
        revocation_time=revoked_at,
        revocation_reason=x509.ReasonFlags.key_compromise if revoked_at else None,
    )
    if delegated is None:
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
        return builder.sign(ca.private_key(), hashes.SHA256())
    responder_certificate, key = delegated
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.NAME, responder_certificate)
    builder = builder.certificates([responder_certificate])
    return builder.sign(key, hashes.SHA256())


def der(response: ocsp.OCSPResponse) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return response.public_bytes(Encoding.DER)
