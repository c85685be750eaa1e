"""SQL for keyset-paginated listings (DESIGN.md §3).

A page is the first ``limit`` rows, in ``(made_available_at, id)`` order, strictly after the
previous page's last position, among the rows that match ANY audience clause and ALL filters.
The order is total (``id`` breaks ties), so rows added while a client pages through are never
returned twice, and rows that existed when it started are never skipped.

To make a 1000-row page cost the same in a store of millions as in one of hundreds, every clause
is answered by an index range scan that stops after ``limit`` rows:

- the audience is split into *branches*, each one equality on an indexed column followed by
  ``(made_available_at, id)``: ``recipient = ?`` uses ``(recipient, made_available_at, id)``;
  a clause restricted to CCCs becomes one branch per CCC on ``(ccc, made_available_at, id)``;
- one branch is queried directly; several are queried each with its own ``ORDER BY … LIMIT`` and
  merged by a ``UNION`` (which also drops rows two clauses both admit), then cut to ``limit``.
  An ``OR`` of clauses instead would make the database collect and sort every match.
- the keyset condition is a row-value comparison, which both backends turn into an index bound
  (see ``keyset`` for the measurements).
- beyond ``MAX_UNION_BRANCHES`` (an agent holding thousands of mandates) branches of the same
  shape are folded into one membership test (``recipient IN (…)`` /
  ``recipient || '|' || ccc IN (…)``, the list bound as one parameter: ``store.membership``;
  hashed by PostgreSQL, an ephemeral index in SQLite) and the page is read in
  ``(made_available_at, id)`` order from that index, filtering: such an audience covers much of
  the store, so the walk stops early (bench/authz_listing.py; ``folded_audience`` has the
  measurements).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    literal,
    not_,
    or_,
    select,
    tuple_,
    union,
)

from gateway.domain.listing import Audience, ListingFilter, PagePosition
from gateway.domain.model import Category, Issuer, ItemKind, Status

from .membership import Membership
from .models import BigId, NotificationRow
from .types import UTCDateTime

NOTIFICATION = cast(Table, NotificationRow.__table__)

MAX_UNION_BRANCHES = 64
"""Beyond this many branches one ``OR`` query is cheaper to plan than a huge ``UNION``."""


class Branch(NamedTuple):
    """One index-friendly part of an audience: rows of ``recipient`` (optionally one ``ccc``,
    some ``issuers``, NORMAL category only). A tuple: thousands are hashed per request."""

    recipient: str
    ccc: str | None = None
    issuers: tuple[Issuer, ...] | None = None
    normal_only: bool = False
    accepted_by: str | None = None

    def sort_key(self) -> tuple[str, str, tuple[str, ...], bool, str]:
        issuers = tuple(i.value for i in self.issuers) if self.issuers is not None else ()
        return (self.recipient, self.ccc or "", issuers, self.normal_only, self.accepted_by or "")

    @property
    def whole_recipient(self) -> bool:
        """Every item of the recipient: any other branch for it adds nothing."""
        return (self.ccc is None and self.issuers is None and not self.normal_only
                and self.accepted_by is None)

    @property
    def shape(self) -> tuple[bool, tuple[Issuer, ...] | None, bool, str | None]:
        """Everything but the recipient and CCC: branches of one shape fold into one test."""
        return (self.ccc is not None, self.issuers, self.normal_only, self.accepted_by)

    def conditions(self) -> list[ColumnElement[bool]]:
        c = NOTIFICATION.c
        conditions: list[ColumnElement[bool]] = [c.recipient == self.recipient]
        if self.ccc is not None:
            conditions.append(c.ccc == self.ccc)
        if self.issuers is not None:
            conditions.append(c.issuer.in_([i.value for i in self.issuers]))
        conditions += _shape_conditions(self.issuers, self.normal_only, self.accepted_by)
        return conditions


def _shape_conditions(issuers: tuple[Issuer, ...] | None, normal_only: bool,
                      accepted_by: str | None) -> list[ColumnElement[bool]]:
    c = NOTIFICATION.c
    conditions: list[ColumnElement[bool]] = []
    if issuers is not None:
        conditions.append(c.issuer.in_([i.value for i in issuers]))
    if normal_only:
        conditions.append(c.category == Category.NORMAL.value)
    if accepted_by is not None:
        conditions.append(c.status == Status.ACCEPTED.value)
        conditions.append(c.acted_by == accepted_by)
    return conditions


def folded_audience(branch_list: Sequence[Branch]) -> ColumnElement[bool]:
    """``OR`` of one membership test per branch shape, for audiences of thousands of clauses.

    Each test binds its values as ONE parameter (``Membership``): thousands of bound values
    would cost more to expand and send than the page itself. The tests only filter: the page
    walks ``(made_available_at, id)`` (``search=False``). Measured on SQLite, 1,000,000 items
    (bench/authz_listing.py data, the page query alone, first and 90 %-deep pages, issue 19): an
    agent folding 4,000 recipients (392,000 items) pays 52-79 ms when each recipient's index is
    searched and every match sorted, 9 ms walking; 100 recipients (9,800 items) pay 45-64 ms
    walking against 6-32 ms searched -- the fold exists for the big agents. The CCC test keeps
    its ``recipient || '|' || ccc`` key for the same reason: it filters rows already read, so an
    expression index would never be used, and one text key binds as one array on PostgreSQL.
    """
    c = NOTIFICATION.c
    groups: dict[tuple[bool, tuple[Issuer, ...] | None, bool, str | None], list[Branch]] = {}
    for branch in branch_list:
        groups.setdefault(branch.shape, []).append(branch)
    tests = []
    for (by_ccc, issuers, normal_only, accepted_by), members in groups.items():
        membership: ColumnElement[bool]
        if by_ccc:
            membership = Membership(
                c.recipient.concat(KEY_SEPARATOR).concat(c.ccc),
                sorted({f"{b.recipient}{KEY_SEPARATOR}{b.ccc}" for b in members}), search=False)
        else:
            membership = Membership(c.recipient, sorted({b.recipient for b in members}),
                                    search=False)
        tests.append(and_(membership, *_shape_conditions(issuers, normal_only, accepted_by)))
    return or_(*tests)


KEY_SEPARATOR = "|"
"""Joins recipient and CCC into one membership key (neither identifier can contain it)."""


def branches(audience: Iterable[Audience], listing_filter: ListingFilter) -> list[Branch]:
    """The branches of ``audience`` that can still match under ``listing_filter``.

    Clauses the filter rules out (other role, other principal, a CCC or issuer the clause does
    not admit) are dropped here rather than sent to the database.
    """
    f = listing_filter
    found: set[Branch] = set()
    for clause in audience:
        if f.role is not None and clause.role is not f.role:
            continue
        if f.principal is not None and clause.recipient != f.principal:
            continue
        if f.ccc is not None and clause.cccs is not None and f.ccc not in clause.cccs:
            continue
        if f.issuer is not None and clause.issuers is not None and f.issuer not in clause.issuers:
            continue
        issuers: tuple[Issuer, ...] | None = None
        if clause.issuers is not None and f.issuer is None:  # an issuer filter already narrows
            issuers = tuple(sorted(clause.issuers, key=lambda i: i.value))
            if not issuers:
                continue
        normal_only = not clause.include_special
        accepted_by = clause.accepted_by
        if clause.cccs is None or f.ccc is not None:  # a CCC filter already narrows
            found.add(Branch(clause.recipient, None, issuers, normal_only, accepted_by))
        else:
            for ccc in clause.cccs:
                found.add(Branch(clause.recipient, ccc, issuers, normal_only, accepted_by))
    whole = {b.recipient for b in found if b.whole_recipient}
    kept = [b for b in found if b.whole_recipient or b.recipient not in whole]
    if len(kept) > MAX_UNION_BRANCHES:
        return kept  # folded into membership tests bound as one parameter: order is moot
    return sorted(kept, key=Branch.sort_key)  # deterministic SQL, so plans cache


class AudienceMemo:
    """Reuses ``branches`` of an audience the caller keeps (``services.rights`` caches each
    principal's clauses): an agent's 5,000 mandate clauses are folded once per registry change,
    not on every page. Keyed by the audience object's identity -- each entry holds the object,
    so the identity cannot be reused while cached -- and the filter fields ``branches`` reads.
    Bounded; thread-safe. Only for audiences larger than ``MAX_UNION_BRANCHES``: smaller ones
    cost less to derive than to look up."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[object, ...], tuple[
            Sequence[Audience], list[Branch], ColumnElement[bool] | None]] = OrderedDict()
        self._lock = threading.Lock()

    def prepared(self, audience: Sequence[Audience], listing_filter: ListingFilter
                 ) -> tuple[list[Branch], ColumnElement[bool] | None]:
        """``branches`` of the audience, and their folded condition when there are more than
        ``MAX_UNION_BRANCHES`` (else ``None``)."""
        if len(audience) <= MAX_UNION_BRANCHES:
            return branches(audience, listing_filter), None
        f = listing_filter
        key = (id(audience), f.role, f.principal, f.ccc, f.issuer)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is audience:
                self._entries.move_to_end(key)
                return entry[1], entry[2]
        found = branches(audience, listing_filter)
        folded = folded_audience(found) if len(found) > MAX_UNION_BRANCHES else None
        with self._lock:
            self._entries[key] = (audience, found, folded)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return found, folded


