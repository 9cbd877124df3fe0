"""What both report sources do alike: the local store (:mod:`agent.reports.builder`) and
Prometheus (:mod:`agent.reports.fleet.report`) fill the same Formulir.

Said once here: the check that the month has begun, the 12-month trend (its window, and the
month's availability with it from the engine), which gangguan a month lists and how long each
lasted (:func:`month_gangguan`, :func:`gangguan_entry`: a ticket of the local store and an
episode read from Prometheus are counted alike), the report's header (organisation, period,
signatory), next month's planned maintenance, the "no data" error, and how the files are
named and written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from agent.config.katalog import ServiceSettings
from agent.config.models import Config
from agent.core.errors import ReportError, ReportRequestError
from agent.core.model import StateInterval
from agent.core.pedoman import Impact
from agent.core.periods import add_months, month_bounds, period_key, period_label
from agent.engine.availability import Override, PeriodAvailability, monthly_series
from agent.engine.incidents import Spell, duration, in_period
from exporters import report_model as rm

#: Months in the availability trend of each Formulir, the report's month last.
TREND_MONTHS = 12

S = TypeVar("S", bound=Spell)


def started_month_bounds(
    year: int, month: int, zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """The month's UTC bounds; a :class:`ReportError` when it has not begun at ``now``."""
    start, end = month_bounds(year, month, zone)
    if start > now:
        raise ReportRequestError(
            f"periode {period_key(year, month)} belum dimulai (the period is in the future)"
        )
    return start, end


def trend_start(year: int, month: int, zone: ZoneInfo) -> datetime:
    """Where the trend of :data:`TREND_MONTHS` months ending with ``year-month`` begins."""
    return month_bounds(*add_months(year, month, 1 - TREND_MONTHS), zone)[0]


def no_data(year: int, month: int, why: str) -> ReportError:
    """The error of a period nothing was monitored in; ``why`` says where pantau looked."""
    return ReportError(f"tidak ada data untuk periode {period_label(year, month)}: {why}")


def report_data(
    config: Config,
    year: int,
    month: int,
    now: datetime,
    services: Sequence[rm.ServiceReport],
    agent_names: Sequence[str],
) -> rm.ReportData:
    """The report of ``services`` under the configured header (organisation, signatory)."""
    rs = config.agent.report
    return rm.ReportData(
        organization=rs.organization,
        period=(year, month),
        generated_at=now,
        timezone=config.agent.timezone,
        services=services,
        agency=rs.agency,
        city=rs.city,
        agent_names=agent_names,
        signatory=rm.Signatory(
            name=rs.signatory_name, title=rs.signatory_title, nip=rs.signatory_id
        ),
    )


def month_availability(
    intervals: Sequence[StateInterval],
    maintenance: Sequence[tuple[datetime, datetime]],
    overrides: Sequence[Override],
    *,
    year: int,
    month: int,
    zone: ZoneInfo,
    now: datetime,
    monitored_since: datetime | None,
    target: float,
) -> tuple[rm.Availability, list[rm.TrendPoint]]:
    """The month's availability block and its trend, in one pass of the engine.

    ``intervals`` must cover the trend from :func:`trend_start`; ``monitored_since`` is the
    first round ever (``None``: never monitored).
    """
    series = monthly_series(
        intervals,
        maintenance,
        overrides,
        year=year,
        month=month,
        now=now,
        monitored_since=monitored_since,
        tz=zone,
        months=TREND_MONTHS,
        target_pct=target,
    )
    trend = [
        rm.TrendPoint(period_label(y, m), pa.availability_pct, target)
        for (y, m), pa in series.items()
    ]
    return _availability(series[(year, month)], target), trend


def _availability(pa: PeriodAvailability, target: float) -> rm.Availability:
    """The engine's period result as the report model's availability block."""
    return rm.Availability(
        target_pct=target,
        realised_pct=pa.availability_pct,
        down=timedelta(seconds=pa.down_seconds),
        degraded=timedelta(seconds=pa.degraded_seconds),
        maintenance=timedelta(seconds=pa.maintenance_seconds),
        unknown=timedelta(seconds=pa.unknown_seconds),
        coverage_pct=pa.coverage_pct,  # None (an empty cell) where nothing could be observed
    )


def month_gangguan(spells: Iterable[S], start: datetime, end: datetime) -> list[S]:
    """The gangguan a month lists: every one overlapping ``[start, end)``, also one that began
    before it or ended after it (its duration is whole, not clipped to the month)."""
    return [s for s in spells if in_period(s, start, end)]


def gangguan_entry(
    spell: Spell, *, id: str, impact: Impact, priority: int, now: datetime, **fields: Any
) -> rm.Gangguan:
    """One gangguan of the Formulir: its whole duration (until ``now`` while ongoing)."""
    return rm.Gangguan(
        id=id,
        start=spell.start,
        end=spell.end,
        duration=duration(spell, now),
        impact=impact,
        priority=priority,
        **fields,
    )


def next_maintenance(
    st: ServiceSettings, year: int, month: int, zone: ZoneInfo
) -> list[rm.PlannedMaintenance]:
    """The katalog's maintenance windows that fall in the month after ``year-month``."""
    start, end = month_bounds(*add_months(year, month, 1), zone)
    return [
        rm.PlannedMaintenance(w.start, w.end, w.reason)
        for w in st.service.maintenance
        if w.start < end and w.end > start
    ]


def write_report(
    data: rm.ReportData,
    out_dir: Path,
    source: str,
    *,
    formats: Sequence[str],
    excel: bool,
    progress: Callable[[int, int], None] | None,
) -> list[Path]:
    """Write ``pantau-<source>-YYYY-MM.csv`` / ``.pdf`` as ``formats`` asks; return the files."""
    # Imported here: reportlab costs ~8 MB of RSS the agent needs only once a month.
    from exporters.csv_report import write_csv
    from exporters.pdf.report import write_pdf

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"pantau-{source}-{period_key(*data.period)}"
    written = []
    if "csv" in formats:
        written.append(write_csv(data, out_dir / f"{stem}.csv", excel=excel))
    if "pdf" in formats:
        written.append(write_pdf(data, out_dir / f"{stem}.pdf", progress=progress))
    return written
