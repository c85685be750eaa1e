"""Resolving a key reference that does not carry a token: enrolled certificates only (issue 14).

A ``SecurityTokenReference`` by IssuerSerial, SubjectKeyIdentifier, ThumbprintSHA1 or an X509v3
KeyIdentifier (``tokens.CertificateReference``) is accepted only when it names a certificate
enrolled for a principal (``gateway certs enrol``) and not revoked there. The gate then treats the
enrolled certificate exactly like an embedded token: trust path, validity and CRLs at the
instant of use, key usage, principal mapping, and the signature verified with *its* key -- so a
reference naming an enrolled certificate on a message signed by another key fails the signature.

Refusals: no enrolment store configured -> ``KEY_INFO_UNSUPPORTED``; nothing enrolled (or only
revoked enrolments) matches -> ``CERTIFICATE_UNKNOWN``; an IssuerSerial whose serial matches
but whose issuer name does not -> ``CERTIFICATE_UNKNOWN``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Protocol

from cryptography import x509

from gateway.errors import AuthenticationError
from gateway.wssec.tokens import CertificateReference, ReferenceKind, issuer_matches


class EnrolledCertificates(Protocol):
    """Lookup of currently enrolled (not revoked) certificates, DER-encoded.

    ``column`` is the reference kind's lookup key: ``ISSUER_SERIAL`` asks by decimal serial
    number, ``SUBJECT_KEY_IDENTIFIER`` and ``THUMBPRINT_SHA1`` by lower-case hex,
    ``X509_KEY_IDENTIFIER`` by the certificate's SHA-256 fingerprint (hex).
    """

    def enrolled(self, kind: ReferenceKind, value: str) -> Sequence[bytes]: ...


def unknown() -> AuthenticationError:
    return AuthenticationError(
        "The referenced certificate is not enrolled", code="CERTIFICATE_UNKNOWN")


def resolve(reference: CertificateReference, store: EnrolledCertificates) -> str:
    """The Base64 DER text of the one enrolled certificate ``reference`` names (any kind but
    ``X509_KEY_IDENTIFIER``, which the gate checks by fingerprint)."""
    candidates = store.enrolled(reference.kind, reference.value)
    if reference.kind is ReferenceKind.ISSUER_SERIAL:
        issuer = reference.issuer or ""
        candidates = [der for der in candidates
                      if issuer_matches(x509.load_der_x509_certificate(der), issuer)]
    if len(candidates) != 1:  # none, or an ambiguous SKI/serial: name it by another reference
        raise unknown()
    return base64.b64encode(candidates[0]).decode("ascii")
