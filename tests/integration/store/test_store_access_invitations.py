"""Access-grant invitations against the real store, SQLite and PostgreSQL (issue 6, scope 3).

An access manager's grant starts as an invitation; the grantee's first authenticated call
(``AccessService.on_authenticated``, which the SOAP port runs on every call) activates it, and
an invitation nobody activated within 24 hours lapses for good. The clock is a ``FixedClock``
moved by hand, so the 24-hour edge is tested exactly, not by waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.authorization import decide
from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import FixedClock
from gateway.domain.identifiers import make_ccc, make_cif, make_dni
from gateway.domain.listing import ListingFilter, Role
from gateway.domain.model import Notification
from gateway.domain.principal import Principal, PrincipalKind
from gateway.domain.rights import Action, Reason
from gateway.errors import AuthorizationError
from gateway.services.access import AccessService
from gateway.services.notifications import NotificationQueries
from gateway.services.representation import RepresentationService
from gateway.store.unit_of_work import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENTITY = make_cif("B", 6_111_222)
REPRESENTATIVE_NIF = make_dni(61_112_223)
MANAGER_NIF = make_dni(62_223_334)
USER_NIF = make_dni(63_334_445)
OTHER_NIF = make_dni(64_445_556)
CCC_A = make_ccc(28, 6_111_222)
CCC_B = make_ccc(8, 6_111_223)

MAIN_MANAGER = Principal(PrincipalKind.REPRESENTATIVE, ENTITY, "REPRESENTANTE", "fp-rep",
                         person_identifier=REPRESENTATIVE_NIF)
MANAGER = Principal(PrincipalKind.PERSON, MANAGER_NIF, "GESTOR", "fp-manager",
                    person_identifier=MANAGER_NIF)
USER = Principal(PrincipalKind.PERSON, USER_NIF, "USUARIO", "fp-user", person_identifier=USER_NIF)
OTHER = Principal(PrincipalKind.PERSON, OTHER_NIF, "OTRO", "fp-other",
                  person_identifier=OTHER_NIF)
SECRET = b"s" * 32


class World:
    def __init__(self, database, make_notification) -> None:
        self.database = database
        self.clock = FixedClock(T0)
        self.access = AccessService(self.uow, self.clock)
        self.representation = RepresentationService(self.uow, self.clock)
        self.queries = NotificationQueries(self.uow, self.clock, WorkingCalendar(), SECRET)
        before = T0 - timedelta(hours=1)
        self.items: list[Notification] = []
        with self.uow() as uow:
            for ccc in (CCC_A, CCC_A, CCC_B):
                item = make_notification(ENTITY, ccc=ccc, at=before, annexes=0)
                self.items.append(uow.notifications.add(item, [b"x"]))
            uow.commit()

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.database.session_factory)

    def later(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def state(self, grant_id: int) -> str:
        with self.uow() as uow:
            grant = uow.representation.grant(grant_id)
        assert grant is not None
        return grant.state_at(self.clock.now())

    def reason(self, principal: Principal, item: Notification, action: Action = Action.READ
               ) -> Reason:
        now = self.clock.now()
        with self.uow() as uow:
            facts = uow.representation.facts_for(principal, now)
        return decide(principal, action, item, facts, now).reason

    def listed(self, principal: Principal) -> dict[int, Role]:
        page = self.queries.list(principal, ListingFilter(), None, 1000)
        return {visible.notification.id: visible.role for visible in page.items}

    def acting_for(self, principal: Principal) -> list[tuple[str, Role]]:
        return [(p.identifier, p.role) for p in self.representation.principals(principal)]

    def audit(self) -> list[tuple[str, str]]:
        with self.uow() as uow:
            return [(e.event_type, e.subject) for e in uow.audit.iter_events()]

    def grant_to_user(self, **kwargs) -> int:
        self.access.name_manager(MAIN_MANAGER, None, MANAGER_NIF)
        grant = self.access.grant(MANAGER, ENTITY, USER_NIF,
                                  kwargs.pop("scopes", ["notifications.read"]), **kwargs)
        assert grant.id is not None
        return grant.id


@pytest.fixture
def world(database, make_notification) -> World:
    return World(database, make_notification)


def test_the_first_call_within_24_hours_activates_the_invitation(world: World) -> None:
    grant_id = world.grant_to_user(cccs=[CCC_A])
    item_a, item_a2, item_b = world.items
    assert world.state(grant_id) == "INVITATION_PENDING"
    assert world.reason(USER, item_a) is Reason.INVITATION_PENDING
    assert world.listed(USER) == {}
    assert world.acting_for(USER) == [(USER_NIF, Role.OWN)]

    world.later(timedelta(hours=23, minutes=59, seconds=59))
    assert world.access.on_authenticated(USER) == [grant_id]
    assert world.state(grant_id) == "ACTIVE"
    assert world.reason(USER, item_a) is Reason.GRANT
    assert world.reason(USER, item_b) is Reason.CCC_NOT_COVERED
    assert world.reason(USER, item_a, Action.SIGN) is Reason.SCOPE_MISSING
    assert world.listed(USER) == {item_a.id: Role.GRANT, item_a2.id: Role.GRANT}
    assert world.acting_for(USER) == [(USER_NIF, Role.OWN), (ENTITY, Role.GRANT)]

    # Activation happens once: later calls change nothing and audit nothing.
    world.later(timedelta(days=3))
    assert world.access.on_authenticated(USER) == []
    assert world.state(grant_id) == "ACTIVE"
    with world.uow() as uow:
        grant = uow.representation.grant(grant_id)
    assert grant is not None
    assert grant.activated_at == T0 + timedelta(hours=23, minutes=59, seconds=59)
    assert world.audit() == [("access_manager.named", ENTITY), ("access_grant.invited", ENTITY),
                             ("access_grant.activated", f"grant:{grant_id}")]


@pytest.mark.parametrize("late", [timedelta(hours=24), timedelta(hours=24, microseconds=1),
                                  timedelta(days=30)], ids=["exactly-24h", "just-after", "month"])
def test_an_invitation_not_activated_within_24_hours_lapses_for_good(
    world: World, late: timedelta
) -> None:
    grant_id = world.grant_to_user()
    world.later(late)
    assert world.access.on_authenticated(USER) == []
    assert world.state(grant_id) == "INVITATION_EXPIRED"
    assert world.reason(USER, world.items[0]) is Reason.INVITATION_EXPIRED
    assert world.listed(USER) == {}
    assert world.acting_for(USER) == [(USER_NIF, Role.OWN)]
    world.later(timedelta(minutes=1))
    assert world.access.on_authenticated(USER) == []
    assert world.state(grant_id) == "INVITATION_EXPIRED"
    assert [event for event, _ in world.audit()] == ["access_manager.named",
                                                     "access_grant.invited"]

    # The manager can invite again; the new invitation works as any other.
    again = world.access.grant(MANAGER, ENTITY, USER_NIF, ["notifications.read"])
    assert again.id is not None and again.id != grant_id
    world.later(timedelta(hours=1))
    assert world.access.on_authenticated(USER) == [again.id]
    assert world.state(again.id) == "ACTIVE" and world.state(grant_id) == "INVITATION_EXPIRED"
    assert set(world.listed(USER).values()) == {Role.GRANT}
    with world.uow() as uow:
        listed = uow.representation.grants_of_entity(ENTITY)
    assert [(g.id, g.state_at(world.clock.now())) for g in listed] == [
        (grant_id, "INVITATION_EXPIRED"), (again.id, "ACTIVE")]


def test_only_the_grantees_own_call_activates(world: World) -> None:
    grant_id = world.grant_to_user()
    world.later(timedelta(minutes=5))
    assert world.access.on_authenticated(OTHER) == []
    assert world.access.on_authenticated(MANAGER) == []
    assert world.access.on_authenticated(MAIN_MANAGER) == []  # not a person: holds no grants
    assert world.state(grant_id) == "INVITATION_PENDING"
    assert world.listed(OTHER) == {}
    assert world.access.on_authenticated(USER) == [grant_id]


def test_a_revoked_invitation_cannot_be_activated(world: World) -> None:
    grant_id = world.grant_to_user()
    world.later(timedelta(hours=1))
    revoked = world.access.revoke_grant(MANAGER, grant_id)
    assert revoked.revoked_at == T0 + timedelta(hours=1)
    world.later(timedelta(minutes=1))
    assert world.access.on_authenticated(USER) == []
    assert world.state(grant_id) == "GRANT_REVOKED"
    assert world.reason(USER, world.items[0]) is Reason.GRANT_REVOKED


def test_an_activated_grant_ends_with_its_validity_or_revocation(world: World) -> None:
    grant_id = world.grant_to_user(valid_to=T0 + timedelta(days=2))
    world.later(timedelta(hours=2))
    assert world.access.on_authenticated(USER) == [grant_id]
    assert len(world.listed(USER)) == 3

    world.later(timedelta(days=2))  # past valid_to
    assert world.state(grant_id) == "GRANT_EXPIRED"
    assert world.reason(USER, world.items[0]) is Reason.GRANT_EXPIRED
    assert world.listed(USER) == {}

    second = world.access.grant(MAIN_MANAGER, None, USER_NIF, ["notifications.read"])
    assert second.id is not None
    world.later(timedelta(seconds=1))
    assert world.access.on_authenticated(USER) == [second.id]
    assert len(world.listed(USER)) == 3
    world.access.revoke_grant(MAIN_MANAGER, second.id)
    assert world.state(second.id) == "GRANT_REVOKED"
    assert world.listed(USER) == {}


def test_a_grant_starting_later_is_activated_now_and_allows_from_its_start(world: World
                                                                         ) -> None:
    grant_id = world.grant_to_user(valid_from=T0 + timedelta(days=5))
    world.later(timedelta(hours=1))
    assert world.access.on_authenticated(USER) == [grant_id]
    assert world.state(grant_id) == "GRANT_NOT_YET_VALID"
    assert world.listed(USER) == {}
    world.clock.set(T0 + timedelta(days=5))
    assert world.state(grant_id) == "ACTIVE"
    assert len(world.listed(USER)) == 3


def test_a_removed_manager_can_no_longer_grant_and_the_refusal_is_audited(world: World) -> None:
    grant_id = world.grant_to_user()
    world.later(timedelta(minutes=1))
    assert world.access.remove_manager(MAIN_MANAGER, None, MANAGER_NIF) == 1
    world.later(timedelta(minutes=1))
    with pytest.raises(AuthorizationError):
        world.access.grant(MANAGER, ENTITY, OTHER_NIF, ["notifications.read"])
    with pytest.raises(AuthorizationError):
        world.access.grants(MANAGER, ENTITY)
    with world.uow() as uow:
        refused = [e for e in uow.audit.iter_events() if e.event_type == "access.refused"]
        grants = uow.representation.grants_of_entity(ENTITY)
    assert [(e.actor, e.subject, dict(e.details)) for e in refused] == [
        (MANAGER_NIF, ENTITY, {"action": "access.grant", "reason": "NOT_ACCESS_MANAGER"})] * 2
    assert [g.id for g in grants] == [grant_id]  # nothing granted
    # What the manager granted while it was one stays (the user can still activate it).
    assert world.access.on_authenticated(USER) == [grant_id]
