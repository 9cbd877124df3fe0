"""The monthly report as CSV: one row per service, the columns of SPEC §8 in that order.

The file is one table, :data:`COLUMNS`: each :class:`Column` pairs a header with the function
that fills its cell from the service's :class:`~exporters.report_model.ServiceReport`, so the
header and every row come from the same entry and adding a column is adding one entry.

Numbers: percentages with 3 decimals (availability floored, see
:func:`exporters.report_text.format_number`), minutes and hours with 2, Mbps with 1; an empty
cell where a value does not apply (no RPO, no host, no data). ``excel=True`` writes the
Indonesian Excel dialect of :mod:`exporters.csvio`; the file is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from exporters.advice import capacity_advice, missed_target_causes
from exporters.csvio import Dialect, dialect, write_rows, yes_no
from exporters.report_model import Metric, ReportData, ServiceReport
from exporters.report_text import format_number, hours, minutes

#: Joins the items of a list cell (causes, plans).
LIST_SEPARATOR = "; "


@dataclass(frozen=True, slots=True)
class Num:
    """A number cell: ``places`` decimals in the dialect's decimal mark, empty for ``None``."""

    value: float | None
    places: int
    floor: bool = False


#: What a column's function gives: text (guarded against formulas, :mod:`exporters.csvio`) or a
#: number (formatted in the dialect).
Cell = str | Num


@dataclass(frozen=True, slots=True)
class Column:
    """One CSV column: its header and the function that fills its cell for a service."""

    name: str
    cell: Callable[[ReportData, ServiceReport], Cell]


def maintenance_text(start: datetime, end: datetime, reason: str, zone: ZoneInfo) -> str:
    """``2024-10-14 22:00–2024-10-15 02:00 WIB: Upgrade RAM`` (times in the report zone)."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    text = f"{a:%Y-%m-%d %H:%M}–{b:%Y-%m-%d %H:%M} {b.tzname()}"
    return f"{text}: {reason}" if reason else text


def _metric(s: ServiceReport, kind: Literal["cpu", "ram", "bandwidth"]) -> Metric | None:
    u = s.utilisation
    return None if u is None else {"cpu": u.cpu, "ram": u.ram, "bandwidth": u.bandwidth}[kind]


def _avg(m: Metric | None) -> float | None:
    return None if m is None else m.avg


def _p95(m: Metric | None) -> float | None:
    return None if m is None else m.p95


def _hours(td: timedelta | None) -> float | None:
    return None if td is None else hours(td)


def _plans(r: ReportData, s: ServiceReport) -> str:
    return LIST_SEPARATOR.join(
        maintenance_text(m.start, m.end, m.reason, r.zone) for m in s.planned_maintenance
    )


def _capacity(s: ServiceReport) -> str:
    advice = (f"Saran: {x.rstrip('.')}" for x in capacity_advice(s))
    return LIST_SEPARATOR.join([*s.capacity_plan, *advice])


#: SPEC §8 — public interface: scripts and spreadsheets depend on these names and this order.
COLUMNS: tuple[Column, ...] = (
    Column("service_id", lambda r, s: s.id),
    Column("nama_layanan", lambda r, s: s.name),
    Column("periode", lambda r, s: r.period_label),
    Column("penyedia_layanan", lambda r, s: s.provider),
    Column("kelompok", lambda r, s: s.group.value),
    Column("klasifikasi", lambda r, s: s.classification.value),
    Column("target_ketersediaan_pct", lambda r, s: Num(s.availability.target_pct, 3)),
    Column(
        "realisasi_ketersediaan_pct", lambda r, s: Num(s.availability.realised_pct, 3, floor=True)
    ),
    Column("tercapai", lambda r, s: yes_no(s.availability.met)),
    Column("downtime_menit", lambda r, s: Num(minutes(s.availability.down), 2)),
    Column("degradasi_menit", lambda r, s: Num(minutes(s.availability.degraded), 2)),
    Column("pemeliharaan_menit", lambda r, s: Num(minutes(s.availability.maintenance), 2)),
    Column("tanpa_data_menit", lambda r, s: Num(minutes(s.availability.unknown), 2)),
    Column("cakupan_data_pct", lambda r, s: Num(s.availability.coverage_pct, 3)),
    Column("jumlah_gangguan", lambda r, s: str(s.incident_count)),
    Column("cpu_rata_pct", lambda r, s: Num(_avg(_metric(s, "cpu")), 3)),
    Column("cpu_p95_pct", lambda r, s: Num(_p95(_metric(s, "cpu")), 3)),
    Column("ram_rata_pct", lambda r, s: Num(_avg(_metric(s, "ram")), 3)),
    Column("ram_p95_pct", lambda r, s: Num(_p95(_metric(s, "ram")), 3)),
    Column("storage_pct", lambda r, s: Num(s.storage_pct, 3)),
    Column("bandwidth_rata_mbps", lambda r, s: Num(_avg(_metric(s, "bandwidth")), 1)),
    Column("bandwidth_p95_mbps", lambda r, s: Num(_p95(_metric(s, "bandwidth")), 1)),
    Column("rpo_jam", lambda r, s: Num(_hours(s.drp.rpo), 2)),
    Column("umur_backup_maks_jam", lambda r, s: Num(_hours(s.drp.max_backup_age), 2)),
    Column(
        "kepatuhan_rpo_pct",
        lambda r, s: Num(None if s.drp.rpo is None else s.drp.rpo_compliance_pct, 3),
    ),
    Column("rto_jam", lambda r, s: Num(_hours(s.drp.rto), 2)),
    Column("pemulihan_terlama_menit", lambda r, s: Num(minutes(s.longest_recovery), 2)),
    Column("gangguan_melebihi_rto", lambda r, s: "" if s.over_rto is None else str(s.over_rto)),
    Column("penyebab", lambda r, s: LIST_SEPARATOR.join(missed_target_causes(s))),
    Column("rencana_pemeliharaan", _plans),
    Column("rencana_peningkatan_kapasitas", lambda r, s: _capacity(s)),
)


def _text(cell: Cell, d: Dialect) -> str:
    if isinstance(cell, Num):
        if cell.value is None:
            return ""
        return format_number(cell.value, cell.places, decimal_mark=d.decimal_mark, floor=cell.floor)
    return d.text(cell)


def rows(report: ReportData, *, excel: bool = False) -> Iterator[list[str]]:
    """The header and one row per service, as text cells (what :func:`write_csv` writes)."""
    d = dialect(excel)
    yield [c.name for c in COLUMNS]
    for s in report.services:
        yield [_text(c.cell(report, s), d) for c in COLUMNS]


def write_csv(report: ReportData, path: str | os.PathLike[str], excel: bool = False) -> Path:
    """Write the report's CSV to ``path`` atomically and return the path written.

    Raises :class:`~agent.core.errors.ReportError` when the file cannot be written.
    """
    return write_rows(
        path,
        rows(report, excel=excel),
        dialect(excel),
        what="CSV report",
        hint="check the --out directory",
    )
