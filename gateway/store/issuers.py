"""The issuer registry: which organisations publish as which issuer (issue 17, ``IssuerService``)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, insert, select
from sqlalchemy.orm import Session

from gateway.domain.issuers import IssuerOrganisation
from gateway.domain.model import Issuer

from .models import IssuerOrganisationRow
from .repositories import integrity_errors_as_conflict

_T = cast(Table, IssuerOrganisationRow.__table__)


class IssuerRegistryRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def issuer_of(self, organisation_identifier: str) -> Issuer | None:
        value = self._session.execute(
            select(_T.c.issuer).where(_T.c.organisation_identifier == organisation_identifier)
        ).scalar()
        return None if value is None else Issuer(value)

    def add(self, organisation: IssuerOrganisation) -> None:
        with integrity_errors_as_conflict(
                f"organisation {organisation.organisation_identifier} is already registered",
                "ISSUER_ALREADY_REGISTERED"):
            self._session.execute(insert(_T).values(
                organisation_identifier=organisation.organisation_identifier,
                issuer=organisation.issuer.value, added_at=organisation.added_at))
            self._session.flush()

    def remove(self, organisation_identifier: str) -> int:
        result = cast(CursorResult[Any], self._session.execute(
            delete(_T).where(_T.c.organisation_identifier == organisation_identifier)))
        return int(result.rowcount)

    def all(self) -> list[IssuerOrganisation]:
        rows = self._session.execute(
            select(_T.c.organisation_identifier, _T.c.issuer, _T.c.added_at)
            .order_by(_T.c.issuer, _T.c.organisation_identifier)).all()
        return [IssuerOrganisation(row[0], Issuer(row[1]), row[2]) for row in rows]
