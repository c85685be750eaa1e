"""What a listing asks the store for: who may be seen, which filters, where the page starts.

The authorisation decision (``domain.authorization``) turns a principal into ``Audience``
clauses; the store turns clauses and filters into one keyset-paginated query ordered by
``(made_available_at, id)`` (DESIGN.md §3). Keeping the shape here lets the store stay ignorant
of *why* a clause exists and lets services stay ignorant of SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from .model import Category, Issuer, ItemKind, Status


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
    when ``include_special`` is true.
    """

    recipient: str
    role: Role
    cccs: frozenset[str] | None = None
    issuers: frozenset[Issuer] | None = None
    include_special: bool = True

    def admits(
        self, recipient: str, ccc: str | None, issuer: Issuer, category: Category
    ) -> bool:
        """The same rule the store applies in SQL, for one item (used by tests and services)."""
        if recipient != self.recipient:
            return False
        if self.cccs is not None and ccc not in self.cccs:
            return False
        if self.issuers is not None and issuer not in self.issuers:
            return False
        return self.include_special or category is Category.NORMAL


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
