"""The sources of a right to act for someone else, as recorded facts (DESIGN.md §1).

- ``Mandate``: an "apoderamiento" from a grantor (person or entity) to a grantee (person or
  entity), for some scopes, optionally restricted to issuers and CCCs, with a validity period
  and a revocation instant. A mandate granted before the registry's start date is void.
- ``RedAssignment``: the RED system's assignment of a contribution account (CCC) to an
  authorised agent, from ``assigned_at`` until ``unassigned_at``.
- ``AccessManager``: a person named by an entity's main access manager (its representative
  certificate) to grant rights on the entity's notifications.
- ``AccessGrant``: a right an access manager gave a person (by NIF) on the entity's
  notifications; it starts as an invitation that the person activates with its first
  authenticated call, and that lapses 24 hours after it was made if nobody activated it.

Each source answers ``refusal_at(now)``: ``None`` when it is in force at ``now``, otherwise the
``Reason`` it is not. ``domain.authorization`` turns these facts into decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import TypeVar


class Action(str, Enum):
    """What a caller wants to do; values are the scope names of mandates and grants."""

    READ = "notifications.read"
    SIGN = "notifications.sign"
    CONTENT = "notifications.content"
    POSTAL = "postal.manage"
    ASSIGN_RECEPTION = "reception.assign"
    GRANT_ACCESS = "access.grant"
    """Grant, revoke and list users' rights on an entity's notifications (access managers)."""
    NAME_MANAGERS = "access.managers"
    """Name and remove an entity's access managers (its main access manager only)."""


ALL_ACTIONS = frozenset(Action)
NOTIFICATION_ACTIONS = frozenset({Action.READ, Action.SIGN, Action.CONTENT})
"""Actions on one notification; the others act on a recipient (``Subject``)."""
MANDATE_SCOPES = frozenset({Action.READ, Action.SIGN, Action.CONTENT, Action.POSTAL,
                            Action.ASSIGN_RECEPTION})
"""What a mandate can carry: access management is never delegated by mandate."""
GRANT_SCOPES = NOTIFICATION_ACTIONS
"""What an access manager can grant: rights on the entity's notifications."""
RED_ACTIONS = NOTIFICATION_ACTIONS
"""What a RED agent does with an assigned CCC's notifications: manage them, not the company's
postal channel or its accounts."""
RECIPIENT_ACTIONS = frozenset({Action.READ, Action.SIGN, Action.CONTENT, Action.POSTAL,
                               Action.ASSIGN_RECEPTION})
"""What a recipient does by itself (a person, an entity seal, a representative)."""

INVITATION_TTL = timedelta(hours=24)


class Reason(str, Enum):
    """Why a decision came out as it did; written to the audit log on refusals."""

    # allowed
    SELF = "SELF"
    REPRESENTATIVE = "REPRESENTATIVE"
    MAIN_ACCESS_MANAGER = "MAIN_ACCESS_MANAGER"
    ACCESS_MANAGER = "ACCESS_MANAGER"
    MANDATE = "MANDATE"
    GRANT = "GRANT"
    RED_ASSIGNMENT = "RED_ASSIGNMENT"
    RED_ACCEPTED = "RED_ACCEPTED"
    """The agent accepted the notification while assigned: it keeps reading it and its content
    after the CCC is unassigned."""
    # refused
    NO_RELATION = "NO_RELATION"
    SPECIAL_CATEGORY = "SPECIAL_CATEGORY"
    SCOPE_MISSING = "SCOPE_MISSING"
    ISSUER_NOT_COVERED = "ISSUER_NOT_COVERED"
    CCC_NOT_COVERED = "CCC_NOT_COVERED"
    MANDATE_VOID = "MANDATE_VOID"
    MANDATE_NOT_YET_VALID = "MANDATE_NOT_YET_VALID"
    MANDATE_EXPIRED = "MANDATE_EXPIRED"
    MANDATE_REVOKED = "MANDATE_REVOKED"
    RED_UNASSIGNED = "RED_UNASSIGNED"
    GRANT_NOT_YET_VALID = "GRANT_NOT_YET_VALID"
    GRANT_EXPIRED = "GRANT_EXPIRED"
    GRANT_REVOKED = "GRANT_REVOKED"
    INVITATION_PENDING = "INVITATION_PENDING"
    INVITATION_EXPIRED = "INVITATION_EXPIRED"
    NOT_MAIN_ACCESS_MANAGER = "NOT_MAIN_ACCESS_MANAGER"
    NOT_ACCESS_MANAGER = "NOT_ACCESS_MANAGER"


def _period_refusal(now: datetime, valid_from: datetime, valid_to: datetime | None,
                    revoked_at: datetime | None, not_yet: Reason, expired: Reason,
                    revoked: Reason) -> Reason | None:
    if revoked_at is not None and revoked_at <= now:
        return revoked
    if now < valid_from:
        return not_yet
    if valid_to is not None and valid_to <= now:
        return expired
    return None


