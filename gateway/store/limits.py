"""Per-principal rate-limit overrides in the shared database (``gateway limits``; issue 14)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.domain.rates import Rate

from .availability import unavailable_on_failure
from .models import RateLimitOverrideRow


class SqlRateLimitOverrides:
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory

    def all(self) -> Mapping[str, Rate]:
        with unavailable_on_failure(), self._session_factory() as session:
            rows = session.execute(select(RateLimitOverrideRow)).scalars().all()
            return {row.principal: Rate(row.per_second, row.burst) for row in rows}

    def set(self, principal: str, rate: Rate) -> None:
        with unavailable_on_failure(), self._session_factory() as session:
            row = session.get(RateLimitOverrideRow, principal)
            if row is None:
                session.add(RateLimitOverrideRow(principal=principal, per_second=rate.per_second,
                                                 burst=rate.burst))
            else:
                row.per_second, row.burst = rate.per_second, rate.burst
            session.commit()

    def clear(self, principal: str) -> bool:
        with unavailable_on_failure(), self._session_factory() as session:
            removed = session.execute(delete(RateLimitOverrideRow)
                                      .where(RateLimitOverrideRow.principal == principal))
            session.commit()
            return bool(getattr(removed, "rowcount", 0))