def filter_conditions(
    listing_filter: ListingFilter, as_of: datetime | None = None
) -> list[ColumnElement[bool]]:
    """The client's filters as SQL. ``role`` only selects audience clauses (``branches``);
    ``principal`` is also applied here for the unrestricted (back-office) listing. With
    ``as_of``, AVAILABLE and EXPIRED are judged by the deadline, as clients see them."""
    c = NOTIFICATION.c
    f = listing_filter
    conditions: list[ColumnElement[bool]] = []
    if f.principal is not None:
        conditions.append(c.recipient == f.principal)
    if f.ccc is not None:
        conditions.append(c.ccc == f.ccc)
    if f.issuer is not None:
        conditions.append(c.issuer == f.issuer.value)
    if f.kind is not None:
        conditions.append(c.kind == f.kind.value)
    if f.status is not None:
        conditions.append(_status_condition(f.status, as_of))
    else:  # a cancelled item leaves every listing (CancelNotification)
        conditions.append(c.status != Status.CANCELLED.value)
    if f.made_available_from is not None:
        conditions.append(c.made_available_at >= f.made_available_from)
    if f.made_available_to is not None:
        conditions.append(c.made_available_at < f.made_available_to)
    return conditions


def _status_condition(status: Status, as_of: datetime | None) -> ColumnElement[bool]:
    c = NOTIFICATION.c
    if as_of is None or status not in (Status.AVAILABLE, Status.EXPIRED):
        return c.status == status.value
    overdue = and_(c.status == Status.AVAILABLE.value, c.kind == ItemKind.NOTIFICATION.value,
                   c.deadline_at <= as_of)
    if status is Status.EXPIRED:
        return or_(c.status == Status.EXPIRED.value, overdue)
    return and_(c.status == Status.AVAILABLE.value, not_(overdue))


