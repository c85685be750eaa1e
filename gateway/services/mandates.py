"""The mandates registry ("apoderamientos"): record, revoke, list and import.

The registry is kept by the administration (``gateway mandates …``); grantors and grantees see
theirs over SOAP (``ListMandates``). What a mandate allows is decided in
``domain.authorization``; here a mandate is only validated and recorded, with an audit event.
A mandate given before the registry's start date is refused: it would be void.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.clock import Clock, require_aware
from gateway.domain.identifiers import normalise_ccc, normalise_tax_id
from gateway.domain.model import Issuer
from gateway.domain.rights import MANDATE_SCOPES, Action, Mandate
from gateway.errors import InvalidRequest, NotFound

from .ports import UnitOfWork

REGISTRY_ACTOR = "REGISTRY"
"""The audit actor of changes made by the registry's operators (command line)."""

_SCOPES = {a.value: a for a in MANDATE_SCOPES}
_ISSUERS = {i.value for i in Issuer}


@dataclass(frozen=True, slots=True)
class MandateLineError:
    line: int
    message: str


class MandateImportRejected(InvalidRequest):
    """An import file had bad lines; nothing was recorded."""

    def __init__(self, errors: Sequence[MandateLineError]) -> None:
        super().__init__(f"{len(errors)} bad line(s); nothing imported", code="IMPORT_REJECTED")
        self.errors = tuple(errors)


def new_mandate(
    grantor: str, grantee: str, scopes: Iterable[str], valid_from: datetime,
    valid_to: datetime | None = None, issuers: Iterable[str] | None = None,
    cccs: Iterable[str] | None = None, special_category: bool = False,
    granted_at: datetime | None = None,
) -> Mandate:
    """A validated, normalised mandate (raises ``InvalidRequest`` naming the bad field)."""
    grantor = normalise_tax_id(grantor, field="grantor")
    grantee = normalise_tax_id(grantee, field="grantee")
    if grantor == grantee:
        raise InvalidRequest("a mandate needs two different parties", code="SAME_PARTY",
                             field="grantee")
    scope_set: set[Action] = set()
    for scope in scopes:
        if scope.strip() not in _SCOPES:
            raise InvalidRequest(f"unknown mandate scope {scope!r} (one of "
                                 f"{', '.join(sorted(_SCOPES))})", code="INVALID_SCOPE",
                                 field="scopes")
        scope_set.add(_SCOPES[scope.strip()])
    if not scope_set:
        raise InvalidRequest("a mandate needs at least one scope", code="INVALID_SCOPE",
                             field="scopes")
    issuer_set = None
    if issuers is not None:
        issuer_set = frozenset(i.strip().upper() for i in issuers if i.strip())
        unknown = issuer_set - _ISSUERS
        if unknown or not issuer_set:
            raise InvalidRequest(f"issuers must be among {', '.join(sorted(_ISSUERS))}",
                                 code="INVALID_ISSUER", field="issuers")
    ccc_set = None
    if cccs is not None:
        ccc_set = frozenset(normalise_ccc(c, field="cccs") for c in cccs if c.strip())
        if not ccc_set:
            raise InvalidRequest("an empty CCC restriction would allow nothing",
                                 code="INVALID_CCC", field="cccs")
    require_aware(valid_from, "valid_from")
    if valid_to is not None and require_aware(valid_to, "valid_to") <= valid_from:
        raise InvalidRequest("validTo must be after validFrom", code="INVALID_PERIOD",
                             field="valid_to")
    return Mandate(id=None, grantor=grantor, grantee=grantee, scopes=frozenset(scope_set),
                   valid_from=valid_from, valid_to=valid_to, issuers=issuer_set, cccs=ccc_set,
                   special_category=special_category, granted_at=granted_at)


