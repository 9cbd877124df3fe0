"""What both report sources share (agent.reports.formulir): month checks, the trend window,
next month's maintenance and how the files are named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.core.errors import ReportError
from agent.reports.formulir import (
    next_maintenance,
    started_month_bounds,
    trend_start,
    write_report,
)
from tests.engine.katalog import with_maintenance
from tests.reports.sample import WIB, sample_report, wib


def test_a_month_that_has_not_begun_is_refused() -> None:
    # 1 Oct 2024 00:00 WIB is 30 Sep 17:00Z: one second before, October has not begun
    with pytest.raises(ReportError, match="periode 2024-10 belum dimulai"):
        started_month_bounds(2024, 10, WIB, datetime(2024, 9, 30, 16, 59, 59, tzinfo=UTC))
    start, _ = started_month_bounds(2024, 10, WIB, datetime(2024, 9, 30, 17, tzinfo=UTC))
    assert start == datetime(2024, 9, 30, 17, tzinfo=UTC)


def test_the_trend_starts_eleven_months_before_the_report_month() -> None:
    # Sep 2024 and the 11 months before it: from 1 Oct 2023 00:00 WIB = 30 Sep 2023 17:00Z
    assert trend_start(2024, 9, WIB) == datetime(2023, 9, 30, 17, tzinfo=UTC)


def test_next_maintenance_of_december_is_januarys_windows() -> None:
    # every window touching January in WIB, including those that start or end outside it
    sipd = with_maintenance(
        (wib(2024, 12, 31, 22), wib(2025, 1, 1, 2), "pergantian tahun"),
        (wib(2025, 1, 31, 23), wib(2025, 2, 1, 1), "akhir bulan"),
        (wib(2025, 2, 10, 22), wib(2025, 2, 10, 23), "Februari"),
    )
    reasons = [m.reason for m in next_maintenance(sipd, 2024, 12, WIB)]
    assert reasons == ["pergantian tahun", "akhir bulan"]


def test_files_are_named_by_source_and_period(tmp_path: Path) -> None:
    report = sample_report()  # September 2024
    written = write_report(
        report, tmp_path / "out", "fleet", formats=("csv",), excel=False, progress=None
    )
    assert written == [tmp_path / "out" / "pantau-fleet-2024-09.csv"]
    assert written[0].is_file()
