"""Engines and sessions for SQLite (the default, WAL mode) and PostgreSQL (production).

SQLite: every connection gets ``journal_mode=WAL`` (readers never block the writer),
``foreign_keys=ON`` (off by default in SQLite), a ``busy_timeout`` (wait for the write lock instead
of failing at once) and ``synchronous=NORMAL`` (durable at checkpoints, the usual WAL setting).
Every transaction starts with ``BEGIN IMMEDIATE``: it takes the single write lock up front, so a
read-then-write unit of work (lock a notification, check it, save it) cannot lose a race half way
with ``SQLITE_BUSY_SNAPSHOT``; that write lock is what stands in for ``SELECT … FOR UPDATE``. The
driver's own implicit transaction handling is switched off for this (the SQLAlchemy pysqlite
recipe), which also makes SAVEPOINTs work.

PostgreSQL: a pooled connection idle for more than ``PING_AFTER_IDLE_S`` is pinged before use
and replaced if dead (hosts survive a database restart; ``pool_pre_ping`` pinged before EVERY
use, a round trip per unit of work -- several per request, bench/wscn.py), a connect timeout (an
unreachable server must fail a request in seconds, as SERVICE_UNAVAILABLE, not hang its thread),
every session in UTC, and an optional ``schema`` pinned through ``search_path`` (used by tests
and benchmarks for isolation).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the lock before giving up."""

CONNECT_TIMEOUT_S = 5
"""How long a PostgreSQL connection attempt may take (libpq ``connect_timeout``)."""

PING_AFTER_IDLE_S = 1.0
"""A pooled PostgreSQL connection unused for longer than this is pinged when checked out.

One used within the last second is not: it answered a moment ago. If the database went away in
that moment, the statement fails instead of the ping -- a disconnect, which invalidates the
whole pool, and the request is answered SERVICE_UNAVAILABLE like every request during an
outage; a database restart takes longer than this, so after one every pooled connection is
pinged (and replaced) before its first use."""

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def normalise_url(url: str) -> URL:
    """Parse ``url``; plain ``postgresql://`` (and ``postgres://``) means the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine_for(url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """Build the engine for ``url`` with the settings this module's docstring explains.

    ``schema`` (PostgreSQL only) pins ``search_path`` to that one schema, so unqualified table
    names, including alembic's version table, live there.
    """
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("SQLite has no schemas")
        return _sqlite_engine(parsed, echo=echo)
    if backend == "postgresql":
        return _postgresql_engine(parsed, schema=schema, echo=echo)
    raise ValueError(f"unsupported database backend {backend!r} (use sqlite or postgresql)")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (repositories return plain values)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; "begin" below emits our own BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def url_with_schema(url: str, schema: str) -> str:
    """``url`` with ``search_path`` pinned to ``schema`` in its query string, so that anything
    handed only the URL (a CLI, a second engine) lands in the same schema."""
    _check_schema(schema)
    parsed = normalise_url(url)
    options = " ".join(filter(None, [_url_options(parsed), f"-csearch_path={schema}"]))
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def _check_schema(schema: str) -> None:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")


def _url_options(url: URL) -> str:
    value = url.query.get("options", "")
    return " ".join(value) if isinstance(value, tuple) else value


def _postgresql_engine(url: URL, *, schema: str | None, echo: bool) -> Engine:
    # connect_args would replace options given in the URL, so merge them (URL's first).
    options = [o for o in (_url_options(url), "-ctimezone=UTC") if o]
    if schema is not None:
        _check_schema(schema)
        options.append(f"-csearch_path={schema}")
    engine = create_engine(
        url.difference_update_query(["options"]),
        echo=echo,
        connect_args={"options": " ".join(options), "connect_timeout": CONNECT_TIMEOUT_S},
    )

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since <= PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool drops it and connects anew (a failure there: SERVICE_UNAVAILABLE).
            raise DisconnectionError(f"pooled connection is dead: {exc}") from exc

    return engine
