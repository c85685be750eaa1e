"""Response-signing certificates scheduled by ``gateway pki rotate`` (migration 0009, issue 14)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.domain.server_certificates import ScheduledCertificate

from .availability import unavailable_on_failure
from .models import ServerCertificateRow
from .repositories import AuditRepository, integrity_errors_as_conflict

SCHEDULED_EVENT = "server_certificate.scheduled"


class SqlServerCertificates:
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory

    def all(self) -> list[ScheduledCertificate]:
        """Every scheduled certificate, by activation (what each worker reads to sign)."""
        with unavailable_on_failure(), self._session_factory() as session:
            rows = session.execute(select(ServerCertificateRow)
                                   .order_by(ServerCertificateRow.active_from)).scalars().all()
            return [ScheduledCertificate(row.fingerprint, row.certificate, row.key_path,
                                         row.active_from, row.scheduled_at) for row in rows]

    def add(self, entry: ScheduledCertificate, actor: str, subject: str,
            at: datetime) -> None:
        """Schedule ``entry`` and append ``server_certificate.scheduled`` to the audit chain, in
        one transaction."""
        with unavailable_on_failure(), self._session_factory() as session:
            with integrity_errors_as_conflict(
                    f"certificate {entry.fingerprint} is already scheduled", "ALREADY_SCHEDULED"):
                session.add(ServerCertificateRow(
                    fingerprint=entry.fingerprint, certificate=entry.certificate,
                    key_path=entry.key_path, active_from=entry.active_from,
                    scheduled_at=entry.scheduled_at))
                session.flush()
            AuditRepository(session).append(SCHEDULED_EVENT, actor, subject, {
                "fingerprint": entry.fingerprint, "active_from": entry.active_from.isoformat(),
                "key_path": entry.key_path}, at)
            session.commit()
