"""The deemed-rejection deadline and its extension for recorded outages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import OFFICIAL_TIMEZONE
from gateway.domain.deadlines import (
    Deadline,
    DeadlinePolicy,
    base_deadline,
    compute_deadline,
    extend_for_outages,
)
from gateway.domain.model import Category, Issuer, ItemKind, Notification, Status
from gateway.domain.outages import Outage, OutagePolicy, affected_days, extension_days
from gateway.errors import InvalidRequest, InvalidState

MADRID = OFFICIAL_TIMEZONE
YEARS = range(2024, 2032)
CALENDAR = WorkingCalendar(holidays=holidays.country_holidays("ES", years=YEARS))
POLICY = DeadlinePolicy()
NO_OUTAGES = replace(POLICY, outages=OutagePolicy(enabled=False))


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=MADRID)


def outage(start: datetime, end: datetime, reason: str = "platform down") -> Outage:
    return Outage(starts_at=start, ends_at=end, reason=reason)


def longest_non_working_run(calendar: WorkingCalendar, years: range) -> int:
    day, longest, run = date(years.start, 1, 1), 0, 0
    while day.year < years.stop:
        run = 0 if calendar.is_working_day(day) else run + 1
        longest = max(longest, run)
        day += timedelta(days=1)
    return longest


MAX_RUN = longest_non_working_run(CALENDAR, YEARS)

# Monday 2026-01-26 10:00: day 1 is Tue 27th, day 10 Thu 2026-02-05, deemed rejected at 6th 00:00.
MADE = local(2026, 1, 26, 10, 0)
BASE = local(2026, 2, 6, 0, 0)


# --- the 10 natural days ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("made_available_at", "counting_starts_on", "deadline_local"),
    [
        # Across a month end.
        (MADE, date(2026, 1, 27), local(2026, 2, 6)),
        # Across the leap day: 26, 27, 28, 29 Feb, 1..6 Mar.
        (local(2028, 2, 25, 12, 0), date(2028, 2, 26), local(2028, 3, 7)),
        # Same date in a common year: one day later in March.
        (local(2027, 2, 25, 12, 0), date(2027, 2, 26), local(2027, 3, 8)),
        # Day 10 is a Saturday: the end is not moved to a working day (natural days).
        (local(2026, 1, 21, 9, 0), date(2026, 1, 22), local(2026, 2, 1)),
        # Made available on a Saturday before a holiday Monday: counts from Tue 13th.
        (local(2026, 10, 10, 9, 0), date(2026, 10, 14), local(2026, 10, 24)),
        # Made available on the holiday itself.
        (local(2026, 10, 12, 18, 0), date(2026, 10, 14), local(2026, 10, 24)),
        # Sunday (Constitution Day) -> effective Monday 7th -> day 1 is the holiday of the 8th.
        (local(2026, 12, 6, 9, 0), date(2026, 12, 8), local(2026, 12, 18)),
        # Late on a working day, in official time.
        (local(2026, 1, 26, 23, 59), date(2026, 1, 27), local(2026, 2, 6)),
        # Late Sunday in Madrid (still Sunday): effective Monday morning, same as MADE.
        (local(2026, 1, 25, 23, 59), date(2026, 1, 27), local(2026, 2, 6)),
        # Spring-forward inside the period: midnight CEST, not CET.
        (local(2026, 3, 20, 10, 0), date(2026, 3, 21), local(2026, 3, 31)),
        # Fall-back inside the period.
        (local(2026, 10, 19, 10, 0), date(2026, 10, 20), local(2026, 10, 30)),
    ],
)
def test_ten_natural_days(
    made_available_at: datetime, counting_starts_on: date, deadline_local: datetime
) -> None:
    deadline = compute_deadline(made_available_at, CALENDAR, POLICY)
    assert deadline.counting_starts_on == counting_starts_on
    assert deadline.deadline_at == deadline.base_deadline_at == deadline_local
    assert deadline.extension_days == 0
    assert deadline.deadline_at.tzinfo is UTC


def test_month_end_example_in_utc() -> None:
    assert compute_deadline(MADE, CALENDAR, POLICY).deadline_at == datetime(
        2026, 2, 5, 23, 0, tzinfo=UTC
    )


def test_dst_deadlines_in_utc() -> None:
    spring = compute_deadline(local(2026, 3, 20, 10, 0), CALENDAR, POLICY)
    autumn = compute_deadline(local(2026, 10, 19, 10, 0), CALENDAR, POLICY)
    assert spring.deadline_at == datetime(2026, 3, 30, 22, 0, tzinfo=UTC)
    assert autumn.deadline_at == datetime(2026, 10, 29, 23, 0, tzinfo=UTC)


def test_other_period_length() -> None:
    deadline = compute_deadline(MADE, CALENDAR, replace(POLICY, natural_days=15))
    assert deadline.deadline_at == local(2026, 2, 11)


@pytest.mark.parametrize("natural_days", [0, -1])
def test_period_must_be_positive(natural_days: int) -> None:
    with pytest.raises(ValueError):
        DeadlinePolicy(natural_days=natural_days)


def test_naive_availability_is_refused() -> None:
    with pytest.raises(ValueError):
        compute_deadline(datetime(2026, 1, 26, 10, 0), CALENDAR, POLICY)


def test_exact_boundary() -> None:
    deadline = compute_deadline(MADE, CALENDAR, POLICY)
    assert deadline.is_in_time(deadline.deadline_at - timedelta(microseconds=1))
    assert not deadline.is_in_time(deadline.deadline_at)
    assert not deadline.is_in_time(deadline.deadline_at + timedelta(microseconds=1))


def test_exact_boundary_through_the_model() -> None:
    deadline = compute_deadline(MADE, CALENDAR, POLICY)
    item = Notification(
        id=1,
        kind=ItemKind.NOTIFICATION,
        issuer=Issuer.INSS,
        issuer_reference="R",
        procedure="P",
        subject="S",
        recipient="12345678Z",
        ccc=None,
        category=Category.NORMAL,
        made_available_at=MADE,
        deadline_at=deadline.deadline_at,
        status=Status.AVAILABLE,
        status_at=MADE,
    )
    in_time = item.transition(Status.ACCEPTED, deadline.deadline_at - timedelta(microseconds=1))
    assert in_time.status is Status.ACCEPTED
    with pytest.raises(InvalidState) as raised:
        item.transition(Status.ACCEPTED, deadline.deadline_at)
    assert raised.value.code == "EXPIRED"


def test_acting_on_a_non_working_last_day_is_in_time() -> None:
    # Day 10 is Saturday 31st: access that Saturday evening is in time (real instant compared).
    deadline = compute_deadline(local(2026, 1, 21, 9, 0), CALENDAR, POLICY)
    assert deadline.is_in_time(local(2026, 1, 31, 23, 0))


# --- outages -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outages", "days"),
    [
        pytest.param(
            [outage(local(2026, 1, 28, 9, 0), local(2026, 1, 28, 9, 59))],
            0,
            id="shorter-than-minimum",
        ),
        pytest.param(
            [outage(local(2026, 1, 28, 9, 0), local(2026, 1, 28, 10, 0))],
            1,
            id="exactly-the-minimum",
        ),
        pytest.param(
            [outage(local(2026, 1, 28), local(2026, 1, 29))],
            1,
            id="one-full-day-ending-at-midnight",
        ),
        pytest.param(
            [outage(local(2026, 1, 28, 23, 0), local(2026, 1, 29, 1, 0))],
            2,
            id="two-hours-across-local-midnight",
        ),
        pytest.param(
            [
                outage(local(2026, 1, 28, 9, 0), local(2026, 1, 28, 11, 0)),
                outage(local(2026, 1, 28, 15, 0), local(2026, 1, 28, 17, 0)),
            ],
            1,
            id="two-on-the-same-day-count-once",
        ),
        pytest.param(
            [
                outage(local(2026, 1, 28, 9, 0), local(2026, 1, 28, 11, 0)),
                outage(local(2026, 1, 30, 9, 0), local(2026, 1, 30, 11, 0)),
            ],
            2,
            id="two-on-different-days",
        ),
        pytest.param(
            [
                outage(local(2026, 1, 28, 9, 0), local(2026, 1, 28, 9, 40)),
                outage(local(2026, 1, 28, 15, 0), local(2026, 1, 28, 15, 40)),
            ],
            0,
            id="minimum-applies-to-each-outage",
        ),
        pytest.param(
            [outage(local(2026, 1, 25, 9, 0), local(2026, 1, 25, 18, 0))], 0, id="before-the-window"
        ),
        pytest.param(
            [outage(local(2026, 2, 10, 9, 0), local(2026, 2, 10, 18, 0))], 0, id="after-the-window"
        ),
        pytest.param(
            [outage(local(2026, 1, 26, 8, 0), local(2026, 1, 26, 10, 30))],
            0,
            id="overlap-shorter-than-minimum-at-window-start",
        ),
        pytest.param(
            [outage(local(2026, 1, 25, 20, 0), local(2026, 1, 26, 12, 0))],
            1,
            id="only-days-of-the-overlap-count",
        ),
        pytest.param(
            [outage(local(2026, 2, 5, 23, 30), local(2026, 2, 6, 3, 0))],
            0,
            id="overlap-before-deadline-too-short",
        ),
        pytest.param(
            [
                outage(local(2026, 1, 28), local(2026, 1, 29)),
                outage(local(2026, 2, 6, 10, 0), local(2026, 2, 6, 12, 0)),
            ],
            2,
            id="extension-reaches-a-later-outage",
        ),
        pytest.param(
            [outage(local(2026, 2, 3), local(2026, 2, 20))],
            17,
            id="long-outage-keeps-the-remaining-days",
        ),
    ],
)
def test_outage_extension(outages: list[Outage], days: int) -> None:
    deadline = compute_deadline(MADE, CALENDAR, POLICY, outages)
    assert deadline.extension_days == days
    assert deadline.base_deadline_at == BASE
    assert deadline.deadline_at == local(2026, 2, 6 + days)
    assert deadline.counting_starts_on == date(2026, 1, 27)


def test_long_outage_leaves_the_days_that_were_left_when_it_began() -> None:
    # Three days (3rd, 4th, 5th) were left when the outage began; three are left after it ends.
    deadline = compute_deadline(
        MADE, CALENDAR, POLICY, [outage(local(2026, 2, 3), local(2026, 2, 20))]
    )
    assert deadline.deadline_at - local(2026, 2, 20) == timedelta(days=3)


def test_extension_across_dst_is_in_local_days() -> None:
    made = local(2026, 3, 16, 10, 0)  # base deadline Fri 2026-03-27 00:00 CET
    outages = [outage(local(2026, 3, d, 9, 0), local(2026, 3, d, 11, 0)) for d in (18, 19, 20)]
    deadline = compute_deadline(made, CALENDAR, POLICY, outages)
    assert deadline.base_deadline_at == datetime(2026, 3, 26, 23, 0, tzinfo=UTC)
    assert deadline.deadline_at == local(2026, 3, 30) == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert deadline.extension_days == 3


def test_policy_disabled_gives_no_extension() -> None:
    outages = [outage(local(2026, 1, 28), local(2026, 1, 30))]
    deadline = compute_deadline(MADE, CALENDAR, NO_OUTAGES, outages)
    assert deadline.deadline_at == BASE
    assert deadline.extension_days == 0


def test_minimum_overlap_is_configurable() -> None:
    outages = [outage(local(2026, 1, 28, 9, 0), local(2026, 1, 28, 9, 10))]
    policy = replace(POLICY, outages=OutagePolicy(minimum_overlap=timedelta(minutes=5)))
    assert compute_deadline(MADE, CALENDAR, policy, outages).extension_days == 1
    assert compute_deadline(MADE, CALENDAR, POLICY, outages).extension_days == 0


def test_outage_recorded_after_the_period_ran_out_does_not_extend() -> None:
    down = outage(local(2026, 1, 28), local(2026, 1, 29))
    late = replace(down, recorded_at=BASE)
    in_time = replace(down, recorded_at=BASE - timedelta(microseconds=1))
    assert compute_deadline(MADE, CALENDAR, POLICY, [late]).extension_days == 0
    assert compute_deadline(MADE, CALENDAR, POLICY, [in_time]).extension_days == 1


def test_outage_recorded_within_an_extended_period_extends_it_further() -> None:
    first = replace(outage(local(2026, 1, 28), local(2026, 1, 29)), recorded_at=local(2026, 1, 29))
    # Recorded on the 6th, after the base deadline but before the extended one (7th).
    second = replace(
        outage(local(2026, 1, 30, 9, 0), local(2026, 1, 30, 12, 0)),
        recorded_at=local(2026, 2, 6, 12, 0),
    )
    assert compute_deadline(MADE, CALENDAR, POLICY, [first, second]).deadline_at == local(
        2026, 2, 8
    )


def test_new_outage_recomputes_from_the_base_and_is_idempotent() -> None:
    first = outage(local(2026, 1, 28, 9, 0), local(2026, 1, 28, 12, 0))
    second = outage(local(2026, 1, 28, 15, 0), local(2026, 1, 28, 18, 0))  # same day
    third = outage(local(2026, 2, 2, 9, 0), local(2026, 2, 2, 12, 0))
    current = compute_deadline(MADE, CALENDAR, POLICY, [first])
    assert current.extension_days == 1
    again = extend_for_outages(MADE, current, [first], CALENDAR, POLICY)
    assert again == current
    same_day = extend_for_outages(MADE, current, [first, second], CALENDAR, POLICY)
    assert same_day == current  # not accumulated: still one day
    later = extend_for_outages(MADE, same_day, [first, second, third], CALENDAR, POLICY)
    assert later == compute_deadline(MADE, CALENDAR, POLICY, [third, second, first])
    assert later.extension_days == 2
    assert extend_for_outages(MADE, later, [first, second, third, first], CALENDAR, POLICY) == later


def test_recomputation_never_withdraws_a_published_extension() -> None:
    current = compute_deadline(
        MADE, CALENDAR, POLICY, [outage(local(2026, 1, 28), local(2026, 1, 29))]
    )
    assert extend_for_outages(MADE, current, [], CALENDAR, POLICY) == current
    assert extend_for_outages(MADE, current, [], CALENDAR, NO_OUTAGES) == current


def test_outage_must_end_after_it_starts() -> None:
    for end in (local(2026, 1, 28, 9, 0), local(2026, 1, 28, 8, 0)):
        with pytest.raises(InvalidRequest) as raised:
            outage(local(2026, 1, 28, 9, 0), end)
        assert raised.value.code == "INVALID_OUTAGE"


@pytest.mark.parametrize("field_name", ["starts_at", "ends_at", "recorded_at"])
def test_outage_needs_aware_instants(field_name: str) -> None:
    values = {
        "starts_at": local(2026, 1, 28, 9, 0),
        "ends_at": local(2026, 1, 28, 10, 0),
        "recorded_at": local(2026, 1, 28, 11, 0),
    }
    values[field_name] = values[field_name].replace(tzinfo=None)
    with pytest.raises(InvalidRequest) as raised:
        Outage(values["starts_at"], values["ends_at"], "x", recorded_at=values["recorded_at"])
    assert raised.value.code == "INVALID_OUTAGE"
    assert raised.value.field == field_name


def test_outage_policy_rejects_negative_minimum() -> None:
    with pytest.raises(ValueError):
        OutagePolicy(minimum_overlap=timedelta(minutes=-1))


# --- properties ----------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 1), timezones=st.just(UTC)
)


def is_local_midnight(instant: datetime) -> bool:
    return instant.astimezone(MADRID).time() == datetime.min.time()


@given(instants, st.integers(min_value=1, max_value=40))
def test_base_deadline_properties(made_available_at: datetime, natural_days: int) -> None:
    deadline = compute_deadline(
        made_available_at, CALENDAR, DeadlinePolicy(natural_days=natural_days)
    )
    assert deadline.deadline_at > made_available_at
    assert is_local_midnight(deadline.deadline_at)
    made_day = CALENDAR.local_date(made_available_at)
    last_day = CALENDAR.local_date(deadline.base_deadline_at) - timedelta(days=1)
    # The last counted day is natural_days after the effective day, which itself is at most
    # MAX_RUN non-working days after the day of availability.
    assert natural_days <= (last_day - made_day).days <= natural_days + MAX_RUN
    assert (last_day - deadline.counting_starts_on).days == natural_days - 1
    assert CALENDAR.is_working_day(deadline.counting_starts_on - timedelta(days=1))


@st.composite
def outage_sets(draw: st.DrawFn) -> tuple[datetime, list[Outage]]:
    made = draw(instants)
    outages = []
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        start = made + timedelta(
            minutes=draw(st.integers(min_value=-3 * 1440, max_value=20 * 1440))
        )
        length = timedelta(minutes=draw(st.integers(min_value=1, max_value=4 * 1440)))
        outages.append(outage(start, start + length))
    return made, outages


@given(outage_sets())
def test_extension_properties(case: tuple[datetime, list[Outage]]) -> None:
    made, outages = case
    deadline = compute_deadline(made, CALENDAR, POLICY, outages)
    base = base_deadline(made, CALENDAR, POLICY)
    assert deadline.base_deadline_at == base.deadline_at
    assert is_local_midnight(deadline.deadline_at)
    assert deadline.deadline_at >= deadline.base_deadline_at
    assert (
        CALENDAR.local_date(deadline.deadline_at) - CALENDAR.local_date(deadline.base_deadline_at)
    ).days == deadline.extension_days
    # A fixed point: the final window's qualifying days are exactly the extension.
    assert (
        len(affected_days(made, deadline.deadline_at, outages, CALENDAR, POLICY.outages))
        == deadline.extension_days
    )
    # Idempotent, order-independent, and insensitive to recording an outage twice.
    assert extend_for_outages(made, deadline, outages, CALENDAR, POLICY) == deadline
    shuffled = list(reversed(outages)) + outages[:1]
    assert compute_deadline(made, CALENDAR, POLICY, shuffled) == deadline
    # Disabling the policy gives the base deadline.
    assert compute_deadline(made, CALENDAR, NO_OUTAGES, outages) == base


@given(outage_sets(), outage_sets())
def test_more_outages_never_shorten(
    first: tuple[datetime, list[Outage]], second: tuple[datetime, list[Outage]]
) -> None:
    made, outages = first
    extra = second[1]
    fewer = compute_deadline(made, CALENDAR, POLICY, outages)
    more = compute_deadline(made, CALENDAR, POLICY, outages + extra)
    assert more.deadline_at >= fewer.deadline_at
    assert (
        extension_days(made, fewer.base_deadline_at, outages + extra, CALENDAR, POLICY.outages)
        == more.extension_days
    )
    assert isinstance(more, Deadline)
