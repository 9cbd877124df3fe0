"""Working-hours arithmetic for SLA response accounting (Lampiran SLA) — pure, no clock.

The Lampiran SLA counts the response time of a gangguan in working hours ("response ≤ 3 h in
working hours, else the next working day"). A clock that only ticks inside working hours
gives exactly that: a report at 15:00 on a Friday with hours 07:30–16:00 has one working hour
left that day, so 3 working hours end on Monday at 09:30; a report on Saturday starts
counting on Monday at 07:30 (the next working day).

Working hours come from :class:`agent.config.models.WorkingHours` (days, start, end, holidays) and
are read in the report zone; inputs and outputs are aware UTC datetimes. Days are walked one
local calendar day at a time, so a DST change in the zone (none in Indonesia, but the zone is
configurable) shifts the UTC window of that day and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from agent.config.models import WorkingHours
from agent.core.errors import PantauError

_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
#: A year plus slack: longer than any run of holidays, so a misconfiguration cannot loop forever.
_MAX_DAYS_WITHOUT_WORK = 400


class WorkingHoursError(PantauError):
    """Working hours that contain no working time at all (so nothing can be counted in them)."""


def _check(wh: WorkingHours) -> None:
    if not wh.days or wh.start >= wh.end:
        raise WorkingHoursError(
            f"working hours {wh.start:%H:%M}-{wh.end:%H:%M} on {wh.days or 'no days'} contain no "
            "working time: set agent.working_hours.start before end and at least one day"
        )


def _is_working_day(day: date, wh: WorkingHours) -> bool:
    return day.weekday() in {_WEEKDAYS[d] for d in wh.days} and day not in wh.holidays


def _window(day: date, wh: WorkingHours, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The working window of a local day, in UTC."""
    start = datetime.combine(day, wh.start, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day, wh.end, tzinfo=tz).astimezone(UTC)
    return start, end


def _windows_from(
    ts: datetime, wh: WorkingHours, tz: ZoneInfo
) -> Iterator[tuple[datetime, datetime]]:
    """Working windows of the local day of ``ts`` and every later day, oldest first."""
    _check(wh)
    day = ts.astimezone(tz).date()
    idle = 0
    while True:
        if _is_working_day(day, wh):
            idle = 0
            yield _window(day, wh, tz)
        else:
            idle += 1
            if idle > _MAX_DAYS_WITHOUT_WORK:
                raise WorkingHoursError(
                    f"no working day within {_MAX_DAYS_WITHOUT_WORK} days after {day}: "
                    "check agent.working_hours.days and holidays"
                )
        day += timedelta(days=1)


def is_working_time(ts: datetime, wh: WorkingHours, tz: ZoneInfo) -> bool:
    """Whether ``ts`` falls inside working hours (start inclusive, end exclusive)."""
    _check(wh)
    day = ts.astimezone(tz).date()
    if not _is_working_day(day, wh):
        return False
    start, end = _window(day, wh, tz)
    return start <= ts < end


def working_time_between(a: datetime, b: datetime, wh: WorkingHours, tz: ZoneInfo) -> timedelta:
    """Working time inside ``[a, b)``; zero when ``b <= a``."""
    total = timedelta()
    if b <= a:
        return total
    for start, end in _windows_from(a, wh, tz):
        if start >= b:
            break
        lo, hi = max(start, a), min(end, b)
        if hi > lo:
            total += hi - lo
    return total


def add_working_time(ts: datetime, amount: timedelta, wh: WorkingHours, tz: ZoneInfo) -> datetime:
    """The instant when ``amount`` of working time has passed since ``ts``.

    Outside working hours the count starts at the next working window; ``amount`` of zero
    returns ``ts`` itself when it is working time, else the start of the next window.
    """
    left = max(amount, timedelta())
    for start, end in _windows_from(ts, wh, tz):
        lo = max(start, ts)
        if lo >= end:
            continue
        if lo + left <= end:
            return lo + left
        left -= end - lo
    raise AssertionError("unreachable: _windows_from never ends")  # pragma: no cover
