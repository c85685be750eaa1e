"""The deemed-rejection deadline of a notification.

A notification made available and neither accepted nor rejected within ten natural days is deemed
rejected (Ley 39/2015 art. 43.2). The server computes ``deadline_at`` once and publishes it;
clients never compute it. The day-counting convention, and why:

1. **Availability counts at** ``calendar.effective_at(made_available_at)``. Making an item available
   on a non-working day counts as done at 00:00 of the next working day (art. 31.2.b), so an item
   published on a Saturday starts counting as if published first thing on Monday.
2. **The count starts the day after** that effective day (art. 30.4: periods in days count
   "a partir del día siguiente"). The day of availability itself is never day 1.
3. **Natural days.** Weekends and holidays inside the period count (art. 43.2 says natural days,
   which displaces the working-days default of art. 30.2), and the end is not moved when the last
   day is non-working.
4. **End of the last day.** The item is deemed rejected at the *end* of the 10th natural day, that
   is at 00:00 Europe/Madrid of ``effective_day + natural_days + 1``, converted to UTC. Midnight is
   taken in official time through zoneinfo, so a period containing a DST change is 23 or 25 hours
   longer or shorter in UTC, never a day off.
5. **In time or late.** A client act at an instant strictly before ``deadline_at`` is in time; at or
   after it, too late. The act's real instant is compared, not its ``effective_at``: accessing a
   notification on a Saturday that is its 10th day is an access made in time (art. 43.2 deems the
   notification practised at the moment of access).
6. **Outages** (``domain.outages``, art. 32.4) add whole official-time days to the base deadline
   (local midnight + N days, DST-safe). The extension is recomputed from the base deadline over
   the full set of recorded outages, never accumulated, and a published deadline is never
   shortened by a recomputation.

Example: made available on Monday 2026-01-26 at 10:00; day 1 is Tuesday 27th, day 10 is Thursday
2026-02-05; deemed rejected at 2026-02-06 00:00 Europe/Madrid (2026-02-05T23:00Z).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from .calendar import WorkingCalendar
from .clock import require_aware
from .outages import Outage, OutagePolicy, extension_days


@dataclass(frozen=True)
class DeadlinePolicy:
    """How the deemed-rejection deadline is computed."""

    natural_days: int = 10
    """Natural days after (effective) availability before the item is deemed rejected."""

    outages: OutagePolicy = field(default_factory=OutagePolicy)
    """When recorded service outages extend the deadline."""

    def __post_init__(self) -> None:
        if self.natural_days < 1:
            raise ValueError("natural_days must be at least 1")


@dataclass(frozen=True, slots=True)
class Deadline:
    """A computed deadline; every instant is UTC and falls at 00:00 official time."""

    deadline_at: datetime
    """When the item is deemed rejected: acts strictly before it are in time."""

    base_deadline_at: datetime
    """The deadline without any outage extension."""

    extension_days: int
    """Whole official-time days added for recorded outages (``deadline_at - base``)."""

    counting_starts_on: date
    """Natural day 1 of the period: the day after the effective day of availability."""

    def is_in_time(self, acted_at: datetime) -> bool:
        """Whether an act done at ``acted_at`` (its real instant) beats the deadline."""
        return require_aware(acted_at, "acted_at") < self.deadline_at


def base_deadline(
    made_available_at: datetime, calendar: WorkingCalendar, policy: DeadlinePolicy
) -> Deadline:
    """The deadline before any outage extension (rules 1-4 of the module docstring)."""
    effective_day = calendar.local_date(calendar.effective_at(made_available_at))
    counting_starts_on = effective_day + timedelta(days=1)
    deemed_rejected_at = calendar.start_of_day(
        counting_starts_on + timedelta(days=policy.natural_days)
    )
    return Deadline(
        deadline_at=deemed_rejected_at,
        base_deadline_at=deemed_rejected_at,
        extension_days=0,
        counting_starts_on=counting_starts_on,
    )


def extend_for_outages(
    made_available_at: datetime,
    current: Deadline,
    outages: Sequence[Outage],
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
) -> Deadline:
    """The deadline of an item once ``outages`` (every outage recorded so far) are known.

    Call it when an item is created and again whenever an outage is recorded while the item is
    still pending. The extension is recomputed from ``current.base_deadline_at`` over the whole
    set, so it is idempotent; if the result would not be later than ``current.deadline_at``,
    ``current`` is returned unchanged (a published deadline is never withdrawn).
    """
    require_aware(made_available_at, "made_available_at")
    days = extension_days(
        made_available_at, current.base_deadline_at, outages, calendar, policy.outages
    )
    extended_at = calendar.shift_local_days(current.base_deadline_at, days)
    if extended_at <= current.deadline_at:
        return current
    return Deadline(
        deadline_at=extended_at,
        base_deadline_at=current.base_deadline_at,
        extension_days=days,
        counting_starts_on=current.counting_starts_on,
    )


def compute_deadline(
    made_available_at: datetime,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    outages: Sequence[Outage] = (),
) -> Deadline:
    """The deadline of an item made available at ``made_available_at``, outages included."""
    return extend_for_outages(
        made_available_at,
        base_deadline(made_available_at, calendar, policy),
        outages,
        calendar,
        policy,
    )
