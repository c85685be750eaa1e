"""Database unreachable -> ``ServiceUnavailable`` (the seam where driver errors are translated).

Which driver errors mean "the database cannot be reached now" rather than "this statement is
wrong": SQLAlchemy's ``OperationalError`` (connection refused, server closed the connection,
admin shutdown, SQLite's database-locked after its busy timeout), ``InterfaceError`` (connection
already closed), a ``DBAPIError`` that invalidated its connection, and ``TimeoutError`` (no
connection free in the pool). Everything else stays what it is (a bug is a bug).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from gateway.errors import ServiceUnavailable

MESSAGE = "the service is temporarily unavailable; retry later"


def unavailable_from(error: BaseException) -> ServiceUnavailable | None:
    """The ``ServiceUnavailable`` that ``error`` stands for, or None if it is something else."""
    if isinstance(error, ServiceUnavailable):
        return None
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeoutError)) or (
            isinstance(error, DBAPIError) and error.connection_invalidated):
        return ServiceUnavailable(MESSAGE, failure_class=f"database {type(error).__name__}")
    return None


@contextmanager
def unavailable_on_failure() -> Iterator[None]:
    """Re-raise a connectivity failure inside the block as ``ServiceUnavailable``."""
    try:
        yield
    except Exception as exc:
        unavailable = unavailable_from(exc)
        if unavailable is None:
            raise
        raise unavailable from exc
