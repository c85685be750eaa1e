"""Hot statements run straight on the unit of work's own PostgreSQL connection (its driver).

Every WSCN notification costs its client two signed requests and the server about a dozen
statements (``bench/wscn.py``), each a built-once SQLAlchemy statement (``store.repositories``,
"statements built once"). Executed through the session, SQLAlchemy's execution machinery
(execution context, parameter and result processing, cursor result) cost about as much CPU as
the statement's own round trip on the driver. ``rows`` runs such a statement's SQL -- the text
SQLAlchemy compiles for it, compiled once -- on the same connection, in the same transaction,
prepared by the driver, and returns plain tuples. It is for PostgreSQL only; every caller keeps
its session path for SQLite.

What SQLAlchemy did on the way in and out is the caller's to do, and each caller's statements
need little: instants are bound through ``UTCDateTime`` (its checks: a naive one is refused),
and read back as aware UTC values (``utc``; the connection's time zone is UTC, ``store.engine``).

Errors are translated as SQLAlchemy would: a lost connection is invalidated (the pool connects
anew) and answered ``ServiceUnavailable``; any other driver error is raised as SQLAlchemy's own
exception class for it (``IntegrityError`` -> ``Conflict`` where the callers expect it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import ClauseElement
from sqlalchemy.dialects.postgresql.psycopg import dialect as postgresql_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gateway.errors import ServiceUnavailable

from .availability import MESSAGE as UNAVAILABLE
from .types import UTCDateTime

_COMPILED: dict[ClauseElement, tuple[str, dict[str, Any]]] = {}
"""PostgreSQL text and literal parameters of each statement (module-level, built-once
statements: a handful of entries for the process's life)."""


def postgresql_text(statement: ClauseElement, session: Session) -> tuple[str, dict[str, Any]]:
    """``statement`` as the driver's SQL text and the values of the literals it binds."""
    compiled = _COMPILED.get(statement)
    if compiled is None:
        sql = statement.compile(dialect=session.get_bind().dialect)
        compiled = _COMPILED.setdefault(statement, (sql.string, dict(sql.params)))
    return compiled


def rows(session: Session, statement: ClauseElement, parameters: Mapping[str, Any], *,
         binary: bool = False) -> tuple[list[tuple[Any, ...]], int]:
    """Run ``statement`` with ``parameters`` on ``session``'s connection: its rows (none for a
    statement that returns none) and the number of rows it touched. ``binary``: results in the
    driver's binary format (``bytea`` unencoded)."""
    import psycopg  # the postgresql dialect's driver

    sql, literals = postgresql_text(statement, session)
    values = {**literals, **parameters}
    connection = session.connection()
    driver: psycopg.Connection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
    try:
        with driver.cursor(binary=binary) as cursor:
            # The engine's ``before_cursor_execute`` listeners see it as one of SQLAlchemy's
            # (what tests count and EXPLAIN); none are registered in service.
            for listener in connection.dispatch.before_cursor_execute:
                listener(connection, cursor, sql, values, None, False)
            cursor.execute(sql, values, prepare=True)
            found = cursor.fetchall() if cursor.description is not None else []
            return found, cursor.rowcount
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        connection.invalidate(exc)  # below SQLAlchemy: tell the pool, as it would
        raise ServiceUnavailable(UNAVAILABLE,
                                 failure_class=f"database {type(exc).__name__}") from exc
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, values, exc, psycopg.Error,
                                  dialect=session.get_bind().dialect) from exc


_UTC_DATETIME = UTCDateTime()
_POSTGRESQL = postgresql_dialect()  # type: ignore[no-untyped-call]


def instant(value: datetime | None) -> datetime | None:
    """``value`` bound as a ``UTCDateTime`` column binds it (a naive instant is refused)."""
    return _UTC_DATETIME.process_bind_param(value, _POSTGRESQL)


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: datetime | None) -> datetime | None:
    """A ``timestamptz`` read back as ``UTCDateTime`` returns it: aware, in UTC."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)
