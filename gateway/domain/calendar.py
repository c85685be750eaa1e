"""Working days in official time.

Saturdays, Sundays and declared holidays are non-working days (Ley 39/2015 art. 30.2). An act
done on a non-working day counts, for computing periods, as done at the first hour of the next
working day (art. 31.2.b). Days are always reckoned in the official time zone (Europe/Madrid by
default), never in UTC nor in the client's zone.

The holiday calendar is injected: anything answering ``day in lookup`` works, such as a
``holidays.country_holidays("ES", subdiv=...)`` object built by the composition root, or a plain
``frozenset`` of dates in tests. This module imports no third-party package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from .clock import OFFICIAL_TIMEZONE, require_aware, to_utc

# A calendar whose every day is non-working is a configuration error; searching further than a
# year for a working day means exactly that, so the search stops there instead of looping.
_MAX_NON_WORKING_RUN = 366


class HolidayLookup(Protocol):
    """A set of holidays: ``day in lookup`` is true for a declared holiday."""

    def __contains__(self, day: object, /) -> bool: ...


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days are working days, and when an act done at a given instant counts as done."""

    timezone: ZoneInfo = OFFICIAL_TIMEZONE
    """Official time zone in which days begin and end."""

    holidays: HolidayLookup = field(default=frozenset(), hash=False)
    """Declared holidays (national, and regional when configured). Not hashed: the ``holidays``
    package's objects are dicts."""

    extra_holidays: frozenset[date] = frozenset()
    """Further non-working days from configuration (``GATEWAY_EXTRA_HOLIDAYS``)."""

    weekend: frozenset[int] = frozenset({5, 6})
    """Weekdays (``date.weekday()``: Monday 0 .. Sunday 6) that are never working days."""

    def __post_init__(self) -> None:
        if not self.weekend <= frozenset(range(7)):
            raise ValueError("weekend days must be weekday numbers 0 (Monday) to 6 (Sunday)")
        if len(self.weekend) == 7:
            raise ValueError("a calendar needs at least one working weekday")

    def local_date(self, instant: datetime) -> date:
        """The official-time calendar date of ``instant``."""
        return require_aware(instant, "instant").astimezone(self.timezone).date()

    def start_of_day(self, day: date) -> datetime:
        """The first instant (UTC) of ``day`` in official time: local 00:00.

        zoneinfo resolves the wall time with ``fold=0``, so even in a zone whose midnight falls
        in a DST gap or overlap this is the earliest instant of the day; Europe/Madrid changes
        at 02:00/03:00, so its midnight always exists once.
        """
        return datetime.combine(day, time(0), tzinfo=self.timezone).astimezone(UTC)

    def shift_local_days(self, instant: datetime, days: int) -> datetime:
        """``instant`` moved by ``days`` calendar days of official time (same wall-clock time),
        returned in UTC. Across a DST change this is 23 or 25 hours per day, not 24."""
        local = require_aware(instant, "instant").astimezone(self.timezone)
        moved = datetime.combine(local.date() + timedelta(days=days), local.timetz())
        return moved.astimezone(UTC)

    def is_working_day(self, day: date) -> bool:
        return (
            day.weekday() not in self.weekend
            and day not in self.extra_holidays
            and day not in self.holidays
        )

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        candidate = day
        for _ in range(_MAX_NON_WORKING_RUN):
            candidate += timedelta(days=1)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"no working day within a year after {day.isoformat()}")

    def effective_at(self, instant: datetime) -> datetime:
        """When an act done at ``instant`` counts as done (UTC).

        On a working day: ``instant`` itself. On a non-working day: 00:00 official time of the
        next working day (Ley 39/2015 art. 31.2.b).
        """
        day = self.local_date(instant)
        if self.is_working_day(day):
            return to_utc(instant)
        return self.start_of_day(self.next_working_day(day))
