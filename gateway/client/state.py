"""The batch agent's local state: one SQLite file (stdlib ``sqlite3``), the agent's memory.

Why SQLite: every change below is one transaction, so a run killed at any instant (SIGKILL
included) leaves either the old or the new state, never half of one; WAL mode with
``synchronous=FULL`` keeps committed transactions across a power cut as well.

What it records, and why each fact lets a restart avoid repeating work:

- ``item``: every notification or communication the listing showed (its metadata as JSON), the
  last status the server reported, the batch it is in, its outcome and registration number once
  a receipt covers it, and whether its archive entry is complete.
- ``batch``: each acknowledgement from PrepareReceipt (``prepared``), then **the exact signed
  bytes before they are sent** (``signed``), then ``done`` with the registration number. A batch
  found ``signed`` on restart is submitted again with the same bytes: the server answers with the
  original receipt if it already registered it, so nothing is ever signed twice. A ``prepared``
  batch was never sent: it is dropped and its notifications are prepared again.
- ``document``: each document's expected SHA-256 and, once written to the archive, its path.
- ``receipt``: each stored server receipt, by registration number.
- ``server_certificate``: the server certificates announced by ``GetServerCertificates`` over a
  verified response (``server_certs``), with the instant each signs from: a later run accepts
  them without asking again, and a ``--server-cert`` changed to one of them keeps this state.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS item (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL,              -- last status the server reported (or GONE)
    metadata TEXT NOT NULL,            -- NotificationInfo as JSON
    seen_run INTEGER NOT NULL,         -- last run whose listing showed it
    batch_id TEXT,                     -- open acknowledgement it is in
    outcome TEXT,                      -- from the receipt that made it final
    registration_number TEXT,
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS item_status ON item (status, archived);
CREATE INDEX IF NOT EXISTS item_archived ON item (archived, kind);
CREATE TABLE IF NOT EXISTS document (
    notification_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    path TEXT,                          -- relative to the archive, once written
    PRIMARY KEY (notification_id, position)
);
CREATE TABLE IF NOT EXISTS batch (
    receipt_id TEXT PRIMARY KEY,
    decision TEXT NOT NULL,
    state TEXT NOT NULL,               -- prepared | signed | done | dropped
    acknowledgement BLOB NOT NULL,
    signed BLOB,
    registration_number TEXT
);
CREATE TABLE IF NOT EXISTS server_certificate (
    sha256 TEXT PRIMARY KEY,
    certificate BLOB NOT NULL,         -- DER
    active_from TEXT NOT NULL          -- ISO 8601, UTC
);
CREATE TABLE IF NOT EXISTS receipt (
    registration_number TEXT PRIMARY KEY,
    csv_code TEXT NOT NULL,
    decision TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    path TEXT NOT NULL
);
"""


SERVER_CERTIFICATE_KEY = "server_certificate_sha256"
"""The identity key naming the pinned server certificate (``bind``)."""

WAIVED = ""
"""``document.path`` of a document the agent will not fetch (its right does not include it)."""


class StateMismatch(Exception):
    """The state file belongs to another identity or service, or another agent is using it."""


@dataclass(frozen=True)
class ReceiptRecord:
    """A server receipt as the state file records it."""

    registration_number: str
    csv_code: str
    decision: str
    issued_at: str
    path: str
    outcomes: dict[int, str]


@dataclass(frozen=True)
class OpenBatch:
    receipt_id: str
    decision: str
    state: str
    signed: bytes | None
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Entry:
    """An item's archive entry as the state knows it."""

    metadata: dict[str, Any]
    status: str
    registration_number: str | None
    receipt: tuple[str, str, str] | None  # path, CSV code, issue time of its stored receipt
    files: dict[int, str]  # written documents by position


@dataclass(frozen=True)
class PendingDocument:
    notification_id: int
    position: int
    sha256: str
    size: int
    recipient: str
    name: str


