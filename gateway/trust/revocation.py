"""Revocation evidence: CRLs (RFC 5280 §5, §6.3) and OCSP responses (RFC 6960), authenticated,
and what they prove about one certificate (EN 319 102-1 §5.2.5 and §5.6.2.3).

Evidence about a certificate issued by ``issuer`` counts only when authenticated:

* a CRL: its issuer name is the issuer's subject and its signature verifies with the issuer's
  key (full CRLs only: no delta CRLs, no indirect CRLs);
* an OCSP response: ``successful``, its BasicOCSPResponse signed by the issuer itself or by a
  delegated responder (a certificate the response carries, issued by the issuer, with the
  id-kp-OCSPSigning usage, valid when the response was produced: RFC 6960 §4.2.2.2), the
  responder named by the ResponderID, and a SingleResponse whose CertID matches the certificate
  (serial number, issuer name and key hashes, SHA-1 or SHA-2).

What the evidence says (:func:`judge`), at validation time ``now`` and with ``poe`` the time
a valid time-stamp proves the signature existed (None without one):

* any authenticated item saying *revoked* gives the revocation time (the earliest);
* otherwise the status is known when one item saying *good* is current at ``now``
  (thisUpdate <= now < nextUpdate), or was issued at or after ``poe`` (thisUpdate >= poe): a
  certificate not revoked when that item was issued was not revoked at ``poe`` either, which is
  all past signature validation needs (EN 319 102-1 §5.6.2.1) -- so the CRLs and OCSP responses a
  XAdES-LT signature carries keep proving the signer good long after their nextUpdate.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.trust.memo import BytesMemo, IdentityMemo

_CERT_ID_HASHES = ("sha1", "sha256", "sha384", "sha512")

_MEMO_MAX_BYTES = 64 * 1024
"""CRLs and OCSP responses larger than this are neither kept by their DER nor have their
evidence memoised (real OCSP responses are a few KiB; a CRL this size has about a thousand
entries): the tables stay within a few tens of MiB whatever arrives."""
_LOADED_RESPONSES: BytesMemo[ocsp.OCSPResponse] = BytesMemo(256, _MEMO_MAX_BYTES)
_LOADED_CRLS: BytesMemo[x509.CertificateRevocationList] = BytesMemo(64, _MEMO_MAX_BYTES)
_EVIDENCE: IdentityMemo[Evidence | None] = IdentityMemo(1024)
"""What one CRL or OCSP response says about (certificate, issuer): a pure function of the three
objects, authenticated once per process rather than once per certificate pair and signature."""
_CERT_ID: IdentityMemo[tuple[bytes, bytes]] = IdentityMemo(256)
_SERIALS: IdentityMemo[frozenset[int]] = IdentityMemo(256)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one authenticated CRL or OCSP response says about one certificate."""

    source: str
    """``CRL`` or ``OCSP``."""
    this_update: datetime
    next_update: datetime | None
    revoked_at: datetime | None
    """None: not revoked as of ``this_update``."""


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    known: bool
    revoked_at: datetime | None = None
    source: str | None = None
    """Which kind of evidence decided (``CRL``/``OCSP``), when one did."""


@dataclass(frozen=True, slots=True)
class RevocationValues:
    """Revocation data a signature carries (XAdES RevocationValues), not yet authenticated."""

    crls: tuple[x509.CertificateRevocationList, ...] = ()
    responses: tuple[ocsp.OCSPResponse, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.crls or self.responses)


