"""Recorded service outages and the deadline extension they grant.

When a technical incident prevents the ordinary working of the electronic system, the
administration may extend the periods that have not yet run out (Ley 39/2015 art. 32.4). The
gateway applies that extension automatically, by this rule:

- An item's *window* is ``[made_available_at, deadline_at)``: the time during which its recipient
  could act on it.
- An outage *qualifies* for an item when its overlap with the window lasts at least
  ``OutagePolicy.minimum_overlap`` and, if the outage carries ``recorded_at``, it was recorded
  before the window closed (only periods not yet run out may be extended).
- The extension is the number of distinct official-time calendar days that the qualifying
  overlaps touch, taken as a union over all outages: two outages on the same day give one day;
  a short outage spanning local midnight gives two.
- The extension is added to the *base* deadline in whole official-time days. The longer window
  can overlap further outages, so the rule is applied again until the extension stops growing
  (it only grows, and never beyond the number of days the outages touch, so this ends).

The extension is always recomputed from the base deadline over the full set of recorded outages,
never accumulated, so recording the same outages again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from gateway.errors import InvalidRequest

from .calendar import WorkingCalendar


@dataclass(frozen=True, slots=True)
class Outage:
    """A period during which the service could not be used, recorded by an operator."""

    starts_at: datetime
    ends_at: datetime
    reason: str
    id: int | None = None
    recorded_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("starts_at", "ends_at", "recorded_at"):
            value = getattr(self, name)
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise InvalidRequest(
                    f"outage {name} must carry a time zone offset",
                    code="INVALID_OUTAGE",
                    field=name,
                )
        if self.ends_at <= self.starts_at:
            raise InvalidRequest(
                "an outage must end after it starts", code="INVALID_OUTAGE", field="ends_at"
            )

    def overlap(self, window_start: datetime, window_end: datetime) -> timedelta:
        """How long this outage overlaps ``[window_start, window_end)`` (zero if disjoint)."""
        return max(min(self.ends_at, window_end) - max(self.starts_at, window_start), timedelta(0))


@dataclass(frozen=True)
class OutagePolicy:
    """When recorded outages extend deadlines (Ley 39/2015 art. 32.4)."""

    enabled: bool = True
    """Whether outages extend deadlines at all (``GATEWAY_OUTAGE_EXTENSION``)."""

    minimum_overlap: timedelta = timedelta(hours=1)
    """An outage overlapping an item's window by less than this grants nothing: a brief glitch
    did not prevent access (``GATEWAY_OUTAGE_MINIMUM_MINUTES``)."""

    def __post_init__(self) -> None:
        if self.minimum_overlap < timedelta(0):
            raise ValueError("minimum_overlap cannot be negative")


def affected_days(
    window_start: datetime,
    window_end: datetime,
    outages: Iterable[Outage],
    calendar: WorkingCalendar,
    policy: OutagePolicy,
) -> frozenset[date]:
    """The official-time days touched by the qualifying overlaps of ``outages`` with the window."""
    if not policy.enabled:
        return frozenset()
    days: set[date] = set()
    for outage in outages:
        if outage.recorded_at is not None and outage.recorded_at >= window_end:
            continue  # recorded once the period had already run out: art. 32.4 does not apply
        overlap = outage.overlap(window_start, window_end)
        if overlap <= timedelta(0) or overlap < policy.minimum_overlap:
            continue
        days.update(
            _days_touched(
                max(outage.starts_at, window_start), min(outage.ends_at, window_end), calendar
            )
        )
    return frozenset(days)


def extension_days(
    window_start: datetime,
    base_window_end: datetime,
    outages: Sequence[Outage],
    calendar: WorkingCalendar,
    policy: OutagePolicy,
) -> int:
    """Days to add to ``base_window_end`` for ``outages`` (the fixed point described above)."""
    relevant = [o for o in outages if o.ends_at > window_start]
    if not policy.enabled or not relevant:
        return 0
    # The extension only grows from one round to the next (a longer window overlaps more), each
    # round that changes it adds at least one day, and it can never exceed the number of days
    # the outages touch at all: that bounds the rounds.
    bound: set[date] = set()
    for outage in relevant:
        bound.update(_days_touched(max(outage.starts_at, window_start), outage.ends_at, calendar))
    extension = 0
    for _ in range(len(bound) + 1):
        window_end = calendar.shift_local_days(base_window_end, extension)
        grown = len(affected_days(window_start, window_end, relevant, calendar, policy))
        if grown == extension:
            return extension
        extension = grown
    raise AssertionError("outage extension did not reach a fixed point")  # pragma: no cover


def _days_touched(start: datetime, end: datetime, calendar: WorkingCalendar) -> list[date]:
    """Official-time days that ``[start, end)`` (non-empty) has at least one instant in."""
    first = calendar.local_date(start)
    last = calendar.local_date(end)
    if calendar.start_of_day(last) == end:
        last -= timedelta(days=1)  # ending exactly at local midnight does not touch that day
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