class AgentState:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # One agent per state file (and so per archive): a second one would redo the first
        # one's work. flock is independent of SQLite's own fcntl locks and ends with the process.
        self._lock = path.open("ab")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock.close()
            raise StateMismatch(f"another batch agent is using {path}") from exc
        # isolation_level=None: transactions are explicit (``transaction()``), never implicit.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self.run = 0

    def close(self) -> None:
        self._db.close()
        self._lock.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. A Ctrl-C can land between any two bytecodes, also just after
        BEGIN or COMMIT ran in C: a transaction left open that way is rolled back (its work
        was never committed, as if the process had been killed there), so the interrupted
        run's shutdown can still record what finished."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield self._db
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- identity and runs -------------------------------------------------------------------

    def bind(self, identity: dict[str, str]) -> None:
        """Refuse a state file made for another certificate or service; count the runs."""
        stored = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        known_servers = {row[0] for row in self._db.execute(
            "SELECT sha256 FROM server_certificate")}
        for key, value in identity.items():
            if key == SERVER_CERTIFICATE_KEY and value in known_servers:
                identity = {**identity, key: stored.get(key, value)}  # announced: same server
                continue
            if key in stored and stored[key] != value:
                raise StateMismatch(f"state file {self.path} was made with {key}={stored[key]!r},"
                                    f" not {value!r}; use another --state/--archive")
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                           [*identity.items(), ("schema", SCHEMA_VERSION),
                            ("runs", str(int(stored.get("runs", "0")) + 1))])
        self.run = int(stored.get("runs", "0")) + 1

    # -- server certificates ----------------------------------------------------------------

    def server_certificates(self) -> list[tuple[bytes, datetime]]:
        """(DER, active from) of every announced server certificate recorded."""
        return [(bytes(der), datetime.fromisoformat(active_from)) for der, active_from in
                self._db.execute("SELECT certificate, active_from FROM server_certificate "
                                 "ORDER BY active_from")]

    def record_server_certificates(self, entries: Iterable[tuple[str, bytes, datetime]]) -> None:
        """Record announced certificates (sha256, DER, active from) learnt over a verified
        response."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO server_certificate (sha256, certificate, "
                           "active_from) VALUES (?, ?, ?)",
                           [(sha256, der, active_from.isoformat())
                            for sha256, der, active_from in entries])

    # -- listing -----------------------------------------------------------------------------

    def record_listing(self, items: Sequence[dict[str, Any]]) -> None:
        """Insert new items, refresh the status of known ones, mark all as seen in this run."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO item (id, kind, recipient, role, status, metadata, seen_run) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "status = CASE WHEN item.outcome IS NULL THEN excluded.status "
                "ELSE item.status END, seen_run = excluded.seen_run",
                [(item["id"], item["kind"], item["recipient"], item["role"], item["status"],
                  orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode(), self.run)
                 for item in items])
            db.executemany(
                "INSERT OR IGNORE INTO document (notification_id, position, name, sha256, "
                "size) VALUES (?, ?, ?, ?, ?)",
                [(item["id"], d["position"], d["name"], d["sha256"], d["size"])
                 for item in items for d in item["documents"]])

    def set_status(self, statuses: dict[int, str]) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE item SET status = ? WHERE id = ?",
                           [(status, item_id) for item_id, status in statuses.items()])

    def metadata(self, item_id: int) -> dict[str, Any]:
        row = self._db.execute("SELECT metadata FROM item WHERE id = ?", (item_id,)).fetchone()
        return dict(orjson.loads(row[0]))

    def undecided(self, exclude: set[int]) -> list[dict[str, Any]]:
        """Pending notifications in no open batch (the caller drops those it chose to skip)."""
        rows = self._db.execute(
            "SELECT id, metadata FROM item WHERE kind = 'NOTIFICATION' AND status = 'AVAILABLE' "
            "AND batch_id IS NULL AND outcome IS NULL ORDER BY id").fetchall()
        return [orjson.loads(metadata) for item_id, metadata in rows if item_id not in exclude]

    def unseen_pending(self, role: str | None, principal: str | None) -> list[int]:
        """Items this run's listing should have shown (same filters) but did not: something
        changed them on the server (or a receipt the agent never recorded did)."""
        query = ("SELECT id FROM item WHERE status = 'AVAILABLE' AND outcome IS NULL "
                 "AND batch_id IS NULL AND seen_run < ?")
        parameters: list[Any] = [self.run]
        if role:
            query += " AND role = ?"
            parameters.append(role)
        if principal:
            query += " AND recipient = ?"
            parameters.append(principal)
        return [row[0] for row in self._db.execute(query, parameters)]

    # -- batches -----------------------------------------------------------------------------

    def record_prepared(self, receipt_id: str, decision: str, acknowledgement: bytes,
                        ids: Sequence[int]) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO batch (receipt_id, decision, state, acknowledgement) "
                       "VALUES (?, ?, 'prepared', ?)", (receipt_id, decision, acknowledgement))
            db.executemany("UPDATE item SET batch_id = ? WHERE id = ?",
                           [(receipt_id, item_id) for item_id in ids])

    def record_signed(self, receipt_id: str, signed: bytes) -> None:
        with self.transaction() as db:
            db.execute("UPDATE batch SET state = 'signed', signed = ? WHERE receipt_id = ?",
                       (signed, receipt_id))

    def drop_batch(self, receipt_id: str) -> list[int]:
        """Forget an acknowledgement that was never registered; its items are free again."""
        with self.transaction() as db:
            ids = [row[0] for row in db.execute("SELECT id FROM item WHERE batch_id = ?",
                                                (receipt_id,))]
            db.execute("UPDATE batch SET state = 'dropped' WHERE receipt_id = ?", (receipt_id,))
            db.execute("UPDATE item SET batch_id = NULL WHERE batch_id = ?", (receipt_id,))
        return ids

    def open_batches(self) -> list[OpenBatch]:
        batches = []
        for receipt_id, decision, state, signed in self._db.execute(
                "SELECT receipt_id, decision, state, signed FROM batch "
                "WHERE state IN ('prepared', 'signed') ORDER BY rowid").fetchall():
            ids = tuple(row[0] for row in self._db.execute(
                "SELECT id FROM item WHERE batch_id = ? ORDER BY id", (receipt_id,)))
            batches.append(OpenBatch(receipt_id, decision, state, signed, ids))
        return batches

    def has_receipt(self, registration_number: str) -> bool:
        return self._db.execute("SELECT 1 FROM receipt WHERE registration_number = ?",
                                (registration_number,)).fetchone() is not None

    def record_receipts(self, receipts: list[ReceiptRecord], receipt_id: str | None) -> None:
        """One transaction: every receipt one acknowledgement yielded (the server issues one per
        recipient), the batch done, every covered item final."""
        final_status = {"ACCEPTED": "ACCEPTED", "REJECTED": "REJECTED", "EXPIRED": "EXPIRED"}
        with self.transaction() as db:
            for receipt in receipts:
                db.execute("INSERT OR IGNORE INTO receipt (registration_number, csv_code, "
                           "decision, issued_at, path) VALUES (?, ?, ?, ?, ?)",
                           (receipt.registration_number, receipt.csv_code, receipt.decision,
                            receipt.issued_at, receipt.path))
            if receipt_id is not None and receipts:
                db.execute("UPDATE batch SET state = 'done', registration_number = ? "
                           "WHERE receipt_id = ?", (receipts[0].registration_number, receipt_id))
                db.execute("UPDATE item SET batch_id = NULL WHERE batch_id = ?", (receipt_id,))
            final, other = [], []
            for receipt in receipts:
                for item_id, outcome in receipt.outcomes.items():
                    if outcome in ("ACCEPTED", "REJECTED"):
                        final.append((outcome, final_status[outcome],
                                      receipt.registration_number, item_id))
                    else:  # EXPIRED; ALREADY_FINAL, NOT_AUTHORISED, NOT_FOUND: ask the server
                        other.append(("EXPIRED" if outcome == "EXPIRED" else "UNKNOWN", item_id))
            db.executemany("UPDATE item SET outcome = ?, status = ?, registration_number = ? "
                           "WHERE id = ?", final)
            db.executemany("UPDATE item SET status = ? WHERE id = ? AND outcome IS NULL", other)

    def unknown_status(self) -> list[int]:
        return [row[0] for row in self._db.execute(
            "SELECT id FROM item WHERE status = 'UNKNOWN' ORDER BY id")]

    def needing_receipt(self) -> list[int]:
        """Final on the server by a receipt the agent has not stored (decided elsewhere, or a
        receipt whose answer the agent never recorded)."""
        return [row[0] for row in self._db.execute(
            "SELECT id FROM item WHERE status IN ('ACCEPTED', 'REJECTED') "
            "AND registration_number IS NULL AND batch_id IS NULL ORDER BY id")]

    # -- documents and the archive -------------------------------------------------------------

    def documents_to_download(self, ids: Sequence[int] | None = None) -> list[PendingDocument]:
        """Documents of accepted notifications and of communications not yet in the archive
        (of ``ids`` only, when given: the callers know what just changed)."""
        query = ("SELECT d.notification_id, d.position, d.sha256, d.size, i.recipient, d.name "
                 "FROM document d JOIN item i ON i.id = d.notification_id "
                 "WHERE d.path IS NULL AND ((i.kind = 'NOTIFICATION' AND i.status = 'ACCEPTED' "
                 "AND i.registration_number IS NOT NULL) "
                 "OR (i.kind = 'COMMUNICATION' AND i.status IN ('AVAILABLE', 'READ')))")
        return [PendingDocument(*row) for row in self._select(query, "d.notification_id", ids)]

    def _select(self, query: str, column: str, ids: Sequence[int] | None) -> list[Any]:
        if ids is None:
            return self._db.execute(query).fetchall()
        rows: list[Any] = []
        for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[start:start + 500]
            rows += self._db.execute(
                f"{query} AND {column} IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
        return rows

    def record_documents(self, written: Iterable[tuple[int, int, str]]) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE document SET path = ? WHERE notification_id = ? "
                           "AND position = ?", [(path, n, p) for n, p, path in written])

    def forget_document(self, notification_id: int, position: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE document SET path = NULL WHERE notification_id = ? "
                       "AND position = ?", (notification_id, position))
            db.execute("UPDATE item SET archived = 0 WHERE id = ?", (notification_id,))

    def recorded_documents(self) -> list[tuple[int, int, str, int]]:
        return self._db.execute("SELECT notification_id, position, path, size FROM document "
                                "WHERE path IS NOT NULL AND path != ?", (WAIVED,)).fetchall()

    def waive_documents(self, ids: Sequence[int]) -> None:
        """These items' content is not to be fetched (accepted with --accept-without-content by
        a certificate that may not open it): their entries are archived with metadata only."""
        with self.transaction() as db:
            db.executemany("UPDATE document SET path = ? WHERE notification_id = ? "
                           "AND path IS NULL", [(WAIVED, item_id) for item_id in ids])

    def ready_to_archive(self, ids: Sequence[int] | None = None) -> list[int]:
        """Final (or read) items whose documents are all written and whose entry is not."""
        query = ("SELECT i.id FROM item i WHERE i.archived = 0 AND ("
                 "(i.kind = 'NOTIFICATION' AND i.registration_number IS NOT NULL) "
                 "OR (i.kind = 'COMMUNICATION' AND i.status IN ('AVAILABLE', 'READ')) "
                 "OR (i.status = 'EXPIRED')) "
                 "AND NOT EXISTS (SELECT 1 FROM document d WHERE d.notification_id = i.id "
                 "AND d.path IS NULL AND (i.outcome = 'ACCEPTED' OR i.kind = 'COMMUNICATION'))")
        return [row[0] for row in self._select(query, "i.id", ids)]

    def entries(self, item_ids: Sequence[int]) -> list[Entry]:
        """What the archive entries of these items say, read in bulk (a thousand per batch)."""
        documents: dict[int, dict[int, str]] = {}
        for notification_id, position, path in self._select(
                "SELECT notification_id, position, path FROM document WHERE path IS NOT NULL "
                "AND path != ''", "notification_id", item_ids):
            documents.setdefault(notification_id, {})[position] = path
        rows = self._select(
            "SELECT i.id, i.metadata, i.status, i.registration_number, r.path, r.csv_code, "
            "r.issued_at FROM item i LEFT JOIN receipt r "
            "ON r.registration_number = i.registration_number WHERE 1 = 1", "i.id", item_ids)
        return [Entry(orjson.loads(metadata), status, number,
                      (path, csv_code, issued_at) if path is not None else None,
                      documents.get(item_id, {}))
                for item_id, metadata, status, number, path, csv_code, issued_at in rows]

    def archived_entries(self) -> list[tuple[int, str]]:
        """(id, recipient) of every item whose notification.json was written."""
        return self._db.execute("SELECT id, json_extract(metadata, '$.recipient') FROM item "
                                "WHERE archived = 1").fetchall()

    def unarchive(self, item_ids: Sequence[int]) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE item SET archived = 0 WHERE id = ?",
                           [(item_id,) for item_id in item_ids])

    def mark_archived(self, item_ids: Sequence[int], status: dict[int, str]) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE item SET archived = 1 WHERE id = ?",
                           [(item_id,) for item_id in item_ids])
            db.executemany("UPDATE item SET status = ? WHERE id = ?",
                           [(s, item_id) for item_id, s in status.items()])

    # -- reporting -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        def one(query: str) -> int:
            return int(self._db.execute(query).fetchone()[0])
        return {
            "accepted": one("SELECT count(*) FROM item WHERE outcome = 'ACCEPTED'"),
            "rejected": one("SELECT count(*) FROM item WHERE outcome = 'REJECTED'"),
            "read": one("SELECT count(*) FROM item WHERE kind = 'COMMUNICATION' "
                        "AND archived = 1"),
            "pending": one("SELECT count(*) FROM item WHERE status = 'AVAILABLE' "
                           "AND kind = 'NOTIFICATION'"),
            "expired": one("SELECT count(*) FROM item WHERE status = 'EXPIRED'"),
            "archived": one("SELECT count(*) FROM item WHERE archived = 1"),
            "documents": one("SELECT count(*) FROM document WHERE path IS NOT NULL"),
            "bytes": one("SELECT coalesce(sum(size), 0) FROM document WHERE path IS NOT NULL"),
            "receipts": one("SELECT count(*) FROM receipt"),
        }