@dataclass(frozen=True, slots=True)
class Mandate:
    """An "apoderamiento": ``grantor`` lets ``grantee`` act for it within ``scopes``.

    ``issuers``/``cccs`` of ``None`` mean unrestricted. ``granted_at`` is when the grantor gave
    it (``valid_from`` when not recorded); a mandate given before the registry's start date is
    void. ``special_category`` lets the grantee see special-category notifications.
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
    granted_at: datetime | None = None

    def scopes_codes(self) -> frozenset[str]:
        return frozenset(a.value for a in self.scopes)

    @property
    def given_at(self) -> datetime:
        return self.granted_at or self.valid_from

    def refusal_at(self, now: datetime, registry_start: datetime | None = None) -> Reason | None:
        if registry_start is not None and self.given_at < registry_start:
            return Reason.MANDATE_VOID
        return _period_refusal(now, self.valid_from, self.valid_to, self.revoked_at,
                               Reason.MANDATE_NOT_YET_VALID, Reason.MANDATE_EXPIRED,
                               Reason.MANDATE_REVOKED)

    def active_at(self, now: datetime, registry_start: datetime | None = None) -> bool:
        return self.refusal_at(now, registry_start) is None


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


@dataclass(frozen=True, slots=True)
class AccessManager:
    """``person`` may grant rights on ``entity``'s notifications (named by ``named_by``)."""

    id: int | None
    entity: str
    person: str
    named_by: str
    valid_from: datetime
    valid_to: datetime | None = None
    revoked_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        return _period_refusal(now, self.valid_from, self.valid_to, self.revoked_at,
                               Reason.NOT_ACCESS_MANAGER, Reason.NOT_ACCESS_MANAGER,
                               Reason.NOT_ACCESS_MANAGER) is None


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """A right on ``entity``'s notifications given to the person ``grantee`` (by NIF).

    It is an invitation until ``activated_at`` (the grantee's first authenticated call after
    ``invited_at``); an invitation not activated within ``INVITATION_TTL`` lapses for good.
    """

    id: int | None
    entity: str
    grantee: str
    scopes: frozenset[Action]
    granted_by: str
    invited_at: datetime
    valid_from: datetime
    valid_to: datetime | None = None
    revoked_at: datetime | None = None
    activated_at: datetime | None = None
    cccs: frozenset[str] | None = None
    special_category: bool = False

    def scopes_codes(self) -> frozenset[str]:
        return frozenset(a.value for a in self.scopes)

    def invitation_expires_at(self) -> datetime:
        return self.invited_at + INVITATION_TTL

    def activatable_at(self, now: datetime) -> bool:
        """Whether a call by the grantee at ``now`` activates this invitation."""
        return (self.activated_at is None and now < self.invitation_expires_at()
                and (self.revoked_at is None or now < self.revoked_at))

    def refusal_at(self, now: datetime) -> Reason | None:
        if self.revoked_at is not None and self.revoked_at <= now:
            return Reason.GRANT_REVOKED
        if self.activated_at is None or self.activated_at > now:
            if now >= self.invitation_expires_at():
                return Reason.INVITATION_EXPIRED
            return Reason.INVITATION_PENDING
        return _period_refusal(now, self.valid_from, self.valid_to, None,
                               Reason.GRANT_NOT_YET_VALID, Reason.GRANT_EXPIRED,
                               Reason.GRANT_REVOKED)

    def state_at(self, now: datetime) -> str:
        """The wire code of the grant's state: ACTIVE, or the refusal reason's name."""
        refusal = self.refusal_at(now)
        return "ACTIVE" if refusal is None else refusal.value


_T = TypeVar("_T")
_K = TypeVar("_K", bound=Hashable)


def _index(items: Iterable[_T], key: Callable[[_T], _K]) -> dict[_K, tuple[_T, ...]]:
    grouped: dict[_K, list[_T]] = {}
    for item in items:
        grouped.setdefault(key(item), []).append(item)
    return {k: tuple(v) for k, v in grouped.items()}


@dataclass(frozen=True, slots=True)
class RepresentationFacts:
    """The sources of right that may apply to one principal (loaded by the store).

    ``red_assignments`` holds the principal's assignments as an agent, ended ones included
    (they keep the notifications it accepted); ``mandates`` those it holds as grantee;
    ``grants`` and ``managed`` those of the natural person behind the certificate.
    ``registry_start`` voids mandates given before the registry existed.
    """

    red_assignments: tuple[RedAssignment, ...] = ()
    mandates: tuple[Mandate, ...] = ()
    grants: tuple[AccessGrant, ...] = ()
    managed: tuple[AccessManager, ...] = ()
    registry_start: datetime | None = None
    # Indexes by recipient, in source order: a RED agent for 200 companies decides a
    # 1,000-item batch without scanning every assignment for every item.
    _red: dict[tuple[str, str | None], tuple[RedAssignment, ...]] = field(
        init=False, repr=False, compare=False)
    _mandates: dict[str, tuple[Mandate, ...]] = field(init=False, repr=False, compare=False)
    _grants: dict[str, tuple[AccessGrant, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_red", _index(self.red_assignments,
                                                lambda a: (a.company, a.ccc)))
        object.__setattr__(self, "_mandates", _index(self.mandates, lambda m: m.grantor))
        object.__setattr__(self, "_grants", _index(self.grants, lambda g: g.entity))

    def red_for(self, company: str, ccc: str | None) -> tuple[RedAssignment, ...]:
        """The assignments of ``company``'s contribution account ``ccc``, in source order."""
        return self._red.get((company, ccc), ())

    def mandates_from(self, grantor: str) -> tuple[Mandate, ...]:
        return self._mandates.get(grantor, ())

    def grants_of(self, entity: str) -> tuple[AccessGrant, ...]:
        return self._grants.get(entity, ())

    def stable_until(self, now: datetime) -> datetime | None:
        """The first instant after ``now`` at which a source may start or stop giving a right
        by the passing of time alone (``None``: never). Decisions taken from these facts at
        ``now`` hold until then, unless the registry changes."""
        instants: list[datetime | None] = []
        for a in self.red_assignments:
            instants += [a.assigned_at, a.unassigned_at]
        for m in self.mandates:
            instants += [m.valid_from, m.valid_to, m.revoked_at]
        for g in self.grants:
            instants += [g.valid_from, g.valid_to, g.revoked_at, g.activated_at,
                         g.invitation_expires_at()]
        for s in self.managed:
            instants += [s.valid_from, s.valid_to, s.revoked_at]
        future = [i for i in instants if i is not None and i > now]
        return min(future) if future else None