@dataclass(frozen=True)
class MandateRegistry:
    uow_factory: Callable[[], UnitOfWork]
    clock: Clock
    registry_start: datetime | None = None

    def add(self, mandate: Mandate, actor: str = REGISTRY_ACTOR) -> Mandate:
        return self.add_many([mandate], actor)[0]

    def add_many(self, mandates: Sequence[Mandate], actor: str = REGISTRY_ACTOR) -> list[Mandate]:
        for mandate in mandates:
            self._check_registry_start(mandate)
        now = self.clock.now()
        with self.uow_factory() as uow:
            stored = uow.representation.add_mandates(mandates)
            for mandate in stored:
                uow.audit.append("mandate.added", actor, f"mandate:{mandate.id}",
                                 _audit_details(mandate), now)
            uow.commit()
        return stored

    def revoke(self, mandate_id: int, actor: str = REGISTRY_ACTOR,
               at: datetime | None = None) -> Mandate:
        """Revoke from ``at`` (default: now, the official time); revoking twice keeps the first."""
        now = self.clock.now()
        at = now if at is None else require_aware(at, "at")
        with self.uow_factory() as uow:
            mandate = uow.representation.mandate(mandate_id, lock=True)
            if mandate is None:
                raise NotFound(f"mandate {mandate_id} not found", code="MANDATE_NOT_FOUND")
            if mandate.revoked_at is None:
                uow.representation.revoke_mandate(mandate_id, at)
                uow.audit.append("mandate.revoked", actor, f"mandate:{mandate_id}",
                                 {"grantor": mandate.grantor, "grantee": mandate.grantee,
                                  "revoked_at": at.isoformat()}, now)
            uow.commit()
            revoked = uow.representation.mandate(mandate_id)
        assert revoked is not None
        return revoked

    def listed(self, identifier: str | None = None) -> list[Mandate]:
        with self.uow_factory() as uow:
            if identifier is None:
                return uow.representation.all_mandates()
            return uow.representation.mandates_of(normalise_tax_id(identifier))

    def import_text(self, text: str, fmt: str) -> list[Mandate]:
        """Import CSV (header row) or JSON Lines; every bad line is reported, nothing is
        recorded unless every line is good."""
        records, errors = _records(text, fmt)
        mandates: list[Mandate] = []
        for line, record in records:
            try:
                mandate = _from_record(record)
                self._check_registry_start(mandate)
                mandates.append(mandate)
            except InvalidRequest as exc:
                errors.append(MandateLineError(line, str(exc)))
        if errors:
            raise MandateImportRejected(sorted(errors, key=lambda e: e.line))
        return self.add_many(mandates) if mandates else []

    def _check_registry_start(self, mandate: Mandate) -> None:
        if self.registry_start is not None and mandate.given_at < self.registry_start:
            raise InvalidRequest(
                f"a mandate given before the registry started ({self.registry_start.date()}) "
                "is void", code="MANDATE_VOID", field="granted_at")


def _audit_details(mandate: Mandate) -> dict[str, object]:
    return {
        "grantor": mandate.grantor, "grantee": mandate.grantee,
        "scopes": sorted(mandate.scopes_codes()),
        "issuers": sorted(mandate.issuers) if mandate.issuers is not None else None,
        "cccs": sorted(mandate.cccs) if mandate.cccs is not None else None,
        "special_category": mandate.special_category,
        "valid_from": mandate.valid_from.isoformat(),
        "valid_to": mandate.valid_to.isoformat() if mandate.valid_to else None,
    }


def _records(text: str, fmt: str
             ) -> tuple[list[tuple[int, Mapping[str, object]]], list[MandateLineError]]:
    """The records of an import file with their line numbers, and the lines that are not
    records at all (every one of them is reported, not only the first)."""
    records: list[tuple[int, Mapping[str, object]]] = []
    errors: list[MandateLineError] = []
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(MandateLineError(number, f"not JSON: {exc}"))
                continue
            if not isinstance(value, dict):
                errors.append(MandateLineError(number, "not a JSON object"))
                continue
            records.append((number, value))
        return records, errors
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        return [(reader.line_num, row) for row in reader], errors
    raise InvalidRequest(f"unknown import format {fmt!r} (csv or jsonl)", code="INVALID_FORMAT")


def _list(value: object) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    return [p for p in str(value).replace(";", ",").split(",")]


def _instant(value: object, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidRequest(f"{field} is not an ISO 8601 instant", field=field) from exc
    if instant.tzinfo is None:
        raise InvalidRequest(f"{field} needs a UTC offset", field=field)
    return instant


def _from_record(record: Mapping[str, object]) -> Mandate:
    valid_from = _instant(record.get("valid_from"), "valid_from")
    if valid_from is None:
        raise InvalidRequest("valid_from is required", field="valid_from")
    special = str(record.get("special_category") or "").strip().lower() in ("1", "true", "yes")
    return new_mandate(
        grantor=str(record.get("grantor") or ""), grantee=str(record.get("grantee") or ""),
        scopes=_list(record.get("scopes")) or [], valid_from=valid_from,
        valid_to=_instant(record.get("valid_to"), "valid_to"),
        issuers=_list(record.get("issuers")), cccs=_list(record.get("cccs")),
        special_category=special, granted_at=_instant(record.get("granted_at"), "granted_at"),
    )
