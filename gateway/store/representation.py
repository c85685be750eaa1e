"""Repositories for who may act for whom: RED assignments, mandates, and postal channels.

They return domain objects (``domain.authorization``, ``domain.postal``); rows never leave here.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.orm import Session

from gateway.domain.postal import PostalAddress, PostalChannel, PostalMode
from gateway.domain.principal import Principal, PrincipalKind
from gateway.domain.rights import (
    INVITATION_TTL,
    AccessGrant,
    AccessManager,
    Action,
    Mandate,
    RedAssignment,
    RepresentationFacts,
)

from . import driver
from .models import (
    AccessGrantRow,
    AccessManagerRow,
    MandateRow,
    PostalChannelRow,
    RedAssignmentRow,
    RepresentationVersionRow,
)

VERSION_SEEN = "representation_version_seen"
"""``Session.info`` key: the registry's change counter as the transaction's last notification
read saw it (``NotificationRepository.get_many``), for ``RepresentationRepository.version``."""

_VERSION = select(RepresentationVersionRow.version).where(RepresentationVersionRow.id == 1)
"""The registry's change counter: built once (read by most requests; ``store.repositories``,
"statements built once")."""



class RepresentationRepository:
    """Loads the sources of right of a principal and records mandates, RED (un)assignments,
    access managers and grants."""

    def __init__(self, session: Session, registry_start: datetime | None = None) -> None:
        self._session = session
        self._registry_start = registry_start

    def facts_for(self, principal: Principal, now: datetime) -> RepresentationFacts:
        """Every source that may give ``principal`` a right (the domain decides which do).

        Read with plain column tuples, not ORM objects: an agent may hold thousands of mandates
        and this runs on every request (bench/authz_listing.py).
        """
        me = principal.acts_for
        red = self._session.execute(
            select(*_RED_COLUMNS).where(_R.agent == me)
        )
        mandates = self._session.execute(select(*_MANDATE_COLUMNS).where(_M.grantee == me))
        grants: tuple[AccessGrant, ...] = ()
        managed: tuple[AccessManager, ...] = ()
        if principal.kind is PrincipalKind.PERSON:
            person = principal.identifier
            grants = tuple(_grant(r) for r in self._session.scalars(
                select(AccessGrantRow).where(AccessGrantRow.grantee == person)))
            managed = tuple(_manager(r) for r in self._session.scalars(
                select(AccessManagerRow).where(AccessManagerRow.person == person)))
        return RepresentationFacts(
            red_assignments=tuple(RedAssignment(*row) for row in red),
            mandates=tuple(_mandate_of(row) for row in mandates),
            grants=grants,
            managed=managed,
            registry_start=self._registry_start,
        )

    def version(self) -> int | None:
        """The change counter of the representation registry (``RepresentationVersionRow``);
        ``None`` when the counter row is missing (nothing derived may then be reused).

        When the transaction's last notification read carried it (``VERSION_SEEN``, set by
        ``NotificationRepository.get_many``), that value -- read in this same transaction a
        moment ago -- is used once instead of a statement of its own."""
        seen = self._session.info.pop(VERSION_SEEN, None)
        if seen is not None:
            return int(seen)
        if self._session.get_bind().dialect.name == "postgresql":  # every request: the driver
            found = driver.rows(self._session, _VERSION, {})[0]
            value = found[0][0] if found else None
        else:
            value = self._session.execute(_VERSION).scalar()
        return None if value is None else int(value)

    def _changed(self) -> None:
        self._session.info.pop(VERSION_SEEN, None)
        result = self._session.execute(
            update(RepresentationVersionRow).where(RepresentationVersionRow.id == 1)
            .values(version=RepresentationVersionRow.version + 1))
        if not result.rowcount:  # type: ignore[attr-defined]
            self._session.add(RepresentationVersionRow(id=1, version=1))
            self._session.flush()

    # -- RED ---------------------------------------------------------------------------------

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
        self._changed()
        return _assignment(row)

    def unassign(self, ccc: str, now: datetime) -> int:
        """End every open assignment of ``ccc`` at ``now``; returns how many ended."""
        result = self._session.execute(
            update(RedAssignmentRow)
            .where(RedAssignmentRow.ccc == ccc, RedAssignmentRow.unassigned_at.is_(None))
            .values(unassigned_at=now)
        )
        self._changed()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def assignments_of_ccc(self, ccc: str) -> builtins.list[RedAssignment]:
        rows = self._session.scalars(
            select(RedAssignmentRow).where(RedAssignmentRow.ccc == ccc).order_by(RedAssignmentRow.id)
        )
        return [_assignment(r) for r in rows]

    # -- mandates ----------------------------------------------------------------------------

    def mandates_of(self, identifier: str) -> builtins.list[Mandate]:
        """Mandates ``identifier`` gave (as grantor) or holds (as grantee)."""
        rows = self._session.execute(
            select(*_MANDATE_COLUMNS)
            .where(or_(_M.grantor == identifier, _M.grantee == identifier))
            .order_by(_M.id)
        )
        return [_mandate_of(r) for r in rows]

    def all_mandates(self) -> builtins.list[Mandate]:
        rows = self._session.execute(select(*_MANDATE_COLUMNS).order_by(_M.id))
        return [_mandate_of(r) for r in rows]

    def mandate(self, mandate_id: int, *, lock: bool = False) -> Mandate | None:
        stmt = select(*_MANDATE_COLUMNS).where(_M.id == mandate_id)
        if lock:
            stmt = stmt.with_for_update()
        row = self._session.execute(stmt).first()
        return _mandate_of(row) if row else None

    def add_mandates(self, mandates: Sequence[Mandate]) -> builtins.list[Mandate]:
        rows = [MandateRow(
            grantor=m.grantor, grantee=m.grantee, scopes=_join(m.scopes_codes()),
            issuers=_join(m.issuers), cccs=_join(m.cccs), special_category=m.special_category,
            valid_from=m.valid_from, valid_to=m.valid_to, revoked_at=m.revoked_at,
            granted_at=m.granted_at,
        ) for m in mandates]
        self._session.add_all(rows)
        self._session.flush()
        self._changed()
        return [replace(m, id=row.id) for m, row in zip(mandates, rows, strict=True)]

    def add_mandate(self, mandate: Mandate) -> Mandate:
        return self.add_mandates([mandate])[0]

    def revoke_mandate(self, mandate_id: int, at: datetime) -> None:
        self._session.execute(
            update(MandateRow).where(MandateRow.id == mandate_id, MandateRow.revoked_at.is_(None))
            .values(revoked_at=at))
        self._changed()

    # -- access managers and grants ----------------------------------------------------------

    def add_manager(self, manager: AccessManager) -> AccessManager:
        row = AccessManagerRow(entity=manager.entity, person=manager.person,
                               named_by=manager.named_by, valid_from=manager.valid_from,
                               valid_to=manager.valid_to, revoked_at=manager.revoked_at)
        self._session.add(row)
        self._session.flush()
        self._changed()
        return _manager(row)

    def managers_of(self, entity: str) -> builtins.list[AccessManager]:
        rows = self._session.scalars(
            select(AccessManagerRow).where(AccessManagerRow.entity == entity)
            .order_by(AccessManagerRow.id))
        return [_manager(r) for r in rows]

    def remove_manager(self, entity: str, person: str, at: datetime) -> int:
        result = self._session.execute(
            update(AccessManagerRow)
            .where(AccessManagerRow.entity == entity, AccessManagerRow.person == person,
                   AccessManagerRow.revoked_at.is_(None))
            .values(revoked_at=at))
        self._changed()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def add_grant(self, grant: AccessGrant) -> AccessGrant:
        row = AccessGrantRow(
            entity=grant.entity, grantee=grant.grantee, scopes=_join(grant.scopes_codes()),
            cccs=_join(grant.cccs), special_category=grant.special_category,
            granted_by=grant.granted_by, invited_at=grant.invited_at,
            activated_at=grant.activated_at, valid_from=grant.valid_from,
            valid_to=grant.valid_to, revoked_at=grant.revoked_at)
        self._session.add(row)
        self._session.flush()
        self._changed()
        return _grant(row)

    def grant(self, grant_id: int, *, lock: bool = False) -> AccessGrant | None:
        row = self._session.get(AccessGrantRow, grant_id, with_for_update=lock)
        return _grant(row) if row else None

    def grants_of_entity(self, entity: str) -> builtins.list[AccessGrant]:
        rows = self._session.scalars(
            select(AccessGrantRow).where(AccessGrantRow.entity == entity)
            .order_by(AccessGrantRow.id))
        return [_grant(r) for r in rows]

    def grants_held_by(self, person: str) -> builtins.list[AccessGrant]:
        rows = self._session.scalars(
            select(AccessGrantRow).where(AccessGrantRow.grantee == person)
            .order_by(AccessGrantRow.id))
        return [_grant(r) for r in rows]

    def revoke_grant(self, grant_id: int, at: datetime) -> None:
        self._session.execute(
            update(AccessGrantRow)
            .where(AccessGrantRow.id == grant_id, AccessGrantRow.revoked_at.is_(None))
            .values(revoked_at=at))
        self._changed()

    def activate_invitations(self, person: str, now: datetime) -> builtins.list[int]:
        """Activate ``person``'s invitations still open at ``now``; returns their ids."""
        open_ = and_(
            AccessGrantRow.grantee == person,
            AccessGrantRow.activated_at.is_(None),
            AccessGrantRow.invited_at > now - INVITATION_TTL,
            AccessGrantRow.invited_at <= now,
            or_(AccessGrantRow.revoked_at.is_(None), AccessGrantRow.revoked_at > now),
        )
        ids = builtins.list(self._session.scalars(select(AccessGrantRow.id).where(open_)))
        if ids:
            self._session.execute(
                update(AccessGrantRow).where(AccessGrantRow.id.in_(ids), open_)
                .values(activated_at=now))
            self._changed()
        return ids


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


