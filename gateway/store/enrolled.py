"""Certificates enrolled for a principal (migration 0008, ``gateway certs``, issue 14)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert, select, update
from sqlalchemy.orm import Session

from gateway.domain.enrolment import EnrolledCertificate

from .availability import unavailable_on_failure
from .models import EnrolledCertificateRow
from .repositories import integrity_errors_as_conflict

_T = cast(Table, EnrolledCertificateRow.__table__)

_COLUMNS = {  # gateway.wssec.tokens.ReferenceKind values (a StrEnum: members look these up)
    "IssuerSerial": _T.c.serial_number,
    "SKI": _T.c.subject_key_identifier,
    "Thumbprint": _T.c.thumbprint_sha1,
    "X509KeyIdentifier": _T.c.fingerprint,
}

MAX_CANDIDATES = 8
"""An SKI or serial shared by more enrolled certificates than this is not worth resolving."""


class EnrolledCertificateRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, entry: EnrolledCertificate) -> None:
        with integrity_errors_as_conflict(
                f"certificate {entry.fingerprint} is already enrolled", "ALREADY_ENROLLED"):
            self._session.execute(insert(_T).values(
                fingerprint=entry.fingerprint, thumbprint_sha1=entry.thumbprint_sha1,
                subject_key_identifier=entry.subject_key_identifier,
                serial_number=entry.serial_number, issuer_name=entry.issuer_name,
                principal_identifier=entry.principal_identifier, certificate=entry.certificate,
                enrolled_at=entry.enrolled_at, revoked_at=None))
            self._session.flush()

    def get(self, fingerprint: str) -> EnrolledCertificate | None:
        row = self._session.execute(select(_T).where(_T.c.fingerprint == fingerprint)).first()
        return None if row is None else EnrolledCertificate(**row._asdict())

    def revoke(self, fingerprint: str, at: datetime) -> int:
        result = cast(CursorResult[Any], self._session.execute(
            update(_T).where(_T.c.fingerprint == fingerprint, _T.c.revoked_at.is_(None))
            .values(revoked_at=at)))
        return int(result.rowcount)

    def all(self, principal_identifier: str | None = None) -> list[EnrolledCertificate]:
        query = select(_T).order_by(_T.c.principal_identifier, _T.c.enrolled_at)
        if principal_identifier is not None:
            query = query.where(_T.c.principal_identifier == principal_identifier)
        return [EnrolledCertificate(**row._asdict()) for row in self._session.execute(query)]


class SqlEnrolledCertificates:
    """The gate's lookup (``gateway.wssec.enrolled.EnrolledCertificates``): one indexed read per
    request that names its certificate by reference, never for an embedded token."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory

    def enrolled(self, kind: str, value: str) -> Sequence[bytes]:
        column = _COLUMNS[kind]
        # A database outage here is SERVICE_UNAVAILABLE (503), as for the replay nonce.
        with unavailable_on_failure(), self._session_factory() as session:
            return list(session.execute(
                select(_T.c.certificate)
                .where(column == value, _T.c.revoked_at.is_(None))
                .limit(MAX_CANDIDATES)).scalars())
