"""Properties of the authorisation decision over random registries, principals and items.

``decide`` (one item) and ``audiences`` (the listing clauses the store turns into SQL) are two
views of one rule; here they must agree on every item, role included. And special-category items
stay out of reach of RED assignments and of mandates or grants without the special flag.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st

from gateway.domain.authorization import audiences, decide
from gateway.domain.listing import AudienceIndex, Role, role_of
from gateway.domain.model import Category, Issuer, ItemKind, Notification, Status
from gateway.domain.principal import Principal, PrincipalKind
from gateway.domain.rights import (
    GRANT_SCOPES,
    MANDATE_SCOPES,
    NOTIFICATION_ACTIONS,
    AccessGrant,
    AccessManager,
    Action,
    Mandate,
    Reason,
    RedAssignment,
    RepresentationFacts,
)

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)

# A small pool, so random facts and random items meet often.
ENTITIES = ("B12345674", "A23456783", "B76543214")
PERSONS = ("12345678Z", "23456789D")
IDENTIFIERS = ENTITIES + PERSONS
REPRESENTATIVE_NIF = "34567890V"
CCCS = ("28123456742", "28765432145", "08111111102")

# Offsets around NOW, with the edges that matter (exactly now, 24 h for invitations). Starts are
# drawn mostly from the past and ends mostly absent, so that many drawn rights are in force.
PAST_HOURS = (-9000, -720, -25, -24, -23, -1, 0)
ALL_HOURS = PAST_HOURS + (1, 24, 720)
starts = st.sampled_from(PAST_HOURS + (1, 24)).map(lambda hours: NOW + timedelta(hours=hours))
ends = st.sampled_from((None,) * 6 + ALL_HOURS).map(
    lambda hours: None if hours is None else NOW + timedelta(hours=hours))
revocations = st.sampled_from((None,) * 12 + ALL_HOURS).map(
    lambda hours: None if hours is None else NOW + timedelta(hours=hours))
registry_starts = st.sampled_from((None, None, -100_000, -720, 0)).map(
    lambda hours: None if hours is None else NOW + timedelta(hours=hours))
cccs_restriction = st.none() | st.frozensets(st.sampled_from(CCCS), max_size=3)
issuers_restriction = st.none() | st.frozensets(st.sampled_from([i.value for i in Issuer]),
                                                max_size=3)
mandate_scopes = st.frozensets(st.sampled_from(sorted(MANDATE_SCOPES, key=lambda a: a.value)))
grant_scopes = st.frozensets(st.sampled_from(sorted(GRANT_SCOPES, key=lambda a: a.value)))

persons = st.builds(lambda nif: Principal(PrincipalKind.PERSON, nif, "PERSONA", "aa" * 32,
                                          person_identifier=nif), st.sampled_from(PERSONS))
principals = st.one_of(
    persons,
    st.builds(lambda cif: Principal(PrincipalKind.ENTITY, cif, "ENTIDAD", "bb" * 32),
              st.sampled_from(ENTITIES)),
    st.builds(lambda cif, nif: Principal(PrincipalKind.REPRESENTATIVE, cif, "REPRESENTANTE",
                                         "cc" * 32, person_identifier=nif),
              st.sampled_from(ENTITIES), st.sampled_from(PERSONS + (REPRESENTATIVE_NIF,))),
)


def mostly(value: str, pool: tuple[str, ...]) -> st.SearchStrategy[str]:
    """``value`` about half the time, else anyone in ``pool`` (so rights often concern the
    principal at hand, and sometimes somebody else)."""
    return st.one_of(st.just(value), st.sampled_from(pool))


Period = tuple[datetime, datetime | None, datetime | None]
IN_FORCE: Period = (NOW - timedelta(days=30), None, None)
# Half the periods are plainly in force, the others anything (ended, revoked, future, edges).
periods: st.SearchStrategy[Period] = st.one_of(
    st.just(IN_FORCE), st.tuples(starts, ends, revocations))


@st.composite
def facts_for(draw: st.DrawFn, principal: Principal) -> RepresentationFacts:
    """Random registries, biased towards the principal: mandates it holds, CCCs assigned to it,
    grants to the person, with random scopes, restrictions and periods (ended ones too)."""
    me = principal.acts_for
    person = principal.person_identifier or PERSONS[0]
    mandates = []
    for _ in range(draw(st.integers(0, 5))):
        valid_from, valid_to, revoked_at = draw(periods)
        mandates.append(Mandate(
            id=None, grantor=draw(st.sampled_from(IDENTIFIERS)),
            grantee=draw(mostly(me, IDENTIFIERS)), scopes=draw(mandate_scopes),
            valid_from=valid_from, valid_to=valid_to, revoked_at=revoked_at,
            issuers=draw(issuers_restriction), cccs=draw(cccs_restriction),
            special_category=draw(st.booleans()), granted_at=draw(st.none() | starts),
        ))
    red_assignments = draw(st.lists(st.builds(
        RedAssignment, ccc=st.sampled_from(CCCS), company=st.sampled_from(IDENTIFIERS),
        agent=mostly(me, IDENTIFIERS), assigned_at=starts, unassigned_at=ends,
    ), max_size=5))
    grants = []
    for _ in range(draw(st.integers(0, 3))):
        valid_from, valid_to, revoked_at = draw(periods)
        invited_at = draw(st.one_of(st.just(valid_from), starts))
        grants.append(AccessGrant(
            id=None, entity=draw(st.sampled_from(ENTITIES)), grantee=draw(mostly(person, PERSONS)),
            scopes=draw(grant_scopes), granted_by=REPRESENTATIVE_NIF, invited_at=invited_at,
            valid_from=valid_from, valid_to=valid_to, revoked_at=revoked_at,
            activated_at=draw(st.one_of(st.just(invited_at + timedelta(hours=1)), ends)),
            cccs=draw(cccs_restriction), special_category=draw(st.booleans()),
        ))
    managed = draw(st.lists(st.builds(
        AccessManager, id=st.none(), entity=st.sampled_from(ENTITIES),
        person=mostly(person, PERSONS), named_by=st.just(REPRESENTATIVE_NIF),
        valid_from=starts, valid_to=ends, revoked_at=revocations,
    ), max_size=2))
    return RepresentationFacts(
        red_assignments=tuple(red_assignments), mandates=tuple(mandates), grants=tuple(grants),
        managed=tuple(managed), registry_start=draw(registry_starts),
    )


@st.composite
def notifications(draw: st.DrawFn, acted_by: str | None = None,
                  recipients: tuple[str, ...] = (), cccs: tuple[str, ...] = ()) -> Notification:
    """A random item; ``recipients``/``cccs`` are drawn more often than the rest of the pool,
    and ``acted_by`` is often the one who accepted or rejected it."""
    kind = draw(st.sampled_from(ItemKind))
    statuses = ([Status.AVAILABLE, Status.ACCEPTED, Status.REJECTED, Status.EXPIRED]
                if kind is ItemKind.NOTIFICATION else [Status.AVAILABLE, Status.READ])
    status = draw(st.sampled_from(statuses))
    made_available_at = NOW - timedelta(days=draw(st.integers(0, 30)))
    actors = st.none() | st.sampled_from(IDENTIFIERS)
    if acted_by is not None:
        actors = st.one_of(st.just(acted_by), actors)
    return Notification(
        id=draw(st.integers(1, 10_000)),
        kind=kind,
        issuer=draw(st.sampled_from(Issuer)),
        issuer_reference="REF-1",
        procedure="Reclamación de deuda",
        subject="Providencia de apremio",
        recipient=draw(st.sampled_from(IDENTIFIERS + recipients * 2)),
        ccc=draw(st.sampled_from((None,) + CCCS + cccs * 2)),
        category=draw(st.sampled_from(Category)),
        made_available_at=made_available_at,
        deadline_at=(made_available_at + timedelta(days=10)
                     if kind is ItemKind.NOTIFICATION else None),
        status=status,
        status_at=made_available_at,
        acted_by=(draw(actors)
                  if status in (Status.ACCEPTED, Status.REJECTED, Status.READ) else None),
    )


@st.composite
def worlds(draw: st.DrawFn, max_items: int = 8) -> tuple[Principal, RepresentationFacts,
                                                         list[Notification]]:
    principal = draw(principals)
    facts = draw(facts_for(principal))
    related = tuple(sorted({m.grantor for m in facts.mandates} | {g.entity for g in facts.grants}
                           | {a.company for a in facts.red_assignments}))
    cccs = tuple(sorted({a.ccc for a in facts.red_assignments}
                        | {c for m in facts.mandates for c in m.cccs or ()}))
    items = draw(st.lists(notifications(principal.acts_for, related, cccs), min_size=1,
                          max_size=max_items))
    return principal, facts, items


@settings(max_examples=300, deadline=None)
@given(world=worlds())
def test_read_decision_equals_listing_clauses(
    world: tuple[Principal, RepresentationFacts, list[Notification]],
) -> None:
    principal, facts, items = world
    clauses = audiences(principal, facts, NOW)
    index = AudienceIndex(clauses)
    for item in items:
        decision = decide(principal, Action.READ, item, facts, NOW)
        assert decision.allowed == any(clause.admits(item) for clause in clauses), (
            decision, clauses)
        assert decision.role == role_of(clauses, item), (decision, clauses)
        assert index.role_of(item) == decision.role
        assert (decision.role is not None) == decision.allowed
        event(f"READ {'allowed' if decision.allowed else 'refused'}: {decision.reason.value}")


def _without_special_blind_sources(facts: RepresentationFacts) -> RepresentationFacts:
    """The facts that may legitimately open a special-category item: no RED assignment, no
    mandate or grant lacking the special-category flag."""
    return replace(
        facts,
        red_assignments=(),
        mandates=tuple(m for m in facts.mandates if m.special_category),
        grants=tuple(g for g in facts.grants if g.special_category),
    )


notification_actions = st.sampled_from(sorted(NOTIFICATION_ACTIONS, key=lambda a: a.value))


@settings(max_examples=300, deadline=None)
@given(world=worlds(), action=notification_actions)
def test_special_category_only_through_self_or_flagged_rights(
    world: tuple[Principal, RepresentationFacts, list[Notification]], action: Action,
) -> None:
    principal, facts, items = world
    clauses = audiences(principal, facts, NOW)
    for item in items:
        item = replace(item, category=Category.SPECIAL)
        decision = decide(principal, action, item, facts, NOW)
        narrowed = decide(principal, action, item, _without_special_blind_sources(facts), NOW)
        assert decision.allowed == narrowed.allowed, (decision, narrowed)
        if decision.allowed:
            assert decision.role in (Role.OWN, Role.MANDATE, Role.GRANT)
            assert decision.role == narrowed.role
        event(f"{action.name} special {'allowed' if decision.allowed else 'refused'}: "
              f"{decision.reason.value}")
        for clause in clauses:
            if clause.admits(item):
                assert clause.role is not Role.RED
                assert clause.role is Role.OWN or clause.include_special


@settings(max_examples=200, deadline=None)
@given(world=worlds(), action=notification_actions)
def test_red_alone_never_opens_special_category(
    world: tuple[Principal, RepresentationFacts, list[Notification]], action: Action,
) -> None:
    principal, facts, items = world
    only_red = RepresentationFacts(red_assignments=facts.red_assignments)
    for item in items:
        item = replace(item, category=Category.SPECIAL)
        decision = decide(principal, action, item, only_red, NOW)
        if item.recipient == principal.acts_for:
            assert decision.allowed and decision.role is Role.OWN
            continue
        assert not decision.allowed
        related = any(a.agent == principal.acts_for and a.company == item.recipient
                      and a.ccc == item.ccc for a in only_red.red_assignments)
        assert decision.reason is (Reason.SPECIAL_CATEGORY if related else Reason.NO_RELATION)


@settings(max_examples=200, deadline=None)
@given(world=worlds())
def test_an_unassigned_agent_only_keeps_what_it_accepted(
    world: tuple[Principal, RepresentationFacts, list[Notification]],
) -> None:
    """With RED assignments only, a notification of a CCC the agent does not hold now is read
    only if the agent accepted it itself (and is normal-category), and is never signed."""
    principal, facts, items = world
    only_red = RepresentationFacts(red_assignments=facts.red_assignments)
    for item in items:
        if item.recipient == principal.acts_for:
            continue
        held_now = any(a.agent == principal.acts_for and a.company == item.recipient
                       and a.ccc == item.ccc and a.active_at(NOW)
                       for a in only_red.red_assignments)
        read = decide(principal, Action.READ, item, only_red, NOW)
        if held_now:
            assert read.allowed is (item.category is Category.NORMAL)
            continue
        assert not decide(principal, Action.SIGN, item, only_red, NOW).allowed
        if read.allowed:
            assert read.reason is Reason.RED_ACCEPTED
            assert item.status is Status.ACCEPTED and item.acted_by == principal.acts_for
            assert item.category is Category.NORMAL
            assert decide(principal, Action.CONTENT, item, only_red, NOW).allowed
