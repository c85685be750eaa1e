"""``expression IN (list)`` with the whole list bound as ONE parameter (issue 19).

Why one parameter: a page of 1,000 items reads its documents with 1,000 ids, a receipt moves up
to 1,000 items, a big agent's audience folds thousands of recipients. As 1,000 placeholders such
a statement is re-parsed per call (psycopg caches no query longer than 4 KiB) and sent value by
value; as one parameter it is one array (PostgreSQL) or one JSON text (SQLite).

How it compiles, always as a bare predicate:

- PostgreSQL: ``expression = ANY(:values::TYPE[])`` -- an index condition on ``expression``'s
  index (one probe per value), or a hashed filter when the planner walks another index;
- SQLite: ``expression IN (SELECT value FROM json_each(:values))`` -- one ``SEARCH`` of
  ``expression``'s index per value (the list becomes an ephemeral index when it is probed
  instead).

``search=False`` is for a list that only filters rows another index already reads in order (a
folded audience, ``paging.folded_audience``): SQLite's planner cannot tell a list of 5 values from
one of 5,000 and would search the operand's index per value, then sort every match; there the
operand is written ``+expression`` (SQLite's documented way to keep a term from choosing the
index), so the page walks the listing index and stops after ``limit`` rows. PostgreSQL sees the
array and chooses by cost, so it gets the plain predicate.

Why ``Membership`` says it is a predicate (``_is_implicitly_boolean``): a ``ColumnElement`` of
type ``Boolean`` used as a WHERE clause is otherwise compared to true on dialects without a
native boolean (SQLAlchemy's ``AsBoolean``), and SQLite cannot plan ``x IN (…) = 1`` as an index
search: it scanned the whole of ``notification_document`` for every page read (issue 19).
``tests/unit/store/test_membership_sql.py`` pins the compiled text on both dialects and
``tests/integration/store/test_store_query_plans.py`` the plans of every statement that uses it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import Boolean, ColumnElement, String, TypeDecorator, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeEngine


class _ValueList(TypeDecorator[list[Any]]):
    """One bound list: an array of the operand's type on PostgreSQL, a JSON text on SQLite."""

    impl = String
    cache_ok = True

    def __init__(self, item_type: TypeEngine[Any]) -> None:
        super().__init__()
        self.item_type = item_type

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(self.item_type))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps(value)


class Membership(ColumnElement[bool]):
    """``expression IN values`` with ``values`` bound as one parameter (see the module)."""

    # The values are a bound parameter of the element (traversed below), so a cached
    # compilation is reused with each statement's own values: SQLAlchemy's statement cache
    # applies (recompiling every id-list statement cost milliseconds per call).
    inherit_cache = True
    _traverse_internals: ClassVar[list[tuple[str, InternalTraversal]]] = [
        ("operand", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
        ("search", InternalTraversal.dp_boolean),
    ]
    type = Boolean()
    # A predicate like ``a IN b``: never wrapped in ``= 1`` / ``= true`` (nor ``= 0`` when
    # negated) by SQLAlchemy; see the module docstring for why that matters.
    _is_implicitly_boolean = True

    def __init__(self, expression: ColumnElement[Any], values: Sequence[Any] | None = None, *,
                 search: bool = True, parameter: str | None = None) -> None:
        """``values`` bound into the statement; or, for a statement built once and executed
        many times (its compilation and cache key are then computed once: ``NotificationRepository``'s
        hot reads), none here and the list given at execution as ``parameter``."""
        if (values is None) == (parameter is None):
            raise ValueError("give either values or the name of the parameter that holds them")
        self.operand = expression
        self.values = (bindparam(None, list(values), type_=_ValueList(expression.type),
                                 unique=True) if values is not None
                       else bindparam(parameter, type_=_ValueList(expression.type)))
        self.search = search
        """False: only a filter on rows read through another index (see the module)."""


@compiles(Membership)
def _membership_json_each(element: Membership, compiler: Any, **kw: Any) -> str:
    operand = compiler.process(element.operand, **kw)
    if not element.search:
        operand = f"+({operand})"
    return (f"{operand} IN "
            f"(SELECT value FROM json_each({compiler.process(element.values, **kw)}))")


@compiles(Membership, "postgresql")
def _membership_any(element: Membership, compiler: Any, **kw: Any) -> str:
    return (f"{compiler.process(element.operand, **kw)} = "
            f"ANY({compiler.process(element.values, **kw)})")
