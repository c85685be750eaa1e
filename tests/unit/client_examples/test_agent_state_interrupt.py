"""The batch agent's state file after a Ctrl-C that lands inside a transaction's own BEGIN.

Python delivers a SIGINT between two bytecodes, so it can arrive just after SQLite ran ``BEGIN
IMMEDIATE`` in C and before the transaction's block began. The interrupted run's shutdown must
still be able to record what finished (a CI run of the interrupted-agent test saw
``cannot start a transaction within a transaction`` there and exit 1 instead of 130).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway.client.state import AgentState


class InterruptedAfterBegin:
    """The state's connection, with a KeyboardInterrupt landing right after the next BEGIN."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.armed = True

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        cursor = self.connection.execute(sql, *args)
        if self.armed and sql.startswith("BEGIN"):
            self.armed = False
            raise KeyboardInterrupt
        return cursor

    @property
    def in_transaction(self) -> bool:
        return self.connection.in_transaction


def committed(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as other:
        return dict(other.execute("SELECT key, value FROM meta").fetchall())


def test_an_interrupt_just_after_begin_leaves_no_transaction_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    state = AgentState(path)
    real = state._db
    state._db = InterruptedAfterBegin(real)  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt), state.transaction() as db:
        db.execute("INSERT INTO meta VALUES ('never', 'written')")
    assert not real.in_transaction
    # what the shutdown of the interrupted run then records
    with state.transaction() as db:
        db.execute("INSERT INTO meta VALUES ('finished', 'recorded')")
    assert committed(path) == {"finished": "recorded"}
    state._db = real
    state.close()


def test_a_transaction_left_open_by_an_interrupt_is_rolled_back_not_committed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    state = AgentState(path)
    # as if a Ctrl-C had cut a block off between its writes and its COMMIT
    state._db.execute("BEGIN IMMEDIATE")
    state._db.execute("INSERT INTO meta VALUES ('half', 'written')")
    with state.transaction() as db:
        db.execute("INSERT INTO meta VALUES ('next', 'recorded')")
    assert committed(path) == {"next": "recorded"}
    state.close()
