"""The WS-Security replay cache and refusal audit, backed by the shared database.

Each call is its own short transaction, committed at once: a nonce must be visible to every
host as soon as the request that used it was accepted (DESIGN.md §3: nothing shared lives in
process memory). On PostgreSQL remembering a nonce is one statement, run autocommitted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.domain.audit import AuditEntry
from gateway.domain.clock import Clock
from gateway.errors import GatewayError

from .unit_of_work import SqlUnitOfWork


class SqlNonceStore:
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory

    def remember(self, digest: str, expires_at: datetime, now: datetime) -> bool:
        with SqlUnitOfWork(self._session_factory) as uow:
            if uow.session.get_bind().dialect.name == "postgresql":
                # One statement (``NonceRepository.remember``), atomic by itself: no BEGIN and
                # COMMIT round trips around it.
                uow.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            fresh = uow.nonces.remember(digest, expires_at, now)
            uow.commit()
        return fresh


class SqlRefusalAudit:
    """Writes one ``security.refused`` audit event per refused request."""

    def __init__(self, session_factory: Callable[[], Session], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock

    def __call__(self, error: GatewayError, details: Mapping[str, str]) -> None:
        with SqlUnitOfWork(self._session_factory) as uow:
            uow.audit.append("security.refused", details.get("remote", "") or "-",
                             details.get("path", "") or "-", dict(details), self._clock.now())
            uow.commit()


class SqlRefusalSummaryAudit:
    """Writes one ``security.refused.unauthenticated`` event per source summing its junk over an
    interval (``soap.refusals``): the evidence without one chain append per junk request, and
    all sources of one interval under one take of the chain's lock."""

    def __init__(self, session_factory: Callable[[], Session], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock

    def __call__(self, summaries: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        entries = [AuditEntry("security.refused.unauthenticated", source or "-", "-",
                              dict(details)) for source, details in summaries]
        with SqlUnitOfWork(self._session_factory) as uow:
            uow.audit.append_many(entries, self._clock.now())
            uow.commit()
