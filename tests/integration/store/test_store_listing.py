"""list_page: audience clauses, every filter, and keyset paging that stays exact while rows are
being added (DESIGN.md §3)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from gateway.domain.listing import Audience, ListingFilter, ListingQuery, PagePosition, Role
from gateway.domain.model import Category, Issuer, ItemKind, Notification, Status
from gateway.store.unit_of_work import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COMPANY, PERSON, AGENT_CLIENT, STRANGER = "B11111111", "12345678Z", "B22222222", "B99999999"
CCC_1, CCC_2, CCC_3 = "280000000001", "280000000002", "280000000003"

AUDIENCE = (
    Audience(PERSON, Role.OWN),
    Audience(AGENT_CLIENT, Role.RED, cccs=frozenset({CCC_1, CCC_2})),
    Audience(COMPANY, Role.MANDATE, issuers=frozenset({Issuer.INSS}), include_special=False),
    Audience(COMPANY, Role.GRANT, cccs=frozenset({CCC_3}), include_special=True),
)


def visible(n: Notification, audience, f: ListingFilter) -> bool:
    """The oracle: what list_page must return, written the obvious way."""
    clauses = [a for a in audience if f.role is None or a.role is f.role]
    return (
        any(a.admits(n) for a in clauses)
        and (f.principal is None or n.recipient == f.principal)
        and (f.ccc is None or n.ccc == f.ccc)
        and (f.issuer is None or n.issuer is f.issuer)
        and (f.kind is None or n.kind is f.kind)
        and (f.status is None or n.status is f.status)
        and (f.made_available_from is None or n.made_available_at >= f.made_available_from)
        and (f.made_available_to is None or n.made_available_at < f.made_available_to)
    )


def key(n: Notification) -> tuple[datetime, int]:
    return (n.made_available_at, n.id)


def random_items(make_notification, rng: random.Random, count: int, minutes: int = 200):
    items = []
    for _ in range(count):
        kind = rng.choice(list(ItemKind))
        items.append(
            make_notification(
                rng.choice([COMPANY, PERSON, AGENT_CLIENT, STRANGER]),
                kind=kind,
                issuer=rng.choice(list(Issuer)),
                ccc=rng.choice([None, CCC_1, CCC_2, CCC_3]),
                category=rng.choice([Category.NORMAL, Category.NORMAL, Category.SPECIAL]),
                at=T0 + timedelta(minutes=rng.randrange(minutes)),  # many equal timestamps
                annexes=rng.randrange(3),
            )
        )
    return items


@pytest.fixture
def stored_items(database, make_notification, contents_of) -> list[Notification]:
    rng = random.Random(20260302)
    items = random_items(make_notification, rng, 600)
    with SqlUnitOfWork(database.session_factory) as uow:
        ids = uow.notifications.add_many([(n, contents_of(n)) for n in items])
        # Some already decided, for the status filter.
        for new_id, n in zip(ids, items):
            if n.kind is ItemKind.NOTIFICATION and rng.random() < 0.3:
                stored = replace(n, id=new_id)
                uow.notifications.save_status(
                    stored.transition(Status.ACCEPTED, n.made_available_at + timedelta(hours=1))
                )
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        return sorted(uow.notifications.get_many(ids).values(), key=key)


FILTERS = [
    ListingFilter(),
    ListingFilter(role=Role.OWN),
    ListingFilter(role=Role.RED),
    ListingFilter(role=Role.MANDATE),
    ListingFilter(role=Role.GRANT),
    ListingFilter(principal=COMPANY),
    ListingFilter(principal=STRANGER),
    ListingFilter(ccc=CCC_1),
    ListingFilter(ccc=CCC_3),
    ListingFilter(issuer=Issuer.INSS),
    ListingFilter(issuer=Issuer.ISM),
    ListingFilter(kind=ItemKind.COMMUNICATION),
    ListingFilter(status=Status.ACCEPTED),
    ListingFilter(made_available_from=T0 + timedelta(minutes=50)),
    ListingFilter(made_available_to=T0 + timedelta(minutes=50)),
    ListingFilter(
        made_available_from=T0 + timedelta(minutes=20), made_available_to=T0 + timedelta(minutes=21)
    ),
    ListingFilter(role=Role.RED, ccc=CCC_2, kind=ItemKind.NOTIFICATION, status=Status.AVAILABLE),
    ListingFilter(principal=COMPANY, issuer=Issuer.INSS, ccc=CCC_3),
]


@pytest.mark.parametrize("listing_filter", FILTERS, ids=lambda f: f.fingerprint() or "none")
def test_a_listing_returns_exactly_what_the_audience_and_filters_admit(
    database, stored_items, listing_filter
):
    expected = [n for n in stored_items if visible(n, AUDIENCE, listing_filter)]
    with SqlUnitOfWork(database.session_factory) as uow:
        page = uow.notifications.list_page(
            ListingQuery(audience=AUDIENCE, filter=listing_filter, limit=10_000)
        )
    assert page == expected


@pytest.mark.parametrize(
    "audience",
    [
        (Audience(COMPANY, Role.OWN),),
        (Audience(COMPANY, Role.OWN, include_special=False),),
        (Audience(AGENT_CLIENT, Role.RED, cccs=frozenset({CCC_1})),),
        (Audience(AGENT_CLIENT, Role.RED, cccs=frozenset()),),
        (Audience(PERSON, Role.OWN, issuers=frozenset({Issuer.ISM, Issuer.INSS})),),
        # Overlapping clauses: a row admitted twice is listed once.
        (Audience(COMPANY, Role.OWN), Audience(COMPANY, Role.MANDATE, cccs=frozenset({CCC_1}))),
        (
            Audience(COMPANY, Role.MANDATE, cccs=frozenset({CCC_1}), include_special=False),
            Audience(COMPANY, Role.GRANT, issuers=frozenset({Issuer.TGSS})),
        ),
        AUDIENCE,
        # More CCC clauses than MAX_UNION_BRANCHES: one OR query instead of a UNION.
        (
            Audience(
                AGENT_CLIENT,
                Role.RED,
                cccs=frozenset({CCC_1, CCC_3, *(f"29{n:010d}" for n in range(70))}),
                include_special=False,
            ),
            Audience(PERSON, Role.OWN),
        ),
    ],
)
def test_special_category_and_clause_restrictions(database, stored_items, audience):
    expected = [n for n in stored_items if visible(n, audience, ListingFilter())]
    with SqlUnitOfWork(database.session_factory) as uow:
        page = uow.notifications.list_page(ListingQuery(audience=audience, limit=10_000))
    assert page == expected
    if not any(a.include_special for a in audience):
        assert all(n.category is Category.NORMAL for n in page)


def count_statements(engine):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return statements, lambda: event.remove(engine, "before_cursor_execute", record)


def test_empty_audience_is_an_empty_page_without_a_query(database, stored_items):
    with SqlUnitOfWork(database.session_factory) as uow:
        statements, stop = count_statements(database.engine)
        try:
            assert uow.notifications.list_page(ListingQuery(audience=())) == []
            assert (
                uow.notifications.list_page(
                    ListingQuery(audience=AUDIENCE, filter=ListingFilter(principal="nobody"))
                )
                == []
            )
        finally:
            stop()
    assert [s for s in statements if "notification" in s] == []


@pytest.mark.parametrize("audience", [AUDIENCE[:1], AUDIENCE], ids=["one clause", "union"])
def test_a_page_and_its_documents_take_two_queries(database, stored_items, audience):
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.session.connection()  # BEGIN outside the count
        statements, stop = count_statements(database.engine)
        try:
            page = uow.notifications.list_page(ListingQuery(audience=audience, limit=100))
        finally:
            stop()
    assert len(page) > 10 and all(n.documents for n in page)
    assert len(statements) == 2


def test_pages_follow_one_another_exactly(database, stored_items):
    expected = [n for n in stored_items if visible(n, AUDIENCE, ListingFilter())]
    pages, after = [], None
    with SqlUnitOfWork(database.session_factory) as uow:
        for _ in range(len(expected)):  # bounded: a broken keyset must fail, not hang
            page = uow.notifications.list_page(ListingQuery(AUDIENCE, after=after, limit=7))
            if not page:
                break
            pages.append(page)
            after = PagePosition(page[-1].made_available_at, page[-1].id)
    assert [n for page in pages for n in page] == expected
    assert all(len(page) == 7 for page in pages[:-1])


AUDIENCES_TO_PAGE = {
    "one clause": (Audience(COMPANY, Role.OWN),),
    "union": (
        Audience(COMPANY, Role.OWN, include_special=False),
        Audience(AGENT_CLIENT, Role.RED, cccs=frozenset({CCC_1, CCC_2})),
        Audience(PERSON, Role.MANDATE, issuers=frozenset({Issuer.TGSS, Issuer.INSS})),
    ),
    "unrestricted": None,
}


@pytest.mark.slow
@pytest.mark.parametrize("shape", list(AUDIENCES_TO_PAGE))
def test_paging_10000_rows_while_rows_are_added_sees_each_row_once_in_order(
    database, make_notification, contents_of, shape
):
    audience = AUDIENCES_TO_PAGE[shape]
    rng = random.Random(shape)
    start = random_items(make_notification, rng, 10_000, minutes=1500)
    rng.shuffle(start)  # ids do not follow timestamps
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.notifications.add_many([(n, contents_of(n)) for n in start])
        uow.commit()
        everything = uow.notifications.list_page_unrestricted(ListingFilter(), None, 100_000)

    def admitted(n: Notification) -> bool:
        return audience is None or visible(n, audience, ListingFilter())

    initial = {n.id for n in everything if admitted(n)}
    assert len(initial) > 2000
    latest = max(n.made_available_at for n in everything)

    def fetch(after: PagePosition | None) -> list[Notification]:
        with SqlUnitOfWork(database.session_factory) as uow:
            if audience is None:
                return uow.notifications.list_page_unrestricted(ListingFilter(), after, 250)
            return uow.notifications.list_page(ListingQuery(audience, after=after, limit=250))

    seen: list[Notification] = []
    added: dict[int, Notification] = {}
    after = None
    for _ in range(200):  # about 45 pages are needed; a broken keyset must fail, not hang
        page = fetch(after)
        seen.extend(page)
        if len(page) < 250:
            break
        after = PagePosition(page[-1].made_available_at, page[-1].id)
        if len(seen) < 9_000:  # keep adding while the client pages, then let it finish
            cursor_time = after.made_available_at
            times = [
                latest + timedelta(seconds=rng.randrange(1, 5000)),  # after everything
                cursor_time,  # a tie with the page's last row: its id is higher, so it comes next
                cursor_time - timedelta(minutes=rng.randrange(1, 30)),  # behind: never seen
                cursor_time + timedelta(minutes=rng.randrange(1, 30)),  # ahead among old rows
            ]
            new = [
                replace(n, made_available_at=t, status_at=t, deadline_at=t + timedelta(days=10))
                if n.kind is ItemKind.NOTIFICATION
                else replace(n, made_available_at=t, status_at=t)
                for n, t in zip(random_items(make_notification, rng, 4), times)
            ]
            with SqlUnitOfWork(database.session_factory) as uow:
                ids = uow.notifications.add_many([(n, contents_of(n)) for n in new])
                uow.commit()
            added.update({i: replace(n, id=i) for i, n in zip(ids, new)})

    seen_ids = [n.id for n in seen]
    assert len(seen_ids) == len(set(seen_ids)), "a row was returned twice"
    assert initial <= set(seen_ids), "a row that existed at the start was skipped"
    assert [key(n) for n in seen] == sorted(key(n) for n in seen), "order is not stable"
    extra = set(seen_ids) - initial
    assert extra <= {i for i, n in added.items() if admitted(n)}
    assert added and extra, "the test should have seen some of the rows added while paging"


@pytest.mark.parametrize(
    "listing_filter",
    [f for f in FILTERS if f.role is None],
    ids=lambda f: f.fingerprint() or "none",
)
def test_the_back_office_listing_sees_every_recipient_and_applies_the_filters(
    database, stored_items, listing_filter
):
    everyone = tuple(Audience(r, Role.OWN) for r in {n.recipient for n in stored_items})
    expected = [n for n in stored_items if visible(n, everyone, listing_filter)]
    with SqlUnitOfWork(database.session_factory) as uow:
        page = uow.notifications.list_page_unrestricted(listing_filter, None, 10_000)
    assert page == expected
