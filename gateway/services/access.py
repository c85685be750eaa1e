"""Entity access management, in the spirit of employers' portals.

An entity's main access manager (its representative certificate) names access managers; access
managers (and the main one) grant persons, by NIF, rights on the entity's notifications with
scopes, an optional CCC list, the special-category flag and an optional end. A grant starts as
an invitation: the grantee's first authenticated call activates it, and it lapses if nobody
activates it within 24 hours. Who may do each act is decided by ``domain.authorization``;
refusals are audited with the decision's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.authorization import Subject
from gateway.domain.clock import Clock, require_aware
from gateway.domain.identifiers import normalise_ccc, normalise_entity_id, normalise_person_id
from gateway.domain.principal import Principal, PrincipalKind
from gateway.domain.rights import GRANT_SCOPES, AccessGrant, AccessManager, Action
from gateway.errors import AuthorizationError, InvalidRequest, NotFound

from .ports import UnitOfWork
from .refusals import audited_decision

_SCOPES = {a.value: a for a in GRANT_SCOPES}


@dataclass(frozen=True)
class AccessService:
    uow_factory: Callable[[], UnitOfWork]
    clock: Clock

    # -- access managers (main access manager only) ------------------------------------------

    def name_manager(self, principal: Principal, entity: str | None, person: str,
                     valid_to: datetime | None = None) -> AccessManager:
        entity = self._entity(principal, entity)
        person = normalise_person_id(person, field="person")
        now = self.clock.now()
        if valid_to is not None and require_aware(valid_to, "validTo") <= now:
            raise InvalidRequest("validTo must be in the future", code="INVALID_PERIOD",
                                 field="validTo")
        with self.uow_factory() as uow:
            self._require(uow, principal, Action.NAME_MANAGERS, entity, now)
            current = [m for m in uow.representation.managers_of(entity)
                       if m.person == person and m.active_at(now)]
            if current:
                return current[0]  # naming twice is not an error
            manager = uow.representation.add_manager(AccessManager(
                id=None, entity=entity, person=person, named_by=_actor(principal),
                valid_from=now, valid_to=valid_to))
            uow.audit.append("access_manager.named", principal.acts_for, entity,
                             {"person": person, "named_by": _actor(principal),
                              "valid_to": valid_to.isoformat() if valid_to else None}, now)
            uow.commit()
        return manager

    def remove_manager(self, principal: Principal, entity: str | None, person: str) -> int:
        entity = self._entity(principal, entity)
        person = normalise_person_id(person, field="person")
        now = self.clock.now()
        with self.uow_factory() as uow:
            self._require(uow, principal, Action.NAME_MANAGERS, entity, now)
            removed = uow.representation.remove_manager(entity, person, now)
            if removed:
                uow.audit.append("access_manager.removed", principal.acts_for, entity,
                                 {"person": person, "removed_by": _actor(principal)}, now)
            uow.commit()
        return removed

    def managers(self, principal: Principal, entity: str | None) -> list[AccessManager]:
        entity = self._entity(principal, entity)
        now = self.clock.now()
        with self.uow_factory() as uow:
            self._require(uow, principal, Action.GRANT_ACCESS, entity, now)
            return uow.representation.managers_of(entity)

    # -- grants (access managers) ------------------------------------------------------------

    def grant(self, principal: Principal, entity: str | None, grantee: str,
              scopes: Iterable[str], cccs: Iterable[str] | None = None,
              special_category: bool = False, valid_from: datetime | None = None,
              valid_to: datetime | None = None) -> AccessGrant:
        entity = self._entity(principal, entity)
        grantee = normalise_person_id(grantee, field="grantee")
        scope_set = frozenset(_scope(s) for s in scopes)
        if not scope_set:
            raise InvalidRequest("a grant needs at least one scope", code="INVALID_SCOPE",
                                 field="scope")
        ccc_set = None
        if cccs is not None:
            ccc_set = frozenset(normalise_ccc(c, field="ccc") for c in cccs)
            if not ccc_set:
                ccc_set = None
        now = self.clock.now()
        start = now if valid_from is None else require_aware(valid_from, "validFrom")
        if valid_to is not None and require_aware(valid_to, "validTo") <= max(start, now):
            raise InvalidRequest("validTo must be after validFrom and in the future",
                                 code="INVALID_PERIOD", field="validTo")
        with self.uow_factory() as uow:
            self._require(uow, principal, Action.GRANT_ACCESS, entity, now)
            grant = uow.representation.add_grant(AccessGrant(
                id=None, entity=entity, grantee=grantee, scopes=scope_set,
                granted_by=_actor(principal), invited_at=now, valid_from=start,
                valid_to=valid_to, cccs=ccc_set, special_category=special_category))
            uow.audit.append("access_grant.invited", principal.acts_for, entity,
                             {"grant": grant.id, "grantee": grantee,
                              "scopes": sorted(grant.scopes_codes()),
                              "cccs": sorted(ccc_set) if ccc_set else None,
                              "special_category": special_category,
                              "granted_by": _actor(principal)}, now)
            uow.commit()
        return grant

    def revoke_grant(self, principal: Principal, grant_id: int) -> AccessGrant:
        now = self.clock.now()
        with self.uow_factory() as uow:
            grant = uow.representation.grant(grant_id, lock=True)
            if grant is None:
                raise NotFound(f"grant {grant_id} not found", code="GRANT_NOT_FOUND")
            self._require(uow, principal, Action.GRANT_ACCESS, grant.entity, now,
                          hide_as_not_found=True)
            if grant.revoked_at is None:
                uow.representation.revoke_grant(grant_id, now)
                uow.audit.append("access_grant.revoked", principal.acts_for, grant.entity,
                                 {"grant": grant_id, "grantee": grant.grantee,
                                  "revoked_by": _actor(principal)}, now)
            uow.commit()
            revoked = uow.representation.grant(grant_id)
        assert revoked is not None
        return revoked

    def grants(self, principal: Principal, entity: str | None) -> list[AccessGrant]:
        entity = self._entity(principal, entity)
        now = self.clock.now()
        with self.uow_factory() as uow:
            self._require(uow, principal, Action.GRANT_ACCESS, entity, now)
            return uow.representation.grants_of_entity(entity)

    # -- invitations ---------------------------------------------------------------------------

    def on_authenticated(self, principal: Principal) -> list[int]:
        """Activate the caller's open invitations (its first authenticated call after being
        invited); returns the ids activated. Only persons hold grants."""
        if principal.kind is not PrincipalKind.PERSON:
            return []
        now = self.clock.now()
        with self.uow_factory() as uow:
            activated = uow.representation.activate_invitations(principal.identifier, now)
            for grant_id in activated:
                uow.audit.append("access_grant.activated", principal.identifier,
                                 f"grant:{grant_id}", {"grant": grant_id}, now)
            uow.commit()
        return activated

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _entity(principal: Principal, entity: str | None) -> str:
        if entity:
            return normalise_entity_id(entity, field="entity")
        return principal.acts_for

    @staticmethod
    def _require(uow: UnitOfWork, principal: Principal, action: Action, entity: str,
                 now: datetime, hide_as_not_found: bool = False) -> None:
        decision = audited_decision(uow, principal, action, Subject(entity),
                                    uow.representation.facts_for(principal, now), now, entity)
        if decision.allowed:
            return
        if hide_as_not_found:
            raise NotFound("grant not found", code="GRANT_NOT_FOUND")
        raise AuthorizationError(f"not allowed to {action.value} for {entity} "
                                 f"(reason {decision.reason.value})", field="entity")


def _scope(value: str) -> Action:
    scope = _SCOPES.get(value.strip())
    if scope is None:
        raise InvalidRequest(f"unknown grant scope {value!r} (one of "
                             f"{', '.join(sorted(_SCOPES))})", code="INVALID_SCOPE",
                             field="scope")
    return scope


def _actor(principal: Principal) -> str:
    """The natural person behind the act when known (access management names people)."""
    return principal.person_identifier or principal.identifier
