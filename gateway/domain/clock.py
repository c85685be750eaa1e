"""The official clock.

The server's official time governs every deadline (DESIGN.md §1); logic never calls
``datetime.now()``: it is handed a ``Clock``. Every instant is timezone-aware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

OFFICIAL_TIMEZONE = ZoneInfo("Europe/Madrid")


class Clock(Protocol):
    """Source of the official current instant."""

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The server's own clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock tests can set and move."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def __post_init__(self) -> None:
        require_aware(self.current, "current")

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current = self.current + delta

    def set(self, instant: datetime) -> None:
        self.current = require_aware(instant, "instant")


def require_aware(instant: datetime, name: str) -> datetime:
    """Refuse naive datetimes: an instant without a zone is ambiguous for a deadline."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return instant


def to_utc(instant: datetime) -> datetime:
    return require_aware(instant, "instant").astimezone(UTC)