@lru_cache(maxsize=1024)
def _split(text: str | None) -> frozenset[str] | None:
    """Stored comma lists; memoised: thousands of mandates repeat a few distinct values."""
    return None if text is None else frozenset(p for p in text.split(",") if p)


def _join(values: Iterable[str] | None) -> str | None:
    return None if values is None else ",".join(sorted(values))


_ACTIONS = {a.value: a for a in Action}


@lru_cache(maxsize=256)
def _scopes(text: str) -> frozenset[Action]:
    return frozenset(_ACTIONS[s] for s in text.split(",") if s in _ACTIONS)


_M = cast(Table, MandateRow.__table__).c
_R = cast(Table, RedAssignmentRow.__table__).c
_MANDATE_COLUMNS = (_M.id, _M.grantor, _M.grantee, _M.scopes, _M.valid_from, _M.valid_to,
                    _M.revoked_at, _M.issuers, _M.cccs, _M.special_category, _M.granted_at)
_RED_COLUMNS = (_R.ccc, _R.company, _R.agent, _R.assigned_at, _R.unassigned_at)


def _mandate_of(row: Sequence[Any]) -> Mandate:
    (id_, grantor, grantee, scopes, valid_from, valid_to, revoked_at, issuers, cccs, special,
     granted_at) = tuple(row)
    return Mandate(id=id_, grantor=grantor, grantee=grantee, scopes=_scopes(scopes),
                   valid_from=valid_from, valid_to=valid_to, revoked_at=revoked_at,
                   issuers=_split(issuers), cccs=_split(cccs), special_category=bool(special),
                   granted_at=granted_at)


def _manager(row: AccessManagerRow) -> AccessManager:
    return AccessManager(id=row.id, entity=row.entity, person=row.person, named_by=row.named_by,
                         valid_from=row.valid_from, valid_to=row.valid_to,
                         revoked_at=row.revoked_at)


def _grant(row: AccessGrantRow) -> AccessGrant:
    return AccessGrant(
        id=row.id, entity=row.entity, grantee=row.grantee, scopes=_scopes(row.scopes),
        granted_by=row.granted_by, invited_at=row.invited_at, valid_from=row.valid_from,
        valid_to=row.valid_to, revoked_at=row.revoked_at, activated_at=row.activated_at,
        cccs=_split(row.cccs), special_category=bool(row.special_category))
