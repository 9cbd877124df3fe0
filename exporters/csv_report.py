"""The monthly report as CSV: one row per service, the columns of SPEC §8 in that order.

Numbers: percentages with 3 decimals (availability floored, see
:func:`exporters.report_model.format_number`), minutes and hours with 2, Mbps with 1; an empty
cell where a value does not apply (no RPO, no host, no data). ``excel=True`` writes the
Indonesian Excel dialect of :mod:`exporters.csvio`; the file is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from exporters.advice import capacity_advice, missed_target_causes
from exporters.csvio import Dialect, dialect, write_rows, yes_no
from exporters.report_model import ReportData, ServiceReport
from exporters.report_text import format_number, hours, minutes

#: SPEC §8 — public interface: scripts and spreadsheets depend on these names and this order.
COLUMNS: tuple[str, ...] = (
    "service_id",
    "nama_layanan",
    "periode",
    "penyedia_layanan",
    "kelompok",
    "klasifikasi",
    "target_ketersediaan_pct",
    "realisasi_ketersediaan_pct",
    "tercapai",
    "downtime_menit",
    "degradasi_menit",
    "pemeliharaan_menit",
    "tanpa_data_menit",
    "cakupan_data_pct",
    "jumlah_gangguan",
    "cpu_rata_pct",
    "cpu_p95_pct",
    "ram_rata_pct",
    "ram_p95_pct",
    "storage_pct",
    "bandwidth_rata_mbps",
    "bandwidth_p95_mbps",
    "rpo_jam",
    "umur_backup_maks_jam",
    "kepatuhan_rpo_pct",
    "rto_jam",
    "pemulihan_terlama_menit",
    "gangguan_melebihi_rto",
    "penyebab",
    "rencana_pemeliharaan",
    "rencana_peningkatan_kapasitas",
)

#: Joins the items of a list cell (causes, plans).
LIST_SEPARATOR = "; "


class _Cells:
    """Formats one row's values in the chosen dialect."""

    def __init__(self, d: Dialect) -> None:
        self.d = d

    def num(self, value: float | None, places: int, *, floor: bool = False) -> str:
        if value is None:
            return ""
        return format_number(value, places, decimal_mark=self.d.decimal_mark, floor=floor)

    def text(self, value: str) -> str:
        return self.d.text(value)


def maintenance_text(start: datetime, end: datetime, reason: str, zone: ZoneInfo) -> str:
    """``2024-10-14 22:00–2024-10-15 02:00 WIB: Upgrade RAM`` (times in the report zone)."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    text = f"{a:%Y-%m-%d %H:%M}–{b:%Y-%m-%d %H:%M} {b.tzname()}"
    return f"{text}: {reason}" if reason else text


def _row(report: ReportData, s: ServiceReport, cells: _Cells) -> list[str]:
    a, u, d = s.availability, s.utilisation, s.drp
    cpu = u.cpu if u else None
    ram = u.ram if u else None
    bw = u.bandwidth if u else None
    met = a.met
    plans = [maintenance_text(m.start, m.end, m.reason, report.zone) for m in s.planned_maintenance]
    capacity = [*s.capacity_plan, *(f"Saran: {x.rstrip('.')}" for x in capacity_advice(s))]
    return [
        cells.text(s.id),
        cells.text(s.name),
        report.period_label,
        cells.text(s.provider),
        s.group.value,
        s.classification.value,
        cells.num(a.target_pct, 3),
        cells.num(a.realised_pct, 3, floor=True),
        yes_no(met),
        cells.num(minutes(a.down), 2),
        cells.num(minutes(a.degraded), 2),
        cells.num(minutes(a.maintenance), 2),
        cells.num(minutes(a.unknown), 2),
        cells.num(a.coverage_pct, 3),
        str(s.incident_count),
        cells.num(cpu.avg if cpu else None, 3),
        cells.num(cpu.p95 if cpu else None, 3),
        cells.num(ram.avg if ram else None, 3),
        cells.num(ram.p95 if ram else None, 3),
        cells.num(s.storage_pct, 3),
        cells.num(bw.avg if bw else None, 1),
        cells.num(bw.p95 if bw else None, 1),
        cells.num(hours(d.rpo) if d.rpo is not None else None, 2),
        cells.num(hours(d.max_backup_age) if d.max_backup_age is not None else None, 2),
        cells.num(d.rpo_compliance_pct if d.rpo is not None else None, 3),
        cells.num(hours(d.rto) if d.rto is not None else None, 2),
        cells.num(minutes(s.longest_recovery), 2),
        "" if s.over_rto is None else str(s.over_rto),
        cells.text(LIST_SEPARATOR.join(missed_target_causes(s))),
        cells.text(LIST_SEPARATOR.join(plans)),
        cells.text(LIST_SEPARATOR.join(capacity)),
    ]


def rows(report: ReportData, *, excel: bool = False) -> Iterator[list[str]]:
    """The header and one row per service, as text cells (what :func:`write_csv` writes)."""
    cells = _Cells(dialect(excel))
    yield list(COLUMNS)
    for service in report.services:
        yield _row(report, service, cells)


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
