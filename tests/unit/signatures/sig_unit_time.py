"""Constants and records of the signature unit tests (conftest is not importable by tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.trust.certificates import TrustStore

UNIT_NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class UnitPki:
    trust: TrustStore
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
