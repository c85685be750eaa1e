"""The authorisation decision as a table: every source of right x every action x category.

Each row of ``SCENARIOS`` is one source of right (or its absence) as recorded facts, and states
what ``decide`` must answer for the ten columns below. The expectations are written out by hand,
independently of ``gateway.domain.authorization``, so a change of rule has to change this table
too. A cell is a token:

    +REASON/ROLE    allowed, with that reason and role
    +REASON         allowed, with no role (management actions)
    -REASON         refused, with that reason

and a group with a single token means "the same for every column of the group".

Columns, in order:

    normal  = READ, SIGN, CONTENT on a NORMAL notification
    special = READ, SIGN, CONTENT on a SPECIAL-category notification
    subject = POSTAL on Subject(recipient), ASSIGN_RECEPTION on Subject(recipient, CCC_A),
              GRANT_ACCESS and NAME_MANAGERS on Subject(recipient)

Unless a row says otherwise, notifications are addressed to ``COMPANY``, on ``CCC_A``, issued by
TGSS, AVAILABLE; ``NOW`` is the official time of the decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.authorization import Decision, Subject, decide
from gateway.domain.listing import Role
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

# --- identities (valid check characters; see gateway.domain.identifiers) ------------------------

COMPANY = "B12345674"  # the recipient entity
OTHER_COMPANY = "A23456783"  # an unrelated entity
AGENT = "B76543214"  # a RED authorised agent / mandate grantee (entity)
OTHER_AGENT = "B34567891"  # the agent a CCC is reassigned to
PERSON = "12345678Z"  # a natural person recipient
USER = "23456789D"  # a person: access manager, grantee of grants, mandate grantee
REPRESENTATIVE_NIF = "34567890V"  # the person behind a representative certificate
STRANGER = "45678901G"  # a person with no relation to anybody
MANAGER = "56789012B"  # the access manager who made the grants

CCC_A = "28123456742"  # the CCC the notifications are on (28/1234567/42)
CCC_B = "28765432145"  # another CCC of the company (28/7654321/45)

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
REGISTRY_START = datetime(2025, 1, 1, tzinfo=UTC)
A_YEAR_AGO = NOW - timedelta(days=365)
LAST_MONTH = NOW - timedelta(days=30)
AN_HOUR_AGO = NOW - timedelta(hours=1)
IN_A_WEEK = NOW + timedelta(days=7)
BEFORE_REGISTRY = REGISTRY_START - timedelta(days=10)

# --- principals ---------------------------------------------------------------------------------


def person(nif: str) -> Principal:
    return Principal(PrincipalKind.PERSON, nif, f"PERSONA {nif}", "aa" * 32, person_identifier=nif)


def seal(cif: str) -> Principal:
    return Principal(PrincipalKind.ENTITY, cif, f"ENTIDAD {cif}", "bb" * 32)


def representative(cif: str, nif: str = REPRESENTATIVE_NIF) -> Principal:
    return Principal(PrincipalKind.REPRESENTATIVE, cif, f"{nif} (R: {cif})", "cc" * 32,
                     person_identifier=nif)


# --- facts --------------------------------------------------------------------------------------


def mandate(
    scopes: Iterable[Action] = MANDATE_SCOPES, *, grantor: str = COMPANY, grantee: str = AGENT,
    valid_from: datetime = A_YEAR_AGO, **changes: object,
) -> Mandate:
    return Mandate(id=None, grantor=grantor, grantee=grantee, scopes=frozenset(scopes),
                   valid_from=valid_from, **changes)  # type: ignore[arg-type]


def red(agent: str = AGENT, *, ccc: str = CCC_A, assigned_at: datetime = A_YEAR_AGO,
        unassigned_at: datetime | None = None) -> RedAssignment:
    return RedAssignment(ccc=ccc, company=COMPANY, agent=agent, assigned_at=assigned_at,
                         unassigned_at=unassigned_at)


def manager(person_nif: str = USER, *, entity: str = COMPANY, valid_from: datetime = A_YEAR_AGO,
            **changes: object) -> AccessManager:
    return AccessManager(id=None, entity=entity, person=person_nif, named_by=REPRESENTATIVE_NIF,
                         valid_from=valid_from, **changes)  # type: ignore[arg-type]


def grant(
    scopes: Iterable[Action] = GRANT_SCOPES, *, grantee: str = USER,
    invited_at: datetime = LAST_MONTH, activated_at: datetime | None = LAST_MONTH + timedelta(hours=2),
    valid_from: datetime = LAST_MONTH, **changes: object,
) -> AccessGrant:
    return AccessGrant(id=None, entity=COMPANY, grantee=grantee, scopes=frozenset(scopes),
                       granted_by=MANAGER, invited_at=invited_at, valid_from=valid_from,
                       activated_at=activated_at, **changes)  # type: ignore[arg-type]


def facts(*sources: Mandate | RedAssignment | AccessManager | AccessGrant) -> RepresentationFacts:
    return RepresentationFacts(
        red_assignments=tuple(s for s in sources if isinstance(s, RedAssignment)),
        mandates=tuple(s for s in sources if isinstance(s, Mandate)),
        grants=tuple(s for s in sources if isinstance(s, AccessGrant)),
        managed=tuple(s for s in sources if isinstance(s, AccessManager)),
        registry_start=REGISTRY_START,
    )


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    principal: Principal
    facts: RepresentationFacts
    normal: str
    special: str
    subject: str
    recipient: str = COMPANY
    status: Status = Status.AVAILABLE
    acted_by: str | None = None
    cells: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        cells: list[str] = []
        for group, width in ((self.normal, 3), (self.special, 3), (self.subject, 4)):
            tokens = group.split()
            if len(tokens) == 1:
                tokens *= width
            assert len(tokens) == width, f"{self.name}: {group!r} needs {width} cells"
            cells += tokens
        object.__setattr__(self, "cells", tuple(cells))


ALL_GRANT = GRANT_SCOPES
ALL_MANDATE = MANDATE_SCOPES

SCENARIOS = [
    # --- self ----------------------------------------------------------------------------------
    Scenario("self: person", person(PERSON), facts(), recipient=PERSON,
             normal="+SELF/OWN", special="+SELF/OWN",
             subject="+SELF/OWN +SELF/OWN -NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("self: entity seal", seal(COMPANY), facts(),
             normal="+SELF/OWN", special="+SELF/OWN",
             subject="+SELF/OWN +SELF/OWN -NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("self: entity seal with an unrelated mandate", seal(COMPANY),
             facts(mandate([Action.READ], grantor=OTHER_COMPANY, grantee=COMPANY)),
             normal="+SELF/OWN", special="+SELF/OWN",
             subject="+SELF/OWN +SELF/OWN -NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("representative certificate", representative(COMPANY), facts(),
             normal="+REPRESENTATIVE/OWN", special="+REPRESENTATIVE/OWN",
             subject="+REPRESENTATIVE/OWN +REPRESENTATIVE/OWN "
                     "+MAIN_ACCESS_MANAGER +MAIN_ACCESS_MANAGER"),
    # --- mandate: one row per scope ----------------------------------------------------------
    Scenario("mandate: notifications.read", seal(AGENT), facts(mandate([Action.READ])),
             normal="+MANDATE/MANDATE -SCOPE_MISSING -SCOPE_MISSING",
             special="-SPECIAL_CATEGORY -SCOPE_MISSING -SCOPE_MISSING",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: notifications.sign", seal(AGENT), facts(mandate([Action.SIGN])),
             normal="-SCOPE_MISSING +MANDATE/MANDATE -SCOPE_MISSING",
             special="-SCOPE_MISSING -SPECIAL_CATEGORY -SCOPE_MISSING",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: notifications.content", seal(AGENT), facts(mandate([Action.CONTENT])),
             normal="-SCOPE_MISSING -SCOPE_MISSING +MANDATE/MANDATE",
             special="-SCOPE_MISSING -SCOPE_MISSING -SPECIAL_CATEGORY",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: postal.manage", seal(AGENT), facts(mandate([Action.POSTAL])),
             normal="-SCOPE_MISSING", special="-SCOPE_MISSING",
             subject="+MANDATE/MANDATE -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: reception.assign", seal(AGENT), facts(mandate([Action.ASSIGN_RECEPTION])),
             normal="-SCOPE_MISSING", special="-SCOPE_MISSING",
             subject="-SCOPE_MISSING +MANDATE/MANDATE "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: every scope", seal(AGENT), facts(mandate(ALL_MANDATE)),
             normal="+MANDATE/MANDATE", special="-SPECIAL_CATEGORY",
             subject="+MANDATE/MANDATE +MANDATE/MANDATE "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: held through the grantee's representative certificate",
             representative(AGENT), facts(mandate(ALL_MANDATE)),
             normal="+MANDATE/MANDATE", special="-SPECIAL_CATEGORY",
             subject="+MANDATE/MANDATE +MANDATE/MANDATE "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: to a person grantee", person(USER),
             facts(mandate([Action.READ, Action.SIGN], grantee=USER)),
             normal="+MANDATE/MANDATE +MANDATE/MANDATE -SCOPE_MISSING",
             special="-SPECIAL_CATEGORY -SPECIAL_CATEGORY -SCOPE_MISSING",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: from a person grantor", seal(AGENT),
             facts(mandate(ALL_MANDATE, grantor=PERSON)), recipient=PERSON,
             normal="+MANDATE/MANDATE", special="-SPECIAL_CATEGORY",
             subject="+MANDATE/MANDATE +MANDATE/MANDATE "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    # --- mandate: validity ---------------------------------------------------------------------
    Scenario("mandate: expired", seal(AGENT), facts(mandate(ALL_MANDATE, valid_to=AN_HOUR_AGO)),
             normal="-MANDATE_EXPIRED", special="-MANDATE_EXPIRED", subject="-MANDATE_EXPIRED -MANDATE_EXPIRED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: revoked", seal(AGENT),
             facts(mandate(ALL_MANDATE, special_category=True, revoked_at=AN_HOUR_AGO)),
             normal="-MANDATE_REVOKED", special="-MANDATE_REVOKED", subject="-MANDATE_REVOKED -MANDATE_REVOKED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: revoked for later (still in force)", seal(AGENT),
             facts(mandate([Action.READ], revoked_at=IN_A_WEEK)),
             normal="+MANDATE/MANDATE -SCOPE_MISSING -SCOPE_MISSING",
             special="-SPECIAL_CATEGORY -SCOPE_MISSING -SCOPE_MISSING",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: not yet valid", seal(AGENT), facts(mandate(ALL_MANDATE, valid_from=IN_A_WEEK)),
             normal="-MANDATE_NOT_YET_VALID", special="-MANDATE_NOT_YET_VALID",
             subject="-MANDATE_NOT_YET_VALID -MANDATE_NOT_YET_VALID "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: void, given before the registry started", seal(AGENT),
             facts(mandate(ALL_MANDATE, granted_at=BEFORE_REGISTRY)),
             normal="-MANDATE_VOID", special="-MANDATE_VOID", subject="-MANDATE_VOID -MANDATE_VOID "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: void, valid from before the registry (no granted_at)", seal(AGENT),
             facts(mandate(ALL_MANDATE, valid_from=BEFORE_REGISTRY, special_category=True)),
             normal="-MANDATE_VOID", special="-MANDATE_VOID", subject="-MANDATE_VOID -MANDATE_VOID "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    # --- mandate: restrictions -----------------------------------------------------------------
    Scenario("mandate: issuer-restricted, covered", seal(AGENT),
             facts(mandate(ALL_MANDATE, issuers=frozenset({"TGSS"}))),
             normal="+MANDATE/MANDATE", special="-SPECIAL_CATEGORY",
             subject="-ISSUER_NOT_COVERED -ISSUER_NOT_COVERED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: issuer-restricted, not covered", seal(AGENT),
             facts(mandate(ALL_MANDATE, issuers=frozenset({"INSS", "ISM"}),
                           special_category=True)),
             normal="-ISSUER_NOT_COVERED", special="-ISSUER_NOT_COVERED",
             subject="-ISSUER_NOT_COVERED -ISSUER_NOT_COVERED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: CCC-restricted, covered", seal(AGENT),
             facts(mandate(ALL_MANDATE, cccs=frozenset({CCC_A}))),
             normal="+MANDATE/MANDATE", special="-SPECIAL_CATEGORY",
             # the postal channel is the whole recipient's; reception of CCC_A is covered
             subject="-CCC_NOT_COVERED +MANDATE/MANDATE "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: CCC-restricted, not covered", seal(AGENT),
             facts(mandate(ALL_MANDATE, cccs=frozenset({CCC_B}), special_category=True)),
             normal="-CCC_NOT_COVERED", special="-CCC_NOT_COVERED",
             subject="-CCC_NOT_COVERED -CCC_NOT_COVERED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    # --- mandate: special category -------------------------------------------------------------
    Scenario("mandate: special-category flag", seal(AGENT),
             facts(mandate(ALL_MANDATE, special_category=True)),
             normal="+MANDATE/MANDATE", special="+MANDATE/MANDATE",
             subject="+MANDATE/MANDATE +MANDATE/MANDATE "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: special-category flag, read only", seal(AGENT),
             facts(mandate([Action.READ], special_category=True)),
             normal="+MANDATE/MANDATE -SCOPE_MISSING -SCOPE_MISSING",
             special="+MANDATE/MANDATE -SCOPE_MISSING -SCOPE_MISSING",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: special-category flag, CCC- and issuer-restricted, covered", seal(AGENT),
             facts(mandate(ALL_MANDATE, special_category=True, cccs=frozenset({CCC_A, CCC_B}),
                           issuers=frozenset({"TGSS", "INSS"}))),
             normal="+MANDATE/MANDATE", special="+MANDATE/MANDATE",
             subject="-ISSUER_NOT_COVERED -ISSUER_NOT_COVERED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    # --- mandate: several, and unrelated ones --------------------------------------------------
    Scenario("mandate: a revoked one, then one in force for reading", seal(AGENT),
             facts(mandate(ALL_MANDATE, revoked_at=LAST_MONTH), mandate([Action.READ])),
             normal="+MANDATE/MANDATE -MANDATE_REVOKED -MANDATE_REVOKED",
             special="-MANDATE_REVOKED", subject="-MANDATE_REVOKED -MANDATE_REVOKED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: from another grantor", seal(AGENT),
             facts(mandate(ALL_MANDATE, grantor=OTHER_COMPANY, special_category=True)),
             normal="-NO_RELATION", special="-NO_RELATION", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("mandate: to another grantee", seal(AGENT),
             facts(mandate(ALL_MANDATE, grantee=OTHER_AGENT, special_category=True)),
             normal="-NO_RELATION", special="-NO_RELATION", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    # --- RED ------------------------------------------------------------------------------------
    Scenario("RED: assigned", seal(AGENT), facts(red()),
             normal="+RED_ASSIGNMENT/RED", special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: assigned, agent's representative certificate", representative(AGENT),
             facts(red()),
             normal="+RED_ASSIGNMENT/RED", special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: assigned, another CCC", seal(AGENT), facts(red(ccc=CCC_B)),
             normal="-NO_RELATION", special="-NO_RELATION", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: unassigned", seal(AGENT), facts(red(unassigned_at=AN_HOUR_AGO)),
             normal="-RED_UNASSIGNED", special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: not assigned yet", seal(AGENT), facts(red(assigned_at=IN_A_WEEK)),
             normal="-RED_UNASSIGNED", special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: reassigned to another agent (old agent)", seal(AGENT),
             facts(red(unassigned_at=AN_HOUR_AGO), red(OTHER_AGENT, assigned_at=AN_HOUR_AGO)),
             normal="-RED_UNASSIGNED", special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: reassigned to another agent (new agent)", seal(OTHER_AGENT),
             facts(red(unassigned_at=AN_HOUR_AGO), red(OTHER_AGENT, assigned_at=AN_HOUR_AGO)),
             normal="+RED_ASSIGNMENT/RED", special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: unassigned then assigned again to the same agent", seal(AGENT),
             facts(red(unassigned_at=LAST_MONTH), red(assigned_at=AN_HOUR_AGO)),
             normal="+RED_ASSIGNMENT/RED", special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: unassigned, accepted by this agent", seal(AGENT),
             facts(red(unassigned_at=AN_HOUR_AGO)), status=Status.ACCEPTED, acted_by=AGENT,
             normal="+RED_ACCEPTED/RED -RED_UNASSIGNED +RED_ACCEPTED/RED",
             special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: unassigned, accepted by the company itself", seal(AGENT),
             facts(red(unassigned_at=AN_HOUR_AGO)), status=Status.ACCEPTED, acted_by=COMPANY,
             normal="-RED_UNASSIGNED", special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: unassigned, rejected by this agent", seal(AGENT),
             facts(red(unassigned_at=AN_HOUR_AGO)), status=Status.REJECTED, acted_by=AGENT,
             normal="-RED_UNASSIGNED", special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: assigned, accepted by this agent", seal(AGENT), facts(red()),
             status=Status.ACCEPTED, acted_by=AGENT,
             normal="+RED_ASSIGNMENT/RED", special="-SPECIAL_CATEGORY", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("RED: assigned, plus a special-category mandate", seal(AGENT),
             facts(red(), mandate([Action.READ], special_category=True)),
             normal="+MANDATE/MANDATE +RED_ASSIGNMENT/RED +RED_ASSIGNMENT/RED",
             special="+MANDATE/MANDATE -SCOPE_MISSING -SCOPE_MISSING",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    # --- access managers ----------------------------------------------------------------------
    Scenario("access manager: active", person(USER), facts(manager()),
             normal="-NO_RELATION", special="-NO_RELATION",
             subject="-NO_RELATION -NO_RELATION "
                     "+ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("access manager: removed", person(USER), facts(manager(revoked_at=AN_HOUR_AGO)),
             normal="-NO_RELATION", special="-NO_RELATION",
             subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("access manager: term ended", person(USER), facts(manager(valid_to=AN_HOUR_AGO)),
             normal="-NO_RELATION", special="-NO_RELATION",
             subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("access manager: of another entity", person(USER),
             facts(manager(entity=OTHER_COMPANY)),
             normal="-NO_RELATION", special="-NO_RELATION", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("access manager: with a grant to itself", person(USER),
             facts(manager(), grant([Action.READ])),
             normal="+GRANT/GRANT -SCOPE_MISSING -SCOPE_MISSING",
             special="-SPECIAL_CATEGORY -SCOPE_MISSING -SCOPE_MISSING",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "+ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    # --- grants ---------------------------------------------------------------------------------
    Scenario("grant: notifications.read", person(USER), facts(grant([Action.READ])),
             normal="+GRANT/GRANT -SCOPE_MISSING -SCOPE_MISSING",
             special="-SPECIAL_CATEGORY -SCOPE_MISSING -SCOPE_MISSING",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: notifications.sign", person(USER), facts(grant([Action.SIGN])),
             normal="-SCOPE_MISSING +GRANT/GRANT -SCOPE_MISSING",
             special="-SCOPE_MISSING -SPECIAL_CATEGORY -SCOPE_MISSING",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: notifications.content", person(USER), facts(grant([Action.CONTENT])),
             normal="-SCOPE_MISSING -SCOPE_MISSING +GRANT/GRANT",
             special="-SCOPE_MISSING -SCOPE_MISSING -SPECIAL_CATEGORY",
             subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: every scope", person(USER), facts(grant(ALL_GRANT)),
             normal="+GRANT/GRANT", special="-SPECIAL_CATEGORY", subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: special-category flag", person(USER),
             facts(grant(ALL_GRANT, special_category=True)),
             normal="+GRANT/GRANT", special="+GRANT/GRANT", subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: CCC-limited, covered", person(USER),
             facts(grant(ALL_GRANT, cccs=frozenset({CCC_A}))),
             normal="+GRANT/GRANT", special="-SPECIAL_CATEGORY", subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: CCC-limited, not covered", person(USER),
             facts(grant(ALL_GRANT, cccs=frozenset({CCC_B}), special_category=True)),
             normal="-CCC_NOT_COVERED", special="-CCC_NOT_COVERED", subject="-SCOPE_MISSING -SCOPE_MISSING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: expired", person(USER), facts(grant(ALL_GRANT, valid_to=AN_HOUR_AGO)),
             normal="-GRANT_EXPIRED", special="-GRANT_EXPIRED", subject="-GRANT_EXPIRED -GRANT_EXPIRED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: revoked", person(USER), facts(grant(ALL_GRANT, revoked_at=AN_HOUR_AGO)),
             normal="-GRANT_REVOKED", special="-GRANT_REVOKED", subject="-GRANT_REVOKED -GRANT_REVOKED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: activated, not yet valid", person(USER),
             facts(grant(ALL_GRANT, valid_from=IN_A_WEEK)),
             normal="-GRANT_NOT_YET_VALID", special="-GRANT_NOT_YET_VALID",
             subject="-GRANT_NOT_YET_VALID -GRANT_NOT_YET_VALID "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: invitation pending (< 24 h)", person(USER),
             facts(grant(ALL_GRANT, special_category=True, invited_at=NOW - timedelta(hours=2),
                         valid_from=NOW - timedelta(hours=2), activated_at=None)),
             normal="-INVITATION_PENDING", special="-INVITATION_PENDING",
             subject="-INVITATION_PENDING -INVITATION_PENDING "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: invitation lapsed (> 24 h)", person(USER),
             facts(grant(ALL_GRANT, invited_at=NOW - timedelta(hours=25),
                         valid_from=NOW - timedelta(hours=25), activated_at=None)),
             normal="-INVITATION_EXPIRED", special="-INVITATION_EXPIRED",
             subject="-INVITATION_EXPIRED -INVITATION_EXPIRED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: invitation revoked before activation", person(USER),
             facts(grant(ALL_GRANT, invited_at=NOW - timedelta(hours=2), activated_at=None,
                         valid_from=NOW - timedelta(hours=2), revoked_at=AN_HOUR_AGO)),
             normal="-GRANT_REVOKED", special="-GRANT_REVOKED", subject="-GRANT_REVOKED -GRANT_REVOKED "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: to another person", person(STRANGER), facts(grant(ALL_GRANT)),
             normal="-NO_RELATION", special="-NO_RELATION", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("grant: not usable through a representative certificate",
             representative(OTHER_COMPANY, USER), facts(grant(ALL_GRANT, special_category=True)),
             normal="-NO_RELATION", special="-NO_RELATION", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    # --- no relation ---------------------------------------------------------------------------
    Scenario("no relation: person", person(STRANGER), facts(),
             normal="-NO_RELATION", special="-NO_RELATION", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("no relation: entity seal", seal(OTHER_COMPANY), facts(),
             normal="-NO_RELATION", special="-NO_RELATION", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
    Scenario("no relation: another entity's representative", representative(OTHER_COMPANY),
             facts(), normal="-NO_RELATION", special="-NO_RELATION", subject="-NO_RELATION -NO_RELATION "
                     "-NOT_ACCESS_MANAGER -NOT_MAIN_ACCESS_MANAGER"),
]

COLUMNS: tuple[tuple[Action, Category | None], ...] = (
    (Action.READ, Category.NORMAL), (Action.SIGN, Category.NORMAL),
    (Action.CONTENT, Category.NORMAL),
    (Action.READ, Category.SPECIAL), (Action.SIGN, Category.SPECIAL),
    (Action.CONTENT, Category.SPECIAL),
    (Action.POSTAL, None), (Action.ASSIGN_RECEPTION, None), (Action.GRANT_ACCESS, None),
    (Action.NAME_MANAGERS, None),
)


@dataclass(frozen=True)
class Expected:
    allowed: bool
    reason: Reason
    role: Role | None

    @classmethod
    def parse(cls, token: str) -> Expected:
        sign, rest = token[0], token[1:]
        assert sign in "+-", token
        reason, _, role = rest.partition("/")
        assert sign == "+" or not role, f"a refusal has no role: {token}"
        return cls(sign == "+", Reason(reason), Role(role) if role else None)


def notification(recipient: str, category: Category, status: Status,
                 acted_by: str | None) -> Notification:
    made_available_at = NOW - timedelta(days=2)
    return Notification(
        id=1, kind=ItemKind.NOTIFICATION, issuer=Issuer.TGSS, issuer_reference="TGSS-2026-000001",
        procedure="Reclamación de deuda", subject="Providencia de apremio",
        recipient=recipient, ccc=CCC_A, category=category, made_available_at=made_available_at,
        deadline_at=made_available_at + timedelta(days=10), status=status,
        status_at=made_available_at if status is Status.AVAILABLE else AN_HOUR_AGO,
        acted_by=acted_by,
    )


def resource(scenario: Scenario, action: Action,
             category: Category | None) -> Notification | Subject:
    if category is not None:
        return notification(scenario.recipient, category, scenario.status, scenario.acted_by)
    if action is Action.ASSIGN_RECEPTION:
        return Subject(scenario.recipient, CCC_A)
    return Subject(scenario.recipient)


CASES = [
    pytest.param(scenario, action, category, Expected.parse(token),
                 id=f"{scenario.name} | {action.name} {category.value if category else 'SUBJECT'}")
    for scenario in SCENARIOS
    for (action, category), token in zip(COLUMNS, scenario.cells, strict=True)
]


@pytest.mark.parametrize(("scenario", "action", "category", "expected"), CASES)
def test_decision(scenario: Scenario, action: Action, category: Category | None,
                  expected: Expected) -> None:
    decision = decide(scenario.principal, action, resource(scenario, action, category),
                      scenario.facts, NOW)
    assert (decision.allowed, decision.reason, decision.role) == (
        expected.allowed, expected.reason, expected.role)
    assert bool(decision) is expected.allowed


def test_table_is_large_and_covers_every_action_and_reason() -> None:
    assert len(CASES) >= 150
    assert {action for action, _ in COLUMNS} == set(Action)
    named = {Expected.parse(token).reason for s in SCENARIOS for token in s.cells}
    assert named == set(Reason), f"reasons never expected: {set(Reason) - named}"
    roles = {Expected.parse(token).role for s in SCENARIOS for token in s.cells}
    assert roles >= set(Role)
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))


# --- boundaries: instants of change belong to the new state ------------------------------------

BOUNDARIES = [
    # (what, facts, principal, expected READ on a normal notification)
    ("mandate valid_from == now", facts(mandate([Action.READ], valid_from=NOW)), seal(AGENT),
     "+MANDATE/MANDATE"),
    ("mandate valid_to == now", facts(mandate([Action.READ], valid_to=NOW)), seal(AGENT),
     "-MANDATE_EXPIRED"),
    ("mandate revoked_at == now", facts(mandate([Action.READ], revoked_at=NOW)), seal(AGENT),
     "-MANDATE_REVOKED"),
    ("mandate given exactly at registry start",
     facts(mandate([Action.READ], valid_from=REGISTRY_START)), seal(AGENT), "+MANDATE/MANDATE"),
    ("mandate given a second before registry start",
     facts(mandate([Action.READ], granted_at=REGISTRY_START - timedelta(seconds=1))), seal(AGENT),
     "-MANDATE_VOID"),
    ("mandate revoked and expired: revocation wins",
     facts(mandate([Action.READ], valid_to=LAST_MONTH, revoked_at=AN_HOUR_AGO)), seal(AGENT),
     "-MANDATE_REVOKED"),
    ("void mandate, otherwise revoked: void wins",
     facts(mandate([Action.READ], granted_at=BEFORE_REGISTRY, revoked_at=AN_HOUR_AGO)), seal(AGENT),
     "-MANDATE_VOID"),
    ("RED assigned_at == now", facts(red(assigned_at=NOW)), seal(AGENT), "+RED_ASSIGNMENT/RED"),
    ("RED unassigned_at == now", facts(red(unassigned_at=NOW)), seal(AGENT), "-RED_UNASSIGNED"),
    ("invitation 23:59:59 old", facts(grant(
        [Action.READ], invited_at=NOW - timedelta(hours=24) + timedelta(seconds=1),
        valid_from=NOW - timedelta(hours=24), activated_at=None)), person(USER),
     "-INVITATION_PENDING"),
    ("invitation exactly 24 h old", facts(grant(
        [Action.READ], invited_at=NOW - timedelta(hours=24), valid_from=NOW - timedelta(hours=24),
        activated_at=None)), person(USER), "-INVITATION_EXPIRED"),
    ("invitation activated within 24 h, used much later", facts(grant(
        [Action.READ], invited_at=LAST_MONTH, valid_from=LAST_MONTH,
        activated_at=LAST_MONTH + timedelta(hours=23))), person(USER), "+GRANT/GRANT"),
    ("invitation activated in the future (not yet)", facts(grant(
        [Action.READ], invited_at=NOW - timedelta(hours=1), valid_from=NOW - timedelta(hours=1),
        activated_at=NOW + timedelta(minutes=5))), person(USER), "-INVITATION_PENDING"),
    ("grant valid_to == now", facts(grant([Action.READ], valid_to=NOW)), person(USER),
     "-GRANT_EXPIRED"),
    ("grant revoked_at == now", facts(grant([Action.READ], revoked_at=NOW)), person(USER),
     "-GRANT_REVOKED"),
]


@pytest.mark.parametrize(("what", "the_facts", "principal", "token"), BOUNDARIES,
                         ids=[b[0] for b in BOUNDARIES])
def test_boundary(what: str, the_facts: RepresentationFacts, principal: Principal,
                  token: str) -> None:
    expected = Expected.parse(token)
    decision = decide(principal, Action.READ,
                      notification(COMPANY, Category.NORMAL, Status.AVAILABLE, None),
                      the_facts, NOW)
    assert decision == Decision(expected.allowed, expected.reason, expected.role)


def test_access_manager_boundaries() -> None:
    subject = Subject(COMPANY)
    starts_now = facts(manager(valid_from=NOW))
    removed_now = facts(manager(revoked_at=NOW))
    assert decide(person(USER), Action.GRANT_ACCESS, subject, starts_now, NOW) == Decision(
        True, Reason.ACCESS_MANAGER)
    assert decide(person(USER), Action.GRANT_ACCESS, subject, removed_now, NOW) == Decision(
        False, Reason.NOT_ACCESS_MANAGER)


@pytest.mark.parametrize("action", [a for a in Action if a in NOTIFICATION_ACTIONS],
                         ids=str)
def test_notification_action_on_a_subject_is_a_programming_error(action: Action) -> None:
    with pytest.raises(ValueError):
        decide(seal(COMPANY), action, Subject(COMPANY), facts(), NOW)


def test_without_registry_start_no_mandate_is_void() -> None:
    old = mandate([Action.READ], valid_from=BEFORE_REGISTRY)
    no_registry = RepresentationFacts(mandates=(old,))
    item = notification(COMPANY, Category.NORMAL, Status.AVAILABLE, None)
    assert decide(seal(AGENT), Action.READ, item, no_registry, NOW) == Decision(
        True, Reason.MANDATE, Role.MANDATE)


def test_rows_differ_only_by_category_where_expected() -> None:
    """Sanity of the table itself: a special-category item is never *more* visible than the
    same normal one, and only OWN or a special-flagged mandate/grant reach it."""
    for scenario in SCENARIOS:
        for normal, special in zip(scenario.cells[:3], scenario.cells[3:6], strict=True):
            n, s = Expected.parse(normal), Expected.parse(special)
            assert not (s.allowed and not n.allowed), scenario.name
            if s.allowed:
                assert s.role in (Role.OWN, Role.MANDATE, Role.GRANT), scenario.name
