"""``Membership`` compiles to a bare predicate on SQLite and PostgreSQL (issue 19).

SQLAlchemy compares a ``Boolean`` column element to true when it stands alone in a WHERE clause
on a dialect without a native boolean: ``x IN (SELECT value FROM json_each(?)) = 1``, which
SQLite cannot plan as an index search. These compile the statements the store builds, and
membership tests in every position a predicate takes (alone, in AND/OR, negated, in an UPDATE),
and require the membership text with nothing compared to it; the plans themselves are checked
in ``tests/integration/store/test_store_query_plans.py``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import and_, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from gateway.domain.listing import Audience, ListingFilter, PagePosition, Role
from gateway.store import paging
from gateway.store.membership import Membership
from gateway.store.paging import NOTIFICATION

DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}
MEMBERSHIP = {
    "sqlite": r"IN \(SELECT value FROM json_each\(\?\)\)",
    "postgresql": r"= ANY\(%\(param_\d+\)s::[A-Z0-9()]+\[\]\)",
}
COMPARED = re.compile(r"^\s*(=|!=|<>|IS)\s*(1|0|true|false)\b", re.IGNORECASE)
c = NOTIFICATION.c


def compiled(statement: Any, dialect: Dialect) -> str:
    return " ".join(str(statement.compile(dialect=dialect)).split())


def memberships(sql: str, backend: str) -> list[str]:
    """What follows each membership test in ``sql`` (empty list: there is none)."""
    return [sql[m.end():] for m in re.finditer(MEMBERSHIP[backend], sql)]


def assert_bare(sql: str, backend: str, count: int) -> None:
    after = memberships(sql, backend)
    assert len(after) == count, sql
    for rest in after:
        assert not COMPARED.match(rest), sql


def folded(audience: tuple[Audience, ...]) -> Any:
    """The page statement of an audience big enough to be folded into membership tests."""
    listing_filter = ListingFilter()
    branch_list = paging.branches(audience, listing_filter)
    assert len(branch_list) > paging.MAX_UNION_BRANCHES
    after = PagePosition(datetime(2026, 1, 1, tzinfo=UTC), 10)
    return paging.page_statement([c.id], branch_list, listing_filter, after, 1000)


MANY = paging.MAX_UNION_BRANCHES + 1
STATEMENTS: list[tuple[str, Any, int]] = [
    ("alone", select(c.id).where(Membership(c.id, [1, 2, 3])), 1),
    ("with others", select(c.id).where(Membership(c.id, [1]), c.status == "AVAILABLE"), 1),
    ("in or", select(c.id).where(or_(Membership(c.recipient, ["A"]),
                                     and_(Membership(c.ccc, ["B"]), c.kind == "X"))), 2),
    ("negated", select(c.id).where(not_(Membership(c.id, [1]))), 1),
    ("update", update(NOTIFICATION).where(Membership(c.id, [1, 2]), c.status == "AVAILABLE")
     .values(status="ACCEPTED"), 1),
    ("folded recipients", folded(tuple(Audience(f"B{n:08d}", Role.MANDATE)
                                       for n in range(MANY))), 1),
    ("folded cccs", folded(tuple(Audience(f"B{n:08d}", Role.RED, cccs=frozenset({f"28{n:010d}"}))
                                 for n in range(MANY))), 1),
    ("folded both", folded(
        tuple(Audience(f"B{n:08d}", Role.MANDATE) for n in range(MANY))
        + tuple(Audience(f"C{n:08d}", Role.RED, cccs=frozenset({f"28{n:010d}"}))
                for n in range(MANY))), 2),
]


@pytest.mark.parametrize("backend", sorted(DIALECTS))
@pytest.mark.parametrize(("name", "statement", "count"), STATEMENTS,
                         ids=[s[0] for s in STATEMENTS])
def test_membership_is_a_bare_predicate(backend: str, name: str, statement: Any,
                                        count: int) -> None:
    assert_bare(compiled(statement, DIALECTS[backend]), backend, count)


def test_negation_is_not_over_the_membership() -> None:
    for backend, dialect in DIALECTS.items():
        sql = compiled(select(c.id).where(not_(Membership(c.id, [1]))), dialect)
        assert re.search(r"WHERE NOT notification\.id " + MEMBERSHIP[backend] + "$", sql), sql


@pytest.mark.parametrize("backend", sorted(DIALECTS))
def test_the_whole_list_is_one_bound_parameter(backend: str) -> None:
    values = list(range(5000))
    statement = select(c.id).where(Membership(c.id, values))
    compiled_statement = statement.compile(dialect=DIALECTS[backend])
    ((name, bound),) = compiled_statement.params.items()
    assert bound == values
    # What reaches the driver: one JSON text on SQLite, one array on PostgreSQL.
    process = compiled_statement._bind_processors.get(name)
    sent = process(bound) if process else bound
    assert (json.loads(sent) if backend == "sqlite" else sent) == values



def test_a_folded_audience_filters_on_sqlite_and_is_left_to_the_planner_on_postgresql() -> None:
    statement = folded(tuple(Audience(f"B{n:08d}", Role.MANDATE) for n in range(MANY)))
    sqlite_sql = compiled(statement, DIALECTS["sqlite"])
    assert "+(notification.recipient) IN (SELECT value FROM json_each(?))" in sqlite_sql
    postgresql_sql = compiled(statement, DIALECTS["postgresql"])
    assert "WHERE notification.recipient = ANY(" in postgresql_sql, postgresql_sql
    assert "+" not in postgresql_sql


def test_an_id_list_is_searched_on_sqlite() -> None:
    sql = compiled(select(c.id).where(Membership(c.id, [1, 2])), DIALECTS["sqlite"])
    assert sql.endswith("WHERE notification.id IN (SELECT value FROM json_each(?))"), sql


def test_a_cached_compilation_is_run_with_each_statements_own_values() -> None:
    # The element is cacheable (its values are a traversed bound parameter): the second
    # statement reuses the first one's compiled SQL and must still find its own rows.
    from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert

    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True))
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(table), [{"id": n} for n in range(1, 11)])
        found = [sorted(connection.execute(select(table.c.id).where(
            Membership(table.c.id, wanted))).scalars()) for wanted in ([1, 2], [3], [9, 10, 11])]
    assert found == [[1, 2], [3], [9, 10]]
    engine.dispose()
