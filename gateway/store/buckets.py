"""Token buckets shared by the workers of one host: a small SQLite file (issue 14).

Each ``take`` is one ``BEGIN IMMEDIATE`` transaction on a file in the data directory (WAL,
``synchronous=OFF``: the buckets are worth nothing after a crash, so nothing is fsynced); the
write lock serialises the workers, a transaction lasts tens of microseconds. Every host has its
own file, so across N hosts behind a balancer a principal gets at most N times its rate (the
documented tolerance; README "Rate limits"). If the file cannot be used (locked longer than the
busy timeout, disk full) the request is let through and the failure logged: the limiter
protects capacity, it is not an authorisation.

:class:`ProcessBuckets` is the in-process variant for the per-source-address limit before the
gate (cheaper; per worker, so a source gets workers x its rate at most).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from gateway.domain.rates import BucketState, Rate, take
from gateway.logs import LogThrottle

log = logging.getLogger("gateway.limits")
_throttled = LogThrottle(log, interval_s=60.0)

_SCHEMA = ("CREATE TABLE IF NOT EXISTS bucket (key TEXT PRIMARY KEY, tokens REAL NOT NULL, "
           "updated REAL NOT NULL)")


class SharedBuckets:
    """Buckets in a SQLite file every worker of the host opens (one connection per thread)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection()  # create the file and table now, not under the first request

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, timeout=0.5, isolation_level=None,
                                         check_same_thread=True)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute(_SCHEMA)
            self._local.connection = connection
        return connection

    def take(self, key: str, rate: Rate, cost: float = 1.0, *, force: bool = False) -> float:
        """Take ``cost`` tokens from ``key``'s bucket: 0.0, or the seconds until they are
        back (``domain.rates.take``; ``force``: taken anyway)."""
        now = self._clock()
        try:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                row = connection.execute("SELECT tokens, updated FROM bucket WHERE key = ?",
                                         (key,)).fetchone()
                state = BucketState(row[0], row[1]) if row else None
                after, wait = take(state, rate, now, cost, force=force)
                connection.execute(
                    "INSERT INTO bucket (key, tokens, updated) VALUES (?, ?, ?) ON CONFLICT(key)"
                    " DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated",
                    (key, after.tokens, after.updated))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            _throttled.log(logging.WARNING, "shared-buckets",
                           "rate-limit buckets unusable (%s): request let through", exc)
            return 0.0
        return wait


class ProcessBuckets:
    """Buckets in this process's memory, at most ``capacity`` keys (least recently used go)."""

    def __init__(self, capacity: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._states: OrderedDict[str, BucketState] = OrderedDict()

    def peek(self, key: str, rate: Rate) -> float:
        """Seconds until ``key`` has a token (0.0 if it has one now); takes nothing."""
        now = self._clock()
        with self._lock:
            state = self._states.get(key)
        if state is None:
            return 0.0
        tokens = min(float(rate.burst), state.tokens + (now - state.updated) * rate.per_second)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate.per_second

    def take(self, key: str, rate: Rate) -> float:
        now = self._clock()
        with self._lock:
            after, wait = take(self._states.get(key), rate, now)
            self._states[key] = after
            self._states.move_to_end(key)
            while len(self._states) > self._capacity:
                self._states.popitem(last=False)
        return wait
