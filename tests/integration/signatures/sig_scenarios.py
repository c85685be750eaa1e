"""The timeline of the signature tests: when the PKI is made, when validation happens, and the
scenario records the conftest fixtures return (imported by test modules; conftest itself is not
importable across test directories)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sig_vectors import Signer

from gateway.trust.certificates import TrustStore

PKI_NOW = datetime.now(UTC).replace(microsecond=0)
"""The real current time: openssl stamps signing times from the system clock."""
VALIDATION_TIME = PKI_NOW + timedelta(hours=1)
FORMATS = ("xades", "cades", "pades")


@dataclass(frozen=True)
class RevokedLater:
    """``person`` revoked at ``revoked_at``; a trust store whose CRLs say so at ``validate_at``."""

    signer: Signer
    revoked_at: datetime
    validate_at: datetime
    trust: TrustStore


@dataclass(frozen=True)
class ExpiresSoon:
    """A signer valid for four days from PKI_NOW - 1 day, validated after it expired."""

    signer: Signer
    validate_at: datetime
