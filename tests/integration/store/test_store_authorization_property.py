"""ListNotifications shows exactly what the authorisation decision allows (issue 6 acceptance).

For random registries (mandates with random scopes, restrictions and periods; RED histories of
assignments, unassignments and reassignments; grants and invitations; access managers) and a
random principal, paging through ``NotificationQueries.list`` must return every stored item that
``decide(principal, READ, item, facts, now)`` allows — no leak, no omission — each once, in
``(made_available_at, id)`` order, with the role ``decide`` gives. The oracle's facts are the
registry as generated, not as the store loads it, so a store that loads the wrong rows fails too.

Runs on SQLite and PostgreSQL (``database``). Each example empties the tables itself (the
fixture does so once per test, not per hypothesis example), and builds fresh services, so no
per-process cache outlives the registry it was derived from. Half the examples lower
``MAX_UNION_BRANCHES`` so the folded membership query (agents with thousands of mandates) is
checked against the same oracle as the UNION one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from unittest import mock

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gateway.domain.authorization import decide
from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import FixedClock
from gateway.domain.listing import ListingFilter, Role
from gateway.domain.model import Category, Issuer, ItemKind, Notification, Status
from gateway.domain.principal import Principal, PrincipalKind
from gateway.domain.rights import (
    GRANT_SCOPES,
    MANDATE_SCOPES,
    AccessGrant,
    AccessManager,
    Action,
    Mandate,
    RedAssignment,
    RepresentationFacts,
)
from gateway.services.notifications import NotificationQueries
from gateway.store import paging
from gateway.store.models import Base
from gateway.store.paging import AudienceMemo
from gateway.store.unit_of_work import SqlUnitOfWork

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
SECRET = b"store-authorization-property-secret"

ENTITIES = ("B12345674", "A23456783", "B76543214", "B34567891")
PERSONS = ("12345678Z", "23456789D")
IDENTIFIERS = ENTITIES + PERSONS
REPRESENTATIVE_NIF = "34567890V"
CCCS = ("28123456742", "28765432145", "08111111102")

PAST_HOURS = (-9000, -720, -48, -25, -24, -23, -1, 0)
ALL_HOURS = PAST_HOURS + (1, 24, 720)


def at(hours: int | None) -> datetime | None:
    return None if hours is None else NOW + timedelta(hours=hours)


starts = st.sampled_from(PAST_HOURS + (1, 24)).map(lambda h: NOW + timedelta(hours=h))
ends = st.sampled_from((None,) * 6 + ALL_HOURS).map(at)
revocations = st.sampled_from((None,) * 12 + ALL_HOURS).map(at)
in_force = st.just((NOW - timedelta(days=30), None, None))
periods = st.one_of(in_force, st.tuples(starts, ends, revocations))
cccs_restriction = st.none() | st.frozensets(st.sampled_from(CCCS), max_size=3)
issuers_restriction = st.none() | st.frozensets(
    st.sampled_from([i.value for i in Issuer]), max_size=3)

principals = st.one_of(
    st.builds(lambda nif: Principal(PrincipalKind.PERSON, nif, "PERSONA", "aa" * 32,
                                    person_identifier=nif), st.sampled_from(PERSONS)),
    st.builds(lambda cif: Principal(PrincipalKind.ENTITY, cif, "ENTIDAD", "bb" * 32),
              st.sampled_from(ENTITIES)),
    st.builds(lambda cif, nif: Principal(PrincipalKind.REPRESENTATIVE, cif, "REPRESENTANTE",
                                         "cc" * 32, person_identifier=nif),
              st.sampled_from(ENTITIES), st.sampled_from(PERSONS + (REPRESENTATIVE_NIF,))),
)


def mostly(value: str, pool: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.one_of(st.just(value), st.sampled_from(pool))


@dataclass(frozen=True)
class RedEvent:
    """One act on a CCC's RED assignment, applied in time order: assign (ending any open one
    at the same instant, as a reassignment does) or unassign."""

    ccc: str
    at: datetime
    agent: str | None  # None: unassign


@dataclass(frozen=True)
class World:
    principal: Principal
    registry_start: datetime | None
    mandates: tuple[Mandate, ...]
    grants: tuple[AccessGrant, ...]
    managers: tuple[AccessManager, ...]
    company_of: dict[str, str]
    red_events: tuple[RedEvent, ...]
    items: tuple[Notification, ...]
    actors: tuple[tuple[Status, str | None] | None, ...]  # per item: its act, if any
    page_size: int
    fold: bool

    def red_assignments(self) -> tuple[RedAssignment, ...]:
        """The RED history the events produce (what the registry must then hold)."""
        done: list[RedAssignment] = []
        open_: dict[str, RedAssignment] = {}
        for act in self.red_events:
            current = open_.pop(act.ccc, None)
            if current is not None:
                done.append(replace(current, unassigned_at=act.at))
            if act.agent is not None:
                open_[act.ccc] = RedAssignment(act.ccc, self.company_of[act.ccc], act.agent,
                                               act.at)
        return tuple(done) + tuple(open_.values())

    def facts(self) -> RepresentationFacts:
        return RepresentationFacts(red_assignments=self.red_assignments(),
                                   mandates=self.mandates, grants=self.grants,
                                   managed=self.managers, registry_start=self.registry_start)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    principal = draw(principals)
    me = principal.acts_for
    person = principal.person_identifier or PERSONS[0]

    # Half the rights are plain (in force, reading included) so that, in few examples, items
    # are often visible through each source; the others are anything.
    mandates = []
    for _ in range(draw(st.integers(1, 5))):
        plain = draw(st.booleans())
        valid_from, valid_to, revoked_at = draw(in_force if plain else periods)
        scopes = draw(st.frozensets(st.sampled_from(sorted(MANDATE_SCOPES))))
        mandates.append(Mandate(
            id=None, grantor=draw(st.sampled_from(IDENTIFIERS)),
            grantee=me if plain else draw(mostly(me, IDENTIFIERS)),
            scopes=scopes | {Action.READ} if plain else scopes,
            valid_from=valid_from, valid_to=valid_to, revoked_at=revoked_at,
            issuers=draw(issuers_restriction), cccs=draw(cccs_restriction),
            special_category=draw(st.booleans()),
            granted_at=None if plain else draw(st.none() | starts),
        ))
    grants = []
    for _ in range(draw(st.integers(1, 3))):
        plain = draw(st.booleans())
        valid_from, valid_to, revoked_at = draw(in_force if plain else periods)
        invited_at = draw(st.one_of(st.just(valid_from), starts))
        scopes = draw(st.frozensets(st.sampled_from(sorted(GRANT_SCOPES))))
        grants.append(AccessGrant(
            id=None, entity=draw(st.sampled_from(ENTITIES)),
            grantee=person if plain else draw(mostly(person, PERSONS)),
            scopes=scopes | {Action.READ} if plain else scopes,
            granted_by=REPRESENTATIVE_NIF, invited_at=invited_at, valid_from=valid_from,
            valid_to=valid_to, revoked_at=revoked_at,
            activated_at=(invited_at + timedelta(hours=1) if plain
                          else draw(st.one_of(st.just(invited_at + timedelta(hours=1)), ends))),
            cccs=draw(cccs_restriction), special_category=draw(st.booleans()),
        ))
    managers = [AccessManager(id=None, entity=draw(st.sampled_from(ENTITIES)),
                              person=draw(mostly(person, PERSONS)), named_by=REPRESENTATIVE_NIF,
                              valid_from=draw(starts), valid_to=draw(ends))
                for _ in range(draw(st.integers(0, 1)))]

    # Each CCC belongs to one company; its RED history is a time-ordered series of acts.
    company_of = {ccc: draw(st.sampled_from(ENTITIES)) for ccc in CCCS}
    red_events: list[RedEvent] = []
    for ccc in CCCS:
        instants = draw(st.lists(st.sampled_from(PAST_HOURS), max_size=4, unique=True))
        for hours in sorted(instants):
            agent = draw(st.none() | mostly(me, ENTITIES))
            red_events.append(RedEvent(ccc, NOW + timedelta(hours=hours), agent))
    red_events.sort(key=lambda e: e.at)

    items: list[Notification] = []
    actors: list[tuple[Status, str | None] | None] = []
    recipients = tuple(sorted({m.grantor for m in mandates} | {g.entity for g in grants} | {me}))
    for number in range(draw(st.integers(5, 40))):
        kind = draw(st.sampled_from(ItemKind))
        ccc = draw(st.none() | st.sampled_from(CCCS))
        choices = [st.sampled_from(recipients), st.sampled_from(IDENTIFIERS)]
        if ccc is not None:
            choices.append(st.just(company_of[ccc]))  # the company whose account it is
        recipient = draw(st.one_of(choices))
        # Few distinct instants, so keyset ties on made_available_at are common.
        made_available_at = NOW - timedelta(days=draw(st.sampled_from((0, 1, 3, 12))),
                                            hours=1)
        items.append(Notification(
            id=None, kind=kind, issuer=draw(st.sampled_from(Issuer)),
            issuer_reference=f"REF-{number:04d}", procedure="Reclamación de deuda",
            subject="Providencia de apremio", recipient=recipient, ccc=ccc,
            category=draw(st.sampled_from(Category)), made_available_at=made_available_at,
            deadline_at=(made_available_at + timedelta(days=10)
                         if kind is ItemKind.NOTIFICATION else None),
            status=Status.AVAILABLE, status_at=made_available_at,
        ))
        targets = ((Status.ACCEPTED, Status.REJECTED) if kind is ItemKind.NOTIFICATION
                   else (Status.READ,))
        act = draw(st.none() | st.sampled_from(targets))
        actors.append(None if act is None
                      else (act, draw(st.one_of(st.just(me), st.sampled_from(IDENTIFIERS)))))

    registry_start = draw(st.sampled_from((None, None, -100_000, -720, 0)).map(at))
    return World(principal, registry_start, tuple(mandates), tuple(grants), tuple(managers),
                 company_of, tuple(red_events), tuple(items), tuple(actors),
                 page_size=draw(st.sampled_from((1, 3, 7, 1000))), fold=draw(st.booleans()))


def empty(database) -> None:
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(text(f'DELETE FROM "{table.name}"'))


def seed(database, world: World) -> list[Notification]:
    """Store the world through the repositories; returns the items as stored."""
    with SqlUnitOfWork(database.session_factory) as uow:
        ids = uow.notifications.add_many([(item, []) for item in world.items])
        moved = []
        for new_id, item, act in zip(ids, world.items, world.actors, strict=True):
            if act is not None:
                target, actor = act
                moved.append(replace(item, id=new_id).transition(
                    target, item.made_available_at + timedelta(minutes=30), by=actor))
        uow.notifications.save_statuses(moved)
        uow.representation.add_mandates(world.mandates)
        for grant in world.grants:
            uow.representation.add_grant(grant)
        for manager in world.managers:
            uow.representation.add_manager(manager)
        for act in world.red_events:
            uow.representation.unassign(act.ccc, act.at)
            if act.agent is not None:
                uow.representation.assign(act.ccc, world.company_of[act.ccc], act.agent, act.at)
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        stored = uow.notifications.get_many(ids)
    return [stored[i] for i in ids]


def list_everything(database, world: World) -> list[tuple[Notification, Role]]:
    memo = AudienceMemo()
    queries = NotificationQueries(
        lambda: SqlUnitOfWork(database.session_factory, world.registry_start, memo),
        FixedClock(NOW), WorkingCalendar(), SECRET)
    seen: list[tuple[Notification, Role]] = []
    cursor: str | None = None
    for _ in range(len(world.items) + 2):
        page = queries.list(world.principal, ListingFilter(), cursor, world.page_size)
        seen += [(visible.notification, visible.role) for visible in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(world=worlds())
def test_listing_is_exactly_what_decide_allows(database, world: World) -> None:
    empty(database)
    stored = seed(database, world)
    # The acts were stored as made (a RED agent keeps what *it* accepted).
    for item, act in zip(stored, world.actors, strict=True):
        expected_status, expected_actor = act or (Status.AVAILABLE, None)
        assert (item.status, item.acted_by) == (expected_status, expected_actor)

    facts = world.facts()
    expected: dict[int, Role] = {}
    for item in stored:
        decision = decide(world.principal, Action.READ, item, facts, NOW)
        if decision.allowed:
            assert item.id is not None and decision.role is not None
            expected[item.id] = decision.role
            event(f"visible through {decision.reason.value}")

    limit = 1 if world.fold else paging.MAX_UNION_BRANCHES
    with mock.patch.object(paging, "MAX_UNION_BRANCHES", limit):
        listed = list_everything(database, world)

    ids = [n.id for n, _ in listed]
    assert len(ids) == len(set(ids)), "an item was listed twice"
    leaked = set(ids) - set(expected)
    omitted = set(expected) - set(ids)
    assert not leaked and not omitted, (
        f"leaked {sorted(leaked)}, omitted {sorted(omitted)} for {world.principal} "
        f"(backend {database.backend})")
    assert {n.id: role for n, role in listed} == expected
    keys = [(n.made_available_at, n.id) for n, _ in listed]
    assert keys == sorted(keys)
