"""The one authorisation decision: may this principal do this action on this resource, now?

Every service asks here; nothing else decides access. A resource is a notification (read, sign,
content) or a recipient, optionally one of its contribution accounts (``Subject``: postal
channel, reception assignment, access management). Rights come from *sources*
(``domain.rights``), tried in this order; the first that allows decides the role:

1. **own**: the notification is addressed to whoever the certificate speaks for (a person, an
   entity seal, or a representative certificate acting for the entity). Only the
   representative certificate is the entity's *main access manager*.
2. **access manager**: a person the main access manager named may grant rights (GRANT_ACCESS).
3. **mandate**: in force (not void, started, not expired, not revoked), with the action in its
   scopes, covering the issuer and the CCC, and carrying the special-category flag when the
   notification is special-category. An issuer- or CCC-restricted mandate does not cover acts
   on the whole recipient (its postal channel); a CCC-restricted one covers reception
   assignment of its CCCs only.
4. **grant** by an access manager to a person: activated, in force, scope, CCCs, special flag.
5. **RED**: the CCC is assigned to the agent now (never special-category); after it is
   unassigned the agent keeps reading the notifications it accepted itself.

When none allows, the refusal reason is the first specific one met in that order (e.g. a revoked
mandate gives ``MANDATE_REVOKED``; a special-category item seen through a right without the flag
gives ``SPECIAL_CATEGORY``), else ``NO_RELATION`` -- or, for the access-management actions,
``NOT_ACCESS_MANAGER`` / ``NOT_MAIN_ACCESS_MANAGER``: mandates and grants never delegate those.
Services answer "not found" for refused items, so nobody learns that a special-category item
exists.

Two views of the same rule are exposed and must agree (a property test checks it): ``decide``
for one item, and ``audiences`` for the store's listing query.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from .listing import Audience, Role
from .model import Category, Issuer, Notification, Status
from .principal import Principal, PrincipalKind
from .rights import (
    ALL_ACTIONS,
    GRANT_SCOPES,
    MANDATE_SCOPES,
    NOTIFICATION_ACTIONS,
    RECIPIENT_ACTIONS,
    RED_ACTIONS,
    AccessGrant,
    AccessManager,
    Action,
    Mandate,
    Reason,
    RedAssignment,
    RepresentationFacts,
)

__all__ = [
    "ALL_ACTIONS", "RED_ACTIONS", "AccessGrant", "AccessManager", "Action", "Decision", "Mandate",
    "Reason", "RedAssignment", "RepresentationFacts", "Resource", "Subject", "audiences",
    "decide",
]


@dataclass(frozen=True, slots=True)
class Subject:
    """A recipient as the object of a management action, optionally one of its CCCs."""

    recipient: str
    ccc: str | None = None


Resource = Notification | Subject


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason
    role: Role | None = None

    def __bool__(self) -> bool:
        return self.allowed


_ISSUERS = {i.value: i for i in Issuer}


def decide(
    principal: Principal,
    action: Action,
    resource: Resource,
    facts: RepresentationFacts,
    now: datetime,
) -> Decision:
    """Allow or refuse ``action`` on ``resource``, with the reason and the role used."""
    if isinstance(resource, Subject) and action in NOTIFICATION_ACTIONS:
        raise ValueError(f"{action.value} acts on a notification, not on a recipient")
    refusal: Reason | None = None
    for decision in _candidates(principal, action, resource, facts, now):
        if decision.allowed:
            return decision
        refusal = refusal or decision.reason
    return Decision(False, refusal or _NO_SOURCE.get(action, Reason.NO_RELATION))


_NO_SOURCE = {Action.GRANT_ACCESS: Reason.NOT_ACCESS_MANAGER,
              Action.NAME_MANAGERS: Reason.NOT_MAIN_ACCESS_MANAGER}
"""The refusal reason of a management action when no source relates the caller at all."""


def _candidates(principal: Principal, action: Action, resource: Resource,
                facts: RepresentationFacts, now: datetime) -> Iterator[Decision]:
    """One decision per source that relates the principal to the resource, in source order."""
    recipient = resource.recipient
    if recipient == principal.acts_for:
        yield _own(principal, action)
    if action in _NO_SOURCE:  # access management: own (main manager) or named managers only
        if action is Action.GRANT_ACCESS and principal.kind is PrincipalKind.PERSON:
            for manager in facts.managed:
                if manager.entity == recipient and manager.person == principal.identifier:
                    yield (Decision(True, Reason.ACCESS_MANAGER) if manager.active_at(now)
                           else Decision(False, Reason.NOT_ACCESS_MANAGER))
        return
    for mandate in facts.mandates_from(recipient):
        if mandate.grantee == principal.acts_for:
            yield _by_mandate(mandate, action, resource, facts.registry_start, now)
    if principal.kind is PrincipalKind.PERSON:
        for grant in facts.grants_of(recipient):
            if grant.grantee == principal.identifier:
                yield _by_grant(grant, action, resource, now)
    if isinstance(resource, Notification):
        for assignment in facts.red_for(recipient, resource.ccc):
            if assignment.agent == principal.acts_for:
                yield _by_red(principal, assignment, action, resource, now)


def _own(principal: Principal, action: Action) -> Decision:
    representative = principal.kind is PrincipalKind.REPRESENTATIVE
    if action in RECIPIENT_ACTIONS:
        return Decision(True, Reason.REPRESENTATIVE if representative else Reason.SELF, Role.OWN)
    if representative:  # GRANT_ACCESS, NAME_MANAGERS
        return Decision(True, Reason.MAIN_ACCESS_MANAGER)
    if action is Action.GRANT_ACCESS:
        return Decision(False, Reason.NOT_ACCESS_MANAGER)
    return Decision(False, Reason.NOT_MAIN_ACCESS_MANAGER)


def _coverage(action: Action, resource: Resource, cccs: frozenset[str] | None,
              issuers: frozenset[str] | None, special_flag: bool) -> Reason | None:
    """Why a restricted right does not reach ``resource`` (None when it does)."""
    if isinstance(resource, Notification):
        if issuers is not None and resource.issuer.value not in issuers:
            return Reason.ISSUER_NOT_COVERED
        if cccs is not None and resource.ccc not in cccs:
            return Reason.CCC_NOT_COVERED
        if resource.category is Category.SPECIAL and not special_flag:
            return Reason.SPECIAL_CATEGORY
        return None
    if issuers is not None:
        return Reason.ISSUER_NOT_COVERED
    if cccs is not None and (resource.ccc is None or resource.ccc not in cccs):
        return Reason.CCC_NOT_COVERED
    return None


def _by_mandate(mandate: Mandate, action: Action, resource: Resource,
                registry_start: datetime | None, now: datetime) -> Decision:
    refusal = mandate.refusal_at(now, registry_start)
    if refusal is None and action not in mandate.scopes & MANDATE_SCOPES:
        refusal = Reason.SCOPE_MISSING
    if refusal is None:
        refusal = _coverage(action, resource, mandate.cccs, mandate.issuers,
                            mandate.special_category)
    if refusal is not None:
        return Decision(False, refusal)
    return Decision(True, Reason.MANDATE, Role.MANDATE)


def _by_grant(grant: AccessGrant, action: Action, resource: Resource, now: datetime) -> Decision:
    refusal = grant.refusal_at(now)
    if refusal is None and action not in grant.scopes & GRANT_SCOPES:
        refusal = Reason.SCOPE_MISSING
    if refusal is None:
        refusal = _coverage(action, resource, grant.cccs, None, grant.special_category)
    if refusal is not None:
        return Decision(False, refusal)
    return Decision(True, Reason.GRANT, Role.GRANT)


def _by_red(principal: Principal, assignment: RedAssignment, action: Action,
            notification: Notification, now: datetime) -> Decision:
    if notification.category is Category.SPECIAL:
        # A RED assignment never carries special-category data (DESIGN.md §1).
        return Decision(False, Reason.SPECIAL_CATEGORY)
    if action not in RED_ACTIONS:
        return Decision(False, Reason.SCOPE_MISSING)
    if assignment.active_at(now):
        return Decision(True, Reason.RED_ASSIGNMENT, Role.RED)
    if (action is not Action.SIGN and assignment.assigned_at <= now
            and notification.status is Status.ACCEPTED
            and notification.acted_by == principal.acts_for):
        return Decision(True, Reason.RED_ACCEPTED, Role.RED)
    return Decision(False, Reason.RED_UNASSIGNED)


def audiences(
    principal: Principal, facts: RepresentationFacts, now: datetime
) -> tuple[Audience, ...]:
    """The listing clauses equivalent to ``decide(..., Action.READ, ...)`` for every item, in
    source order (the first clause admitting an item gives its role, as ``decide`` does)."""
    me = principal.acts_for
    clauses = [Audience(me, Role.OWN)]
    for mandate in facts.mandates:
        if (mandate.grantee == me and mandate.grantor != me and Action.READ in mandate.scopes
                and mandate.active_at(now, facts.registry_start)):
            issuers = (None if mandate.issuers is None
                       else frozenset(_ISSUERS[i] for i in mandate.issuers if i in _ISSUERS))
            clauses.append(Audience(mandate.grantor, Role.MANDATE, cccs=mandate.cccs,
                                    issuers=issuers, include_special=mandate.special_category))
    if principal.kind is PrincipalKind.PERSON:
        for grant in facts.grants:
            if (grant.grantee == principal.identifier and grant.entity != me
                    and Action.READ in grant.scopes and grant.refusal_at(now) is None):
                clauses.append(Audience(grant.entity, Role.GRANT, cccs=grant.cccs,
                                        include_special=grant.special_category))
    active: dict[str, set[str]] = {}
    ended: dict[str, set[str]] = {}
    for assignment in facts.red_assignments:
        if assignment.agent != me or assignment.company == me:
            continue
        if assignment.active_at(now):
            active.setdefault(assignment.company, set()).add(assignment.ccc)
        elif assignment.assigned_at <= now:
            ended.setdefault(assignment.company, set()).add(assignment.ccc)
    for company, cccs in sorted(active.items()):
        clauses.append(Audience(company, Role.RED, cccs=frozenset(cccs), include_special=False))
    for company, cccs in sorted(ended.items()):
        kept = cccs - active.get(company, set())
        if kept:
            clauses.append(Audience(company, Role.RED, cccs=frozenset(kept),
                                    include_special=False, accepted_by=me))
    return tuple(clauses)
