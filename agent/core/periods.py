"""Calendar periods in the report zone: the one place month arithmetic and month names live.

A report period is a calendar month, named by ``(year, month)``. Its bounds are computed in
the report zone (default Asia/Jakarta) and given as aware UTC datetimes, so that callers
subtract in UTC: WIB midnight of 1 February 2026 is 2026-01-31T17:00Z, so a failure at
17:30Z counts in February. Months are stepped by their index ``year * 12 + month - 1``, which
carries December into January without special cases.

Names: the machine-readable key is ``YYYY-MM`` (``--period``, file names, the reports table);
the Formulir's Periode label uses the Indonesian month abbreviations of CLDR ``id`` (Jan Feb
Mar Apr Mei Jun Jul Agu Sep Okt Nov Des) — the Pedoman's example ``Sep-2024`` reads the same
in English and Indonesian, and every other label on the Formulir is in Bahasa Indonesia
(SPEC §8).

Another kind of period (quarter, semester, year, a date range) belongs here too, with its own
bounds and label, so that no other module learns calendar arithmetic.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agent.core.errors import ReportError, ReportRequestError

#: The report zone when none is configured (WIB).
DEFAULT_ZONE = ZoneInfo("Asia/Jakarta")
#: CLDR ``id`` abbreviated month names, January first.
MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")
#: Full Indonesian month names, January first.
MONTH_NAME = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)  # fmt: skip

_KEY = re.compile(r"^(\d{4})-(\d{2})$")


def month_bounds(year: int, month: int, tz: ZoneInfo = DEFAULT_ZONE) -> tuple[datetime, datetime]:
    """The calendar month in ``tz`` as aware UTC ``[start, end)``."""
    start = datetime(year, month, 1, tzinfo=tz)
    nxt = datetime(*add_months(year, month, 1), 1, tzinfo=tz)
    return start.astimezone(UTC), nxt.astimezone(UTC)


def period_of(ts: datetime, tz: ZoneInfo = DEFAULT_ZONE) -> tuple[int, int]:
    """``(year, month)`` of the calendar month in ``tz`` that contains ``ts``."""
    local = ts.astimezone(tz)
    return local.year, local.month


def add_months(year: int, month: int, n: int) -> tuple[int, int]:
    """The month ``n`` months after ``year-month`` (before it when ``n`` is negative)."""
    index = year * 12 + month - 1 + n
    return index // 12, index % 12 + 1


def previous_months(year: int, month: int, count: int) -> list[tuple[int, int]]:
    """``count`` months ending with ``(year, month)``, oldest first."""
    return [add_months(year, month, -back) for back in range(count - 1, -1, -1)]


#: The periods ``--period`` accepts. A report also reads the twelve months before its period
#: (the trend) and the month after it (planned maintenance), so the calendar (years 1..9999)
#: must hold those too: 9999-12 would need January of the year 10000.
FIRST_PERIOD, LAST_PERIOD = (1970, 1), (9998, 12)


def parse_period(text: str) -> tuple[int, int]:
    """Parse ``YYYY-MM`` (the ``--period`` option) into ``(year, month)``, within
    :data:`FIRST_PERIOD` … :data:`LAST_PERIOD`."""
    m = _KEY.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ReportRequestError(f"invalid period {text!r}: use YYYY-MM, e.g. 2024-09")
    period = int(m.group(1)), int(m.group(2))
    if not FIRST_PERIOD <= period <= LAST_PERIOD:
        raise ReportRequestError(
            f"period {text.strip()!r} is out of range: from {period_key(*FIRST_PERIOD)} "
            f"to {period_key(*LAST_PERIOD)}"
        )
    return period


def period_key(year: int, month: int) -> str:
    """``(2024, 9)`` → ``'2024-09'``, the form :func:`parse_period` reads."""
    return f"{year:04d}-{month:02d}"


def period_label(year: int, month: int) -> str:
    """``(2024, 9)`` → ``'Sep-2024'``, the Formulir's Periode (see the module docstring)."""
    return f"{MONTH_ABBR[_month_index(year, month)]}-{year:04d}"


def period_name(year: int, month: int) -> str:
    """``(2024, 9)`` → ``'September 2024'``."""
    return f"{MONTH_NAME[_month_index(year, month)]} {year}"


def _month_index(year: int, month: int) -> int:
    # a bad month would otherwise index from the end: month 0 would read as "Des"
    if not 1 <= month <= 12:
        raise ReportError(f"month {month} is not 1..12 (period {year}-{month:02d})")
    return month - 1
