"""Calendar periods in the report zone: WIB (UTC+7), WITA (UTC+8), WIT (UTC+9), and their names."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agent.core.errors import ReportError
from agent.core.periods import (
    DEFAULT_ZONE,
    add_months,
    month_bounds,
    parse_period,
    period_key,
    period_label,
    period_name,
    period_of,
    previous_months,
)

WIB, WITA, WIT = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar"), ZoneInfo("Asia/Jayapura")


@pytest.mark.parametrize(
    ("zone", "start", "end"),
    [
        # local midnight minus the offset: 1 Feb 00:00 WIB = 31 Jan 17:00Z, 1 Mar = 28 Feb 17:00Z
        (WIB, datetime(2026, 1, 31, 17, tzinfo=UTC), datetime(2026, 2, 28, 17, tzinfo=UTC)),
        (WITA, datetime(2026, 1, 31, 16, tzinfo=UTC), datetime(2026, 2, 28, 16, tzinfo=UTC)),
        (WIT, datetime(2026, 1, 31, 15, tzinfo=UTC), datetime(2026, 2, 28, 15, tzinfo=UTC)),
    ],
)
def test_month_bounds_are_local_midnights_in_utc(
    zone: ZoneInfo, start: datetime, end: datetime
) -> None:
    got = month_bounds(2026, 2, zone)
    assert got == (start, end)
    assert all(t.tzinfo is UTC for t in got)


@pytest.mark.parametrize(
    ("zone", "end"),
    [
        (WIB, datetime(2024, 12, 31, 17, tzinfo=UTC)),  # 1 Jan 2025 00:00 WIB
        (WITA, datetime(2024, 12, 31, 16, tzinfo=UTC)),  # 1 Jan 2025 00:00 WITA
        (WIT, datetime(2024, 12, 31, 15, tzinfo=UTC)),  # 1 Jan 2025 00:00 WIT
    ],
)
def test_december_runs_into_january_of_the_next_year(zone: ZoneInfo, end: datetime) -> None:
    start, got = month_bounds(2024, 12, zone)
    assert got == end
    assert (got - start).days == 31
    assert month_bounds(2025, 1, zone)[0] == got  # months tile: no gap, no overlap


def test_the_default_zone_is_wib() -> None:
    assert DEFAULT_ZONE == WIB
    assert month_bounds(2026, 2) == month_bounds(2026, 2, WIB)


def test_leap_february_has_29_days() -> None:
    start, end = month_bounds(2024, 2, WIT)
    assert (end - start).total_seconds() == 29 * 86_400


@pytest.mark.parametrize(
    ("ts", "zone", "period"),
    [
        (datetime(2026, 1, 31, 17, 30, tzinfo=UTC), WIB, (2026, 2)),  # 00:30 WIB on 1 Feb
        (datetime(2026, 1, 31, 16, 30, tzinfo=UTC), WIB, (2026, 1)),  # 23:30 WIB on 31 Jan
        (datetime(2026, 1, 31, 16, 30, tzinfo=UTC), WITA, (2026, 2)),  # 00:30 WITA
        (datetime(2026, 1, 31, 15, 30, tzinfo=UTC), WITA, (2026, 1)),  # 23:30 WITA
        (datetime(2026, 1, 31, 15, 30, tzinfo=UTC), WIT, (2026, 2)),  # 00:30 WIT
        (datetime(2026, 1, 31, 17, 30, tzinfo=UTC), ZoneInfo("UTC"), (2026, 1)),
    ],
)
def test_period_of_uses_the_report_zone(
    ts: datetime, zone: ZoneInfo, period: tuple[int, int]
) -> None:
    assert period_of(ts, zone) == period


def test_parse_period_accepts_year_dash_month() -> None:
    assert parse_period("2024-09") == (2024, 9)
    assert parse_period(" 2025-12 ") == (2025, 12)


@pytest.mark.parametrize(
    "bad", ["2024-13", "2024-00", "2024-9", "Sep-2024", "24-09", "2024-09-01", ""]
)
def test_parse_period_rejects_anything_else_with_a_hint(bad: str) -> None:
    with pytest.raises(ReportError, match=r"use YYYY-MM, e\.g\. 2024-09"):
        parse_period(bad)


@pytest.mark.parametrize("bad", ["1969-12", "9999-01", "9999-12", "0001-01"])
def test_a_period_the_calendar_cannot_report_is_refused_with_the_range(bad: str) -> None:
    # A report also reads the month after (9999-12 needs January 10000) and 12 months before.
    with pytest.raises(ReportError, match="out of range: from 1970-01 to 9998-12"):
        parse_period(bad)


def test_the_edge_periods_have_bounds_for_the_month_after_and_the_trend() -> None:
    for year, month in (parse_period("1970-01"), parse_period("9998-12")):
        month_bounds(*add_months(year, month, 1))
        month_bounds(*add_months(year, month, -12))


@pytest.mark.parametrize(
    ("month", "label"),
    [(9, "Sep-2024"), (5, "Mei-2024"), (8, "Agu-2024"), (10, "Okt-2024"), (12, "Des-2024")],
)
def test_period_label_uses_indonesian_month_abbreviations(month: int, label: str) -> None:
    assert period_label(2024, month) == label


def test_period_name_and_key() -> None:
    assert period_name(2024, 9) == "September 2024"
    assert period_name(2025, 8) == "Agustus 2025"
    assert period_key(2024, 9) == "2024-09"
    assert parse_period(period_key(2024, 9)) == (2024, 9)  # the key reads back


@pytest.mark.parametrize("month", [0, 13])
def test_a_month_outside_1_to_12_has_no_label(month: int) -> None:
    # month 0 must not wrap around to "Des"
    with pytest.raises(ReportError, match=f"month {month} is not 1..12"):
        period_label(2024, month)
    with pytest.raises(ReportError, match=f"month {month} is not 1..12"):
        period_name(2024, month)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ((2024, 12), 1, (2025, 1)),  # next month across the year
        ((2025, 1), -1, (2024, 12)),  # previous month across the year
        ((2024, 9), 0, (2024, 9)),
        ((2024, 10), -11, (2023, 11)),  # the first month of a 12-month trend
        ((2024, 3), 25, (2026, 4)),
    ],
)
def test_add_months_steps_over_year_ends(
    start: tuple[int, int], n: int, expected: tuple[int, int]
) -> None:
    assert add_months(*start, n) == expected


def test_previous_months_cross_the_year() -> None:
    assert previous_months(2025, 2, 4) == [(2024, 11), (2024, 12), (2025, 1), (2025, 2)]
    assert len(previous_months(2025, 2, 12)) == 12
