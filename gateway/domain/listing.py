"""What a listing asks the store for: who may be seen, which filters, where the page starts.

The authorisation decision (``domain.authorization``) turns a principal into ``Audience``
clauses; the store turns clauses and filters into one keyset-paginated query ordered by
``(made_available_at, id)`` (DESIGN.md §3). Keeping the shape here lets the store stay ignorant
of *why* a clause exists and lets services stay ignorant of SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from .model import Category, Issuer, ItemKind, Notification, Status


class Role(str, Enum):
    """How the caller comes to see an item (wire code ``role``)."""

    OWN = "OWN"  # addressed to the caller, or to the entity whose representative certificate it holds
    RED = "RED"  # the caller is the RED authorised agent assigned to the item's CCC
    MANDATE = "MANDATE"  # an "apoderamiento" from the recipient to the caller
    GRANT = "GRANT"  # a right granted by an access manager of the recipient entity


@dataclass(frozen=True, slots=True)
class Audience:
    """One clause of visibility: items of ``recipient`` that the caller sees with ``role``.

    ``None`` for ``cccs``/``issuers`` means unrestricted. Special-category items are included only
    when ``include_special`` is true. With ``accepted_by``, only items that identifier accepted
    (status ACCEPTED, ``acted_by`` equal) are included.
    """

    recipient: str
    role: Role
    cccs: frozenset[str] | None = None
    issuers: frozenset[Issuer] | None = None
    include_special: bool = True
    accepted_by: str | None = None

    def admits(self, item: Notification) -> bool:
        """The same rule the store applies in SQL, for one item (used by tests and services)."""
        if item.recipient != self.recipient:
            return False
        if self.cccs is not None and item.ccc not in self.cccs:
            return False
        if self.issuers is not None and item.issuer not in self.issuers:
            return False
        if self.accepted_by is not None and (item.status is not Status.ACCEPTED
                                             or item.acted_by != self.accepted_by):
            return False
        return self.include_special or item.category is Category.NORMAL


def role_of(clauses: Sequence[Audience], item: Notification) -> Role | None:
    """The role of the first clause admitting ``item`` (clauses come in decision order)."""
    for clause in clauses:
        if clause.admits(item):
            return clause.role
    return None


class AudienceIndex:
    """``role_of`` for many items against many clauses: clauses grouped by recipient, so a
    page of 1,000 items against 5,000 mandate clauses costs 1,000 lookups, not 5 million."""

    def __init__(self, clauses: Sequence[Audience]) -> None:
        self._by_recipient: dict[str, list[Audience]] = {}
        for clause in clauses:
            self._by_recipient.setdefault(clause.recipient, []).append(clause)

    def role_of(self, item: Notification) -> Role | None:
        return role_of(self._by_recipient.get(item.recipient, ()), item)


@dataclass(frozen=True, slots=True)
class ListingFilter:
    """Client-chosen filters, all optional; combined with AND."""

    role: Role | None = None
    principal: str | None = None
    ccc: str | None = None
    issuer: Issuer | None = None
    kind: ItemKind | None = None
    status: Status | None = None
    made_available_from: datetime | None = None
    made_available_to: datetime | None = None

    def fingerprint(self) -> str:
        """A stable text form, bound into cursors so a cursor cannot be replayed on other filters."""
        parts = [
            self.role.value if self.role else "",
            self.principal or "",
            self.ccc or "",
            self.issuer.value if self.issuer else "",
            self.kind.value if self.kind else "",
            self.status.value if self.status else "",
            self.made_available_from.isoformat() if self.made_available_from else "",
            self.made_available_to.isoformat() if self.made_available_to else "",
        ]
        return "|".join(parts)


@dataclass(frozen=True, slots=True, order=True)
class PagePosition:
    """The keyset position of the last item of a page: the next page starts strictly after it."""

    made_available_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class ListingQuery:
    """Everything the store needs to produce one page."""

    audience: tuple[Audience, ...]
    filter: ListingFilter = ListingFilter()
    after: PagePosition | None = None
    limit: int = 100
    as_of: datetime | None = None
    """Official time the ``status`` filter is judged at: an overdue notification the sweep has
    not reached yet is EXPIRED, not AVAILABLE (the deadline, not the sweep, decides)."""