def load_ocsp_response(data: bytes) -> ocsp.OCSPResponse:
    """A DER OCSPResponse; ValueError when it is not one. The same DER gives the same object
    (memoised, bounded), so that the evidence memo recognises it in the next signature."""
    return _LOADED_RESPONSES.get(data, ocsp.load_der_ocsp_response)


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A DER CRL; ValueError when it is not one (memoised like :func:`load_ocsp_response`)."""
    return _LOADED_CRLS.get(data, x509.load_der_x509_crl)


def crl_evidence(
    crl: x509.CertificateRevocationList,
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    *,
    authenticated: bool = False,
) -> Evidence | None:
    """The CRL's word on ``certificate``, or None when the CRL is not the issuer's.

    A carried CRL's is memoised (``_EVIDENCE``) when the CRL is small: a large one is a new
    object in every signature, and is not kept alive for nothing. (What a trust store's own CRLs
    say is memoised with the store: ``chain``.)
    """
    if authenticated:
        return _crl_evidence(crl, certificate, issuer, True)
    if len(crl.tbs_certlist_bytes) <= _MEMO_MAX_BYTES:
        return _EVIDENCE.get(
            (crl, certificate, issuer), lambda: _crl_evidence(crl, certificate, issuer, False)
        )
    return _crl_evidence(crl, certificate, issuer, False)


def _crl_evidence(
    crl: x509.CertificateRevocationList,
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    authenticated: bool,
) -> Evidence | None:
    if crl.issuer != issuer.subject:
        return None
    if not authenticated:
        try:
            if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]  # CA keys
                return None
        except (TypeError, ValueError, UnsupportedAlgorithm):
            return None
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    return Evidence(
        "CRL",
        crl.last_update_utc,
        crl.next_update_utc,
        None if entry is None else entry.revocation_date_utc,
    )


def ocsp_evidence(
    response: ocsp.OCSPResponse, certificate: x509.Certificate, issuer: x509.Certificate
) -> Evidence | None:
    """The OCSP response's word on ``certificate``, or None when it is not authenticated by
    ``issuer``, says nothing about this certificate, says ``unknown``, or cannot be read (its
    fields are parsed lazily: a malformed one surfaces here). Memoised like
    :func:`crl_evidence`."""
    try:
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return None
        small = len(response.tbs_response_bytes) <= _MEMO_MAX_BYTES
        serials = (
            _SERIALS.get((response,), lambda: _serials_of(response))
            if small
            else _serials_of(response)
        )
        if certificate.serial_number not in serials:
            return None  # the usual case, another certificate's response
    except (ValueError, UnsupportedAlgorithm):
        return None
    if not small:
        return _checked_ocsp_evidence(response, certificate, issuer)
    return _EVIDENCE.get(
        (response, certificate, issuer),
        lambda: _checked_ocsp_evidence(response, certificate, issuer),
    )


def _serials_of(response: ocsp.OCSPResponse) -> frozenset[int]:
    """The serial numbers a successful response speaks of (ValueError when unreadable)."""
    return frozenset(single.serial_number for single in response.responses)


def _checked_ocsp_evidence(
    response: ocsp.OCSPResponse, certificate: x509.Certificate, issuer: x509.Certificate
) -> Evidence | None:
    try:
        return _ocsp_evidence(response, certificate, issuer)
    except (ValueError, UnsupportedAlgorithm):
        return None


def _ocsp_evidence(
    response: ocsp.OCSPResponse, certificate: x509.Certificate, issuer: x509.Certificate
) -> Evidence | None:
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return None
    single = _single_response(response, certificate, issuer)
    if single is None or single.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
        return None
    if not _authenticated(response, issuer):
        return None
    revoked_at = (
        single.revocation_time_utc
        if single.certificate_status is ocsp.OCSPCertStatus.REVOKED
        else None
    )
    return Evidence("OCSP", single.this_update_utc, single.next_update_utc, revoked_at)


def responds_for(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` authenticates ``response`` (the trust directory's load-time check)."""
    try:
        return (
            response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
            and _authenticated(response, issuer)
            and any(_names_issuer(single, issuer) for single in response.responses)
        )
    except (ValueError, UnsupportedAlgorithm):
        return False


