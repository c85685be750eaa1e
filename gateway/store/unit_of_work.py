"""The unit of work: one database transaction around one use case (cosmicpython pattern).

Services open it, use its repositories, and call ``commit()``; leaving the block without
committing rolls everything back, so a receipt batch commits whole or not at all (DESIGN.md §3).
Integrity violations surfacing at flush/commit (or escaping the block) become ``Conflict``;
a database that cannot be reached (connection refused or lost, pool exhausted) becomes
``ServiceUnavailable`` (issue 14: a fault with Retry-After, not the server's HTML 500).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.errors import Conflict

from .availability import unavailable_from, unavailable_on_failure
from .enrolled import EnrolledCertificateRepository
from .events import EventRepository
from .issuers import IssuerRegistryRepository
from .paging import AudienceMemo
from .receipts import ReceiptRepository
from .repositories import (
    AuditRepository,
    NonceRepository,
    NotificationRepository,
    OutageRepository,
    integrity_errors_as_conflict,
)
from .representation import VERSION_SEEN, PostalChannelRepository, RepresentationRepository

_CONFLICT_MESSAGE = "the change conflicts with data stored concurrently"


class SqlUnitOfWork:
    session: Session
    notifications: NotificationRepository
    outages: OutageRepository
    audit: AuditRepository
    nonces: NonceRepository
    representation: RepresentationRepository
    postal: PostalChannelRepository
    receipts: ReceiptRepository
    issuers: IssuerRegistryRepository
    enrolled: EnrolledCertificateRepository
    events: EventRepository

    def __init__(self, session_factory: Callable[[], Session],
                 registry_start: datetime | None = None,
                 audience_memo: AudienceMemo | None = None) -> None:
        self._session_factory = session_factory
        self._registry_start = registry_start
        self._audience_memo = audience_memo

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self.notifications = NotificationRepository(self.session, self._audience_memo)
        self.outages = OutageRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.nonces = NonceRepository(self.session)
        self.representation = RepresentationRepository(self.session, self._registry_start)
        self.postal = PostalChannelRepository(self.session)
        self.receipts = ReceiptRepository(self.session)
        self.issuers = IssuerRegistryRepository(self.session)
        self.enrolled = EnrolledCertificateRepository(self.session)
        self.events = EventRepository(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            try:
                self.session.rollback()  # a no-op after commit(); discards anything uncommitted
            finally:
                self.session.close()
        except SQLAlchemyError:
            if exc is None:  # the block succeeded; only the clean-up failed
                with unavailable_on_failure():
                    raise
            # otherwise the block's own error, handled below, says more
        if isinstance(exc, IntegrityError):
            raise Conflict(_CONFLICT_MESSAGE) from exc
        if exc is not None and (unavailable := unavailable_from(exc)) is not None:
            raise unavailable from exc

    def flush(self) -> None:
        with integrity_errors_as_conflict(_CONFLICT_MESSAGE):
            self.session.flush()

    def commit(self) -> None:
        with integrity_errors_as_conflict(_CONFLICT_MESSAGE):
            self.session.commit()
        self.session.info.pop(VERSION_SEEN, None)  # read in the transaction just ended

    def rollback(self) -> None:
        self.session.rollback()
