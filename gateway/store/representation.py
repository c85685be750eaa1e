"""Repositories for who may act for whom: RED assignments, mandates, and postal channels.

They return domain objects (``domain.authorization``, ``domain.postal``); rows never leave here.
"""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gateway.domain.authorization import Action, Mandate, RedAssignment, RepresentationFacts
from gateway.domain.postal import PostalAddress, PostalChannel, PostalMode
from gateway.domain.principal import Principal

from .models import MandateRow, PostalChannelRow, RedAssignmentRow


class RepresentationRepository:
    """Loads the sources of right of a principal and records RED (un)assignments."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def facts_for(self, principal: Principal, now: datetime) -> RepresentationFacts:
        rows = self._session.scalars(
            select(RedAssignmentRow).where(
                RedAssignmentRow.agent == principal.acts_for,
                RedAssignmentRow.assigned_at <= now,
                or_(RedAssignmentRow.unassigned_at.is_(None), RedAssignmentRow.unassigned_at > now),
            )
        )
        return RepresentationFacts(red_assignments=tuple(_assignment(r) for r in rows))

    def current_assignment(
        self, ccc: str, now: datetime, *, lock: bool = False
    ) -> RedAssignment | None:
        stmt = select(RedAssignmentRow).where(
            RedAssignmentRow.ccc == ccc,
            RedAssignmentRow.assigned_at <= now,
            or_(RedAssignmentRow.unassigned_at.is_(None), RedAssignmentRow.unassigned_at > now),
        )
        if lock:
            stmt = stmt.with_for_update()
        row = self._session.scalars(stmt.order_by(RedAssignmentRow.id.desc())).first()
        return _assignment(row) if row else None

    def assign(self, ccc: str, company: str, agent: str, now: datetime) -> RedAssignment:
        row = RedAssignmentRow(ccc=ccc, company=company, agent=agent, assigned_at=now)
        self._session.add(row)
        self._session.flush()
        return _assignment(row)

    def unassign(self, ccc: str, now: datetime) -> int:
        """End every open assignment of ``ccc`` at ``now``; returns how many ended."""
        result = self._session.execute(
            update(RedAssignmentRow)
            .where(RedAssignmentRow.ccc == ccc, RedAssignmentRow.unassigned_at.is_(None))
            .values(unassigned_at=now)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def assignments_of_ccc(self, ccc: str) -> builtins.list[RedAssignment]:
        rows = self._session.scalars(
            select(RedAssignmentRow).where(RedAssignmentRow.ccc == ccc).order_by(RedAssignmentRow.id)
        )
        return [_assignment(r) for r in rows]

    def mandates_of(self, identifier: str) -> builtins.list[Mandate]:
        """Mandates ``identifier`` gave (as grantor) or holds (as grantee)."""
        rows = self._session.scalars(
            select(MandateRow)
            .where(or_(MandateRow.grantor == identifier, MandateRow.grantee == identifier))
            .order_by(MandateRow.id)
        )
        return [_mandate(r) for r in rows]


class PostalChannelRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, recipient: str) -> PostalChannel:
        row = self._session.get(PostalChannelRow, recipient)
        if row is None:
            return PostalChannel.default_for(recipient)
        address = None
        if row.address_line:
            address = PostalAddress(
                address_line=row.address_line,
                postal_code=row.postal_code or "",
                municipality=row.municipality or "",
                province=row.province or "",
                country=row.country or "ES",
            )
        return PostalChannel(recipient, PostalMode(row.mode), address, row.updated_at)

    def put(self, channel: PostalChannel) -> None:
        assert channel.updated_at is not None
        address = channel.address
        values = {
            "mode": channel.mode.value,
            "address_line": address.address_line if address else None,
            "postal_code": address.postal_code if address else None,
            "municipality": address.municipality if address else None,
            "province": address.province if address else None,
            "country": address.country if address else None,
            "updated_at": channel.updated_at,
        }
        row = self._session.get(PostalChannelRow, channel.recipient, with_for_update=True)
        if row is None:
            self._session.add(PostalChannelRow(recipient=channel.recipient, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        self._session.flush()


def _assignment(row: RedAssignmentRow) -> RedAssignment:
    return RedAssignment(
        ccc=row.ccc,
        company=row.company,
        agent=row.agent,
        assigned_at=row.assigned_at,
        unassigned_at=row.unassigned_at,
    )


def _split(text: str | None) -> frozenset[str] | None:
    return None if text is None else frozenset(p for p in text.split(",") if p)


def _mandate(row: MandateRow) -> Mandate:
    return Mandate(
        id=row.id,
        grantor=row.grantor,
        grantee=row.grantee,
        scopes=frozenset(Action(s) for s in (_split(row.scopes) or ())),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        revoked_at=row.revoked_at,
        issuers=_split(row.issuers),
        cccs=_split(row.cccs),
        special_category=bool(row.special_category),
    )
