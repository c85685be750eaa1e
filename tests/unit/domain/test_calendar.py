"""Working days and the effective instant of an act (Ley 39/2015 arts. 30.2, 31.2.b)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import Settings
from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import OFFICIAL_TIMEZONE

MADRID = OFFICIAL_TIMEZONE
YEARS = range(2024, 2031)
NATIONAL = holidays.country_holidays("ES", years=YEARS)
CALENDAR = WorkingCalendar(holidays=NATIONAL)


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=MADRID)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_library_facts_the_expectations_rely_on() -> None:
    assert date(2026, 10, 12) in NATIONAL and date(2026, 10, 12).weekday() == 0
    assert date(2026, 12, 8) in NATIONAL and date(2026, 12, 8).weekday() == 1
    # Constitution Day falls on Sunday 2026-12-06; nationally Monday the 7th is a working day.
    assert date(2026, 12, 7) not in NATIONAL and date(2026, 12, 7).weekday() == 0


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 10, 9), True),  # Friday
        (date(2026, 10, 10), False),  # Saturday
        (date(2026, 10, 11), False),  # Sunday
        (date(2026, 10, 12), False),  # National Day, Monday
        (date(2026, 10, 13), True),
        (date(2026, 1, 6), False),  # Epiphany
        (date(2026, 4, 3), False),  # Good Friday
        (date(2026, 12, 7), True),
        (date(2026, 12, 8), False),  # Immaculate Conception
        (date(2026, 12, 25), False),  # Christmas
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert CALENDAR.is_working_day(day) is working


def test_working_days_in_2026() -> None:
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
    # 365 days - 104 weekend days - 7 national holidays on weekdays (Aug 15 is a Saturday).
    assert sum(CALENDAR.is_working_day(d) for d in days) == 254


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 10, 9), date(2026, 10, 13)),  # Fri -> Sat, Sun, holiday Mon -> Tue
        (date(2026, 10, 13), date(2026, 10, 14)),  # strictly after, even from a working day
        (date(2026, 12, 24), date(2026, 12, 28)),  # Christmas Friday, then the weekend
        (date(2026, 12, 31), date(2027, 1, 4)),  # New Year's Day Friday, then the weekend
    ],
)
def test_next_working_day(day: date, expected: date) -> None:
    assert CALENDAR.next_working_day(day) == expected


def test_act_on_national_day_counts_next_morning() -> None:
    effective = CALENDAR.effective_at(local(2026, 10, 12, 10, 30))
    assert effective == local(2026, 10, 13, 0, 0) == utc(2026, 10, 12, 22, 0)
    assert effective.tzinfo is UTC


def test_act_on_a_working_day_is_unchanged_but_in_utc() -> None:
    instant = local(2026, 10, 13, 17, 45, 12)
    effective = CALENDAR.effective_at(instant)
    assert effective == instant
    assert effective.utcoffset() == timedelta(0)


def test_act_on_saturday_before_a_working_monday_counts_on_monday() -> None:
    assert CALENDAR.effective_at(local(2026, 12, 5, 11, 0)) == local(2026, 12, 7, 0, 0)


def test_act_on_saturday_with_madrid_region_skips_two_holidays() -> None:
    madrid_region = WorkingCalendar(
        holidays=holidays.country_holidays("ES", subdiv="MD", years=2026)
    )
    # Sun 6th (weekend), Mon 7th (moved Constitution Day), Tue 8th (Immaculate Conception).
    assert madrid_region.effective_at(local(2026, 12, 5, 11, 0)) == local(2026, 12, 9, 0, 0)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # 23:59 local on the holiday is still the holiday.
        (utc(2026, 10, 12, 21, 59), local(2026, 10, 13, 0, 0)),
        # Already the 13th in Madrid while still the 12th in UTC: a working day, unchanged.
        (utc(2026, 10, 12, 22, 0), utc(2026, 10, 12, 22, 0)),
        # Still the 11th in UTC but already the holiday in Madrid.
        (utc(2026, 10, 11, 22, 30), local(2026, 10, 13, 0, 0)),
    ],
)
def test_days_are_reckoned_in_official_time_not_utc(instant: datetime, expected: datetime) -> None:
    assert CALENDAR.effective_at(instant) == expected


def test_extra_holidays_from_config() -> None:
    settings = Settings.from_mapping({"GATEWAY_EXTRA_HOLIDAYS": "2026-03-03, 2026-03-02"})
    calendar = WorkingCalendar(holidays=NATIONAL, extra_holidays=frozenset(settings.extra_holidays))
    assert not calendar.is_working_day(date(2026, 3, 2))
    assert CALENDAR.is_working_day(date(2026, 3, 2))
    assert calendar.effective_at(local(2026, 3, 2, 9, 0)) == local(2026, 3, 4, 0, 0)
    assert calendar.next_working_day(date(2026, 2, 27)) == date(2026, 3, 4)


def test_a_plain_frozenset_is_a_holiday_lookup() -> None:
    calendar = WorkingCalendar(holidays=frozenset({date(2026, 10, 12)}))
    assert calendar.effective_at(local(2026, 10, 12, 8, 0)) == local(2026, 10, 13, 0, 0)


def test_default_calendar_has_only_weekends() -> None:
    calendar = WorkingCalendar()
    assert calendar.timezone == MADRID
    assert calendar.is_working_day(date(2026, 10, 12))
    assert not calendar.is_working_day(date(2026, 10, 11))


def test_calendar_with_holiday_package_lookup_is_hashable() -> None:
    assert hash(CALENDAR) == hash(WorkingCalendar(holidays=NATIONAL))


# DST in Europe/Madrid: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
def test_spring_forward_sunday_is_23_hours_long() -> None:
    assert CALENDAR.start_of_day(date(2026, 3, 29)) == utc(2026, 3, 28, 23, 0)
    assert CALENDAR.start_of_day(date(2026, 3, 30)) == utc(2026, 3, 29, 22, 0)


def test_fall_back_sunday_is_25_hours_long() -> None:
    assert CALENDAR.start_of_day(date(2026, 10, 25)) == utc(2026, 10, 24, 22, 0)
    assert CALENDAR.start_of_day(date(2026, 10, 26)) == utc(2026, 10, 25, 23, 0)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (local(2026, 3, 28, 12, 0), utc(2026, 3, 29, 22, 0)),  # Sat before spring-forward
        (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 22, 0)),  # 03:30 CEST, just after the gap
        (utc(2026, 3, 29, 0, 59), utc(2026, 3, 29, 22, 0)),  # 01:59 CET, just before it
        (local(2026, 10, 24, 12, 0), utc(2026, 10, 25, 23, 0)),  # Sat before fall-back
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 23, 0)),  # 02:30 CEST (first pass)
        (utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 23, 0)),  # 02:30 CET (second pass)
    ],
)
def test_acts_on_dst_weekends_count_at_monday_local_midnight(
    instant: datetime, expected: datetime
) -> None:
    effective = CALENDAR.effective_at(instant)
    assert effective == expected
    assert effective.astimezone(MADRID).time() == datetime.min.time()


def test_shift_local_days_across_dst_keeps_wall_clock() -> None:
    saturday_midnight = CALENDAR.start_of_day(date(2026, 3, 28))
    shifted = CALENDAR.shift_local_days(saturday_midnight, 2)
    assert shifted == CALENDAR.start_of_day(date(2026, 3, 30))
    assert shifted - saturday_midnight == timedelta(hours=47)
    assert CALENDAR.shift_local_days(
        CALENDAR.start_of_day(date(2026, 10, 24)), 2
    ) - CALENDAR.start_of_day(date(2026, 10, 24)) == timedelta(hours=49)


def test_other_official_zone() -> None:
    canary = WorkingCalendar(timezone=ZoneInfo("Atlantic/Canary"))
    assert canary.effective_at(utc(2026, 1, 10, 12, 0)) == utc(2026, 1, 12, 0, 0)


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError):
        CALENDAR.effective_at(datetime(2026, 10, 12, 10, 0))
    with pytest.raises(ValueError):
        CALENDAR.local_date(datetime(2026, 10, 12, 10, 0))


@pytest.mark.parametrize("weekend", [frozenset(range(7)), frozenset({5, 7}), frozenset({-1})])
def test_impossible_weekends_are_refused(weekend: frozenset[int]) -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(weekend=weekend)


def test_a_calendar_without_working_days_fails_instead_of_looping() -> None:
    class Everything:
        def __contains__(self, day: object, /) -> bool:
            return True

    with pytest.raises(ValueError, match="no working day"):
        WorkingCalendar(holidays=Everything()).next_working_day(date(2026, 1, 1))


instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 1), timezones=st.just(UTC)
)


@given(instants)
def test_effective_at_properties(instant: datetime) -> None:
    effective = CALENDAR.effective_at(instant)
    assert effective >= instant
    assert effective.tzinfo is UTC
    day = CALENDAR.local_date(instant)
    effective_day = CALENDAR.local_date(effective)
    assert CALENDAR.is_working_day(effective_day)
    if CALENDAR.is_working_day(day):
        assert effective == instant
    else:
        assert effective == CALENDAR.start_of_day(effective_day)
        skipped = [day + timedelta(days=n) for n in range((effective_day - day).days)]
        assert not any(CALENDAR.is_working_day(d) for d in skipped)
        assert len(skipped) <= 4


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)))
def test_start_of_day_is_local_midnight(day: date) -> None:
    start = CALENDAR.start_of_day(day)
    assert start.astimezone(MADRID).replace(tzinfo=None) == datetime(day.year, day.month, day.day)
    assert CALENDAR.local_date(start) == day
    assert CALENDAR.local_date(start - timedelta(microseconds=1)) == day - timedelta(days=1)
