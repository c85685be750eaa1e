"""The one authorisation decision: may this principal do this action on this item, now?

Every service asks here; nothing else decides access. Rights come from *sources*: the caller's
own identity (a person, an entity, or a representative certificate acting for an entity), the
RED assignment of a contribution account (CCC) to an authorised agent, and, in later versions,
mandates ("apoderamientos") and access-manager grants. ``RepresentationFacts`` carries the
sources that apply to one principal; the store loads them, this module only reasons.

Two views of the same rule are exposed and must agree (a property test checks it):
``decide`` for one item, and ``audiences`` for the store's listing query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from .listing import Audience, Role
from .model import Category, Notification
from .principal import Principal, PrincipalKind


class Action(str, Enum):
    """What a caller wants to do; values are the mandate scope names."""

    READ = "notifications.read"
    SIGN = "notifications.sign"
    CONTENT = "notifications.content"
    POSTAL = "postal.manage"
    ASSIGN_RECEPTION = "reception.assign"


ALL_ACTIONS = frozenset(Action)


class Reason(str, Enum):
    """Why a decision came out as it did; written to the audit log on refusals."""

    SELF = "SELF"
    REPRESENTATIVE = "REPRESENTATIVE"
    RED_ASSIGNMENT = "RED_ASSIGNMENT"
    NO_RELATION = "NO_RELATION"
    SPECIAL_CATEGORY = "SPECIAL_CATEGORY"
    SCOPE_MISSING = "SCOPE_MISSING"


@dataclass(frozen=True, slots=True)
class RedAssignment:
    """A contribution account whose notifications the agent receives, in a period."""

    ccc: str
    company: str
    agent: str
    assigned_at: datetime
    unassigned_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        return self.assigned_at <= now and (self.unassigned_at is None or now < self.unassigned_at)


# What a RED authorised agent may do with the notifications of an assigned CCC. Agents manage
# notifications; they do not change the company's postal channel or reassign its accounts.
RED_ACTIONS = frozenset({Action.READ, Action.SIGN, Action.CONTENT})


@dataclass(frozen=True, slots=True)
class Mandate:
    """An "apoderamiento": ``grantor`` lets ``grantee`` act for it within ``scopes``.

    ``issuers``/``cccs`` of ``None`` mean unrestricted. Decisions on mandates arrive with the
    representation issue; until then mandates are recorded and listed only.
    """

    id: int | None
    grantor: str
    grantee: str
    scopes: frozenset[Action]
    valid_from: datetime
    valid_to: datetime | None = None
    revoked_at: datetime | None = None
    issuers: frozenset[str] | None = None
    cccs: frozenset[str] | None = None
    special_category: bool = False

    def active_at(self, now: datetime) -> bool:
        return (self.valid_from <= now
                and (self.valid_to is None or now < self.valid_to)
                and (self.revoked_at is None or now < self.revoked_at))


@dataclass(frozen=True, slots=True)
class RepresentationFacts:
    """The sources of right that apply to one principal (loaded by the store)."""

    red_assignments: tuple[RedAssignment, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason
    role: Role | None = None

    def __bool__(self) -> bool:
        return self.allowed


def decide(
    principal: Principal,
    action: Action,
    notification: Notification,
    facts: RepresentationFacts,
    now: datetime,
) -> Decision:
    """Allow or refuse ``action`` on ``notification``, with the reason and the role used."""
    if notification.recipient == principal.acts_for:
        reason = (Reason.REPRESENTATIVE if principal.kind is PrincipalKind.REPRESENTATIVE
                  else Reason.SELF)
        return Decision(True, reason, Role.OWN)
    red_match = [
        a for a in facts.red_assignments
        if a.agent == principal.acts_for and a.active_at(now)
        and a.company == notification.recipient and a.ccc == notification.ccc
    ]
    if red_match:
        if notification.category is Category.SPECIAL:
            # A RED assignment never carries special-category data (DESIGN.md §1).
            return Decision(False, Reason.SPECIAL_CATEGORY)
        if action not in RED_ACTIONS:
            return Decision(False, Reason.SCOPE_MISSING)
        return Decision(True, Reason.RED_ASSIGNMENT, Role.RED)
    return Decision(False, Reason.NO_RELATION)


def audiences(
    principal: Principal, facts: RepresentationFacts, now: datetime
) -> tuple[Audience, ...]:
    """The listing clauses equivalent to ``decide(..., Action.READ, ...)`` for every item."""
    clauses = [Audience(principal.acts_for, Role.OWN)]
    by_company: dict[str, set[str]] = {}
    for assignment in facts.red_assignments:
        if assignment.agent == principal.acts_for and assignment.active_at(now):
            by_company.setdefault(assignment.company, set()).add(assignment.ccc)
    for company, cccs in sorted(by_company.items()):
        if company != principal.acts_for:
            clauses.append(Audience(company, Role.RED, cccs=frozenset(cccs), include_special=False))
    return tuple(clauses)