def keyset(after: PagePosition | None) -> list[ColumnElement[bool]]:
    """Rows strictly after ``after`` in ``(made_available_at, id)`` order, as a row-value
    comparison ``(made_available_at, id) > (:t, :id)``.

    Both backends turn it into one index bound after the leading equality (``recipient = ?`` /
    ``ccc = ?``). Measured on 1,000,000 rows (bench/store_paging.py data): PostgreSQL 15 shows
    ``Index Cond: (ROW(made_available_at, id) > ROW(...))``; SQLite 3.40 plans
    ``SEARCH … USING INDEX … (recipient=? AND made_available_at>?)`` and runs exactly as fast as
    the expanded ``m >= :t AND (m > :t OR id > :id)``, so one form serves both. The naive
    ``m > :t OR (m = :t AND id > :id)`` is what to avoid: SQLite then scans the whole index
    (5x slower on an unrestricted page there).
    """
    if after is None:
        return []
    c = NOTIFICATION.c
    at = literal(after.made_available_at, UTCDateTime())
    last_id = literal(after.id, BigId)
    return [tuple_(c.made_available_at, c.id) > tuple_(at, last_id)]


def page_statement(
    columns: Sequence[ColumnElement[Any]],
    branch_list: Sequence[Branch] | None,
    listing_filter: ListingFilter,
    after: PagePosition | None,
    limit: int,
    as_of: datetime | None = None,
    folded: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """The SELECT of one page; ``branch_list=None`` means no audience restriction (back office).
    ``folded`` is ``folded_audience(branch_list)`` when the caller already has it."""
    c = NOTIFICATION.c
    common = filter_conditions(listing_filter, as_of) + keyset(after)
    order = (c.made_available_at, c.id)
    if branch_list is None or len(branch_list) == 1:
        own = [] if branch_list is None else branch_list[0].conditions()
        stmt = select(*columns)
        if own or common:
            stmt = stmt.where(*own, *common)
        return stmt.order_by(*order).limit(limit)
    if len(branch_list) > MAX_UNION_BRANCHES:
        audience = folded if folded is not None else folded_audience(branch_list)
        return select(*columns).where(audience, *common).order_by(*order).limit(limit)
    parts = []
    for branch in branch_list:
        part = (
            select(c.made_available_at, c.id)
            .where(*branch.conditions(), *common)
            .order_by(*order)
            .limit(limit)
            .subquery()
        )
        parts.append(select(part.c.made_available_at, part.c.id))
    candidates = union(*parts).subquery("candidates")
    page = (
        select(candidates.c.id, candidates.c.made_available_at)
        .order_by(candidates.c.made_available_at, candidates.c.id)
        .limit(limit)
        .subquery("page")
    )
    return (
        select(*columns)
        .select_from(NOTIFICATION.join(page, c.id == page.c.id))
        .order_by(page.c.made_available_at, page.c.id)
    )
