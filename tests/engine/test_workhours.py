"""Working-hours arithmetic (Lampiran SLA): Mon–Fri 07:30–16:00 in the report zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.config.models import WorkingHours
from agent.engine.workhours import (
    WorkingHoursError,
    add_working_time,
    is_working_time,
    working_time_between,
)

WIB, WITA = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar")
WH = WorkingHours()  # mon–fri 07:30–16:00, no holidays
H = timedelta(hours=1)


def wib(day: int, hour: int, minute: int = 0, month: int = 9) -> datetime:
    """A September 2024 local time: the 13th is a Friday, 14/15 the weekend, 16 a Monday."""
    return datetime(2024, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (wib(13, 7, 30), True),  # start is inclusive
        (wib(13, 15, 59), True),
        (wib(13, 16, 0), False),  # end is exclusive
        (wib(13, 7, 29), False),
        (wib(14, 10), False),  # Saturday
    ],
)
def test_is_working_time(ts: datetime, expected: bool) -> None:
    assert is_working_time(ts, WH, WIB) is expected


def test_three_working_hours_from_friday_afternoon_end_on_monday() -> None:
    # Fri 15:00 → 16:00 is 1 h; the remaining 2 h run Mon 07:30 → 09:30
    assert add_working_time(wib(13, 15), 3 * H, WH, WIB) == wib(16, 9, 30)


def test_a_weekend_report_starts_counting_on_the_next_working_day() -> None:
    assert add_working_time(wib(14, 10), 3 * H, WH, WIB) == wib(16, 10, 30)  # 07:30 + 3 h
    assert add_working_time(wib(14, 10), timedelta(), WH, WIB) == wib(16, 7, 30)


def test_a_holiday_is_skipped() -> None:
    wh = WorkingHours(holidays=[date(2024, 9, 16)])  # Monday off
    assert add_working_time(wib(13, 15), 3 * H, wh, WIB) == wib(17, 9, 30)  # Tuesday


def test_working_time_between_counts_only_working_windows() -> None:
    # Fri 15:00 → Mon 09:00 = 1 h (Fri) + 1 h 30 min (Mon 07:30 → 09:00)
    assert working_time_between(wib(13, 15), wib(16, 9), WH, WIB) == timedelta(minutes=150)
    assert working_time_between(wib(16, 9), wib(13, 15), WH, WIB) == timedelta()
    # a whole working week: 5 × 8 h 30 min
    assert working_time_between(wib(16, 0), wib(23, 0), WH, WIB) == 5 * timedelta(hours=8.5)


def test_add_and_between_are_inverse() -> None:
    start = wib(12, 14, 10)
    for minutes in (0, 15, 50, 200, 510, 2000):
        end = add_working_time(start, timedelta(minutes=minutes), WH, WIB)
        assert working_time_between(start, end, WH, WIB) == timedelta(minutes=minutes)


def test_the_zone_decides_what_local_time_it_is() -> None:
    ts = datetime(2024, 9, 13, 23, 45, tzinfo=UTC)  # Sat 06:45 WIB, Sat 07:45 WITA
    wh = WorkingHours(days=["sat"], start=time(7, 0), end=time(8, 0))
    assert is_working_time(ts, wh, WITA)
    assert add_working_time(ts, timedelta(), wh, WIB) == datetime(2024, 9, 14, 0, 0, tzinfo=UTC)


def test_working_hours_without_working_time_are_an_error() -> None:
    with pytest.raises(WorkingHoursError, match="start before end"):
        add_working_time(wib(13, 9), H, WorkingHours(start=time(16), end=time(8)), WIB)
    with pytest.raises(WorkingHoursError, match="at least one day"):
        is_working_time(wib(13, 9), WorkingHours(days=[]), WIB)
