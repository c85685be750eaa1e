"""Per-principal rate-limit overrides in the shared database (``gateway limits``; issue 14):
requests per second (``rate_limit_override``) and document bytes per hour
(``byte_rate_override``, migration 0009)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.domain.rates import Rate

from .availability import unavailable_on_failure
from .models import ByteRateOverrideRow, RateLimitOverrideRow


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

    def bytes_all(self) -> Mapping[str, int]:
        """Document bytes per hour by principal."""
        with unavailable_on_failure(), self._session_factory() as session:
            rows = session.execute(select(ByteRateOverrideRow)).scalars().all()
            return {row.principal: row.bytes_per_hour for row in rows}

    def set_bytes(self, principal: str, per_hour: int) -> None:
        if per_hour < 1:
            raise ValueError("bytes per hour must be positive")
        with unavailable_on_failure(), self._session_factory() as session:
            row = session.get(ByteRateOverrideRow, principal)
            if row is None:
                session.add(ByteRateOverrideRow(principal=principal, bytes_per_hour=per_hour))
            else:
                row.bytes_per_hour = per_hour
            session.commit()

    def clear(self, principal: str) -> bool:
        """Remove both overrides of ``principal``; whether it had any."""
        with unavailable_on_failure(), self._session_factory() as session:
            removed = sum(int(getattr(session.execute(delete(row).where(
                row.principal == principal)), "rowcount", 0))
                for row in (RateLimitOverrideRow, ByteRateOverrideRow))
            session.commit()
            return bool(removed)