def judge(evidence: Iterable[Evidence], *, now: datetime, poe: datetime | None) -> RevocationStatus:
    """What the evidence proves (rules in the module docstring); ``known`` False when nothing
    acceptable says good or revoked."""
    items = [item for item in evidence if item.this_update <= now]
    revoked = [item for item in items if item.revoked_at is not None]
    if revoked:
        first = min(revoked, key=lambda item: item.revoked_at or now)
        return RevocationStatus(True, first.revoked_at, first.source)
    for item in sorted(items, key=lambda item: item.this_update, reverse=True):
        current = item.next_update is None or now < item.next_update
        if current or (poe is not None and item.this_update >= poe):
            return RevocationStatus(True, None, item.source)
    return RevocationStatus(False)


def gather(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    *,
    trusted_crls: Sequence[x509.CertificateRevocationList] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
    responses: Sequence[ocsp.OCSPResponse] = (),
) -> list[Evidence]:
    """Every authenticated item about ``certificate``: ``trusted_crls`` were authenticated when
    loaded; ``crls`` and ``responses`` (carried by a signature, or OCSP responses of the trust
    directory) are checked here."""
    found = [crl_evidence(crl, certificate, issuer, authenticated=True) for crl in trusted_crls]
    found += [crl_evidence(crl, certificate, issuer) for crl in crls]
    found += [ocsp_evidence(response, certificate, issuer) for response in responses]
    return [item for item in found if item is not None]


def _single_response(
    response: ocsp.OCSPResponse, certificate: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse | None:
    for single in response.responses:
        if single.serial_number == certificate.serial_number and _names_issuer(single, issuer):
            return single
    return None


def _names_issuer(single: ocsp.OCSPSingleResponse, issuer: x509.Certificate) -> bool:
    name = single.hash_algorithm.name
    if name not in _CERT_ID_HASHES:
        return False
    hashes_of_issuer = _CERT_ID.get(
        (issuer, name), lambda: _cert_id_hashes(issuer.public_bytes(Encoding.DER), name)
    )
    return hashes_of_issuer == (single.issuer_name_hash, single.issuer_key_hash)


@functools.lru_cache(maxsize=256)
def _cert_id_hashes(issuer_der: bytes, hash_name: str) -> tuple[bytes, bytes]:
    """The CertID hashes of an issuer (RFC 6960 §4.1.1): of its subject's DER and of its
    public key's BIT STRING value."""
    parsed = asn1_x509.Certificate.load(issuer_der)
    name_hash = hashlib.new(hash_name, parsed.subject.dump()).digest()
    key_hash = hashlib.new(hash_name, parsed.public_key["public_key"].contents[1:]).digest()
    return name_hash, key_hash


def _authenticated(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    produced = response.produced_at_utc
    candidates = [issuer]
    for carried in response.certificates:
        if (
            carried.issuer == issuer.subject
            and carried.not_valid_before_utc <= produced <= carried.not_valid_after_utc
            and _delegated_responder(carried)
            and _verifies(
                issuer.public_key(),
                carried.signature,
                carried.tbs_certificate_bytes,
                carried.signature_hash_algorithm,
            )
        ):
            candidates.append(carried)
    for signer in candidates:
        if _is_responder(response, signer) and _verifies(
            signer.public_key(),
            response.signature,
            response.tbs_response_bytes,
            response.signature_hash_algorithm,
        ):
            return True
    return False


def _delegated_responder(certificate: x509.Certificate) -> bool:
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in usages


def _is_responder(response: ocsp.OCSPResponse, certificate: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return bool(response.responder_name == certificate.subject)
    key_id = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())
    return response.responder_key_hash == key_id.digest


def _verifies(
    key: object, signature: bytes, data: bytes, hash_algorithm: hashes.HashAlgorithm | None
) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey) and hash_algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and hash_algorithm is not None:
            key.verify(signature, data, ec.ECDSA(hash_algorithm))
        elif isinstance(key, dsa.DSAPublicKey) and hash_algorithm is not None:
            key.verify(signature, data, hash_algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True
