"""The WS-Security replay cache and refusal audit, backed by the shared database.

Each call is its own short transaction, committed at once: a nonce must be visible to every
host as soon as the request that used it was accepted (DESIGN.md §3: nothing shared lives in
process memory). On PostgreSQL remembering a nonce is one statement, run autocommitted
straight on a pooled connection's driver (a prepared statement): it runs on every request, and
a session, its transaction bookkeeping and the isolation-level switch cost four times the
statement itself (bench/wscn.py). The pool still pings a connection idle for a while before
handing it out (``store.engine``), and a connection that fails is invalidated and the request
answered SERVICE_UNAVAILABLE, as through a session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.domain.audit import AuditEntry
from gateway.domain.clock import Clock
from gateway.errors import GatewayError, ServiceUnavailable

from .availability import MESSAGE as UNAVAILABLE
from .availability import unavailable_on_failure
from .repositories import REMEMBER_NONCE_POSTGRESQL, NonceRepository, nonce_parameters
from .unit_of_work import SqlUnitOfWork


class SqlNonceStore:
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory
        bind = getattr(session_factory, "kw", {}).get("bind")
        self._postgresql: Engine | None = (
            bind if isinstance(bind, Engine) and bind.dialect.name == "postgresql" else None)

    def remember(self, digest: str, expires_at: datetime, now: datetime) -> bool:
        if self._postgresql is not None:
            return self._remember_postgresql(self._postgresql, digest, expires_at, now)
        with SqlUnitOfWork(self._session_factory) as uow:
            fresh = uow.nonces.remember(digest, expires_at, now)
            uow.commit()
        return fresh

    @staticmethod
    def _remember_postgresql(engine: Engine, digest: str, expires_at: datetime,
                             now: datetime) -> bool:
        import psycopg  # the postgresql dialect's driver

        parameters = nonce_parameters(digest, expires_at, now, NonceRepository.PURGE_BATCH)
        failures = (psycopg.OperationalError, psycopg.InterfaceError)
        try:
            # The pool, unlike a session, hands the driver's own errors back.
            with unavailable_on_failure():  # the pool's (a timeout): SERVICE_UNAVAILABLE
                pooled = engine.raw_connection()
        except failures as exc:  # no connection to be had
            raise _unavailable(exc) from exc
        try:
            driver: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
            driver.autocommit = True  # one statement, atomic by itself: no BEGIN, no COMMIT
            try:
                with driver.cursor() as cursor:
                    cursor.execute(REMEMBER_NONCE_POSTGRESQL, parameters, prepare=True)
                    return cursor.fetchone() is not None
            finally:
                driver.autocommit = False  # as the pool hands connections out
        except failures as exc:
            pooled.invalidate(exc)  # the pool connects anew next time
            raise _unavailable(exc) from exc
        finally:
            pooled.close()  # back to the pool


def _unavailable(error: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(UNAVAILABLE, failure_class=f"database {type(error).__name__}")


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
