"""``gateway audit verify`` on SQLite and PostgreSQL: an intact chain, then each kind of
tampering (modified, deleted, reordered) named by the first event that breaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from gateway import cli
from gateway.store.unit_of_work import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def run(database, capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["--database", database.url, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def chain(database, length: int = 4) -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        for index in range(length):
            uow.audit.append("test.event", "B12345674", f"subject-{index}", {"index": index},
                             T0 + timedelta(seconds=index))
        uow.commit()


def test_an_intact_chain_verifies(database, capsys):
    chain(database)
    code, out, _ = run(database, capsys, "audit", "verify")
    assert code == 0 and "intact: 4 event(s)" in out


def test_an_empty_chain_verifies(database, capsys):
    code, out, _ = run(database, capsys, "audit", "verify")
    assert code == 0 and "intact: 0 event(s)" in out


@pytest.mark.parametrize(("tamper", "first_bad"), [
    ("UPDATE audit_event SET event_type = 'test.forged' WHERE seq = 2", 2),
    ("DELETE FROM audit_event WHERE seq = 2", 3),
    (("UPDATE audit_event SET subject = CASE seq WHEN 2 THEN 'subject-2' ELSE 'subject-1' END "
      "WHERE seq IN (2, 3)"), 2),
])
def test_tampering_is_named_by_the_first_bad_event(database, capsys, tamper, first_bad):
    chain(database)
    with database.engine.begin() as connection:
        connection.execute(text(tamper))
    code, _, err = run(database, capsys, "audit", "verify")
    assert code == 1
    assert f"broken at event seq {first_bad} " in err
