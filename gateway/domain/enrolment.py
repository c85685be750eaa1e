"""A certificate enrolled for a principal (issue 14): what a key reference may name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class EnrolledCertificate:
    """One enrolment. The lookup keys are derived from ``certificate`` (DER) at enrolment:
    SHA-256 ``fingerprint`` (the key), SHA-1 ``thumbprint_sha1`` and ``subject_key_identifier``
    in lower-case hex, ``serial_number`` in decimal, ``issuer_name`` in RFC 4514 form."""

    fingerprint: str
    thumbprint_sha1: str
    subject_key_identifier: str
    serial_number: str
    issuer_name: str
    principal_identifier: str
    certificate: bytes
    enrolled_at: datetime
    revoked_at: datetime | None = None
