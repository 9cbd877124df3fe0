"""Karakteristik Utilisasi of the Formulir: CPU, RAM, Storage, Bandwidth and filesystems.

Average and p95 per resource, daily charts over the month, and one row per filesystem with
its growth and the day it would be full at that growth (capacity advice itself is prose in
:mod:`exporters.advice`).
"""

from __future__ import annotations

from datetime import date, timedelta

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer, Table

from agent.core.periods import add_months
from exporters.advice import FULL_HORIZON_DAYS
from exporters.pdf.charts import DailyChart, Series
from exporters.pdf.style import BLUE, EMPTY, GREEN, NOT_APPLICABLE, date_short, para, pct
from exporters.pdf.tables import Cell, colored_cell, grid_table, section_title, side_by_side
from exporters.report_model import Metric, ReportData, ServiceReport
from exporters.report_text import format_bytes, num_id


def period_end(report: ReportData) -> date:
    """First day after the period (where growth projections start)."""
    return date(*add_months(*report.period, 1), 1)


def _daily(axis: list[date], metric: Metric | None, p95: bool) -> list[float | None]:
    """A metric's daily values laid on the shared day axis (a missing day is a gap)."""
    if metric is None:
        return [None] * len(axis)
    points = {p.day: p for p in metric.daily}
    values: list[float | None] = []
    for day in axis:
        point = points.get(day)
        values.append(None if point is None else (point.p95 if p95 else point.avg))
    return values


def _metric_cells(m: Metric | None, unit: str) -> list[str]:
    if m is None:
        return [NOT_APPLICABLE, NOT_APPLICABLE]
    if unit == "%":
        return [pct(m.avg, 1), pct(m.p95, 1)]
    return [EMPTY if v is None else f"{num_id(v, 1)} {unit}" for v in (m.avg, m.p95)]


def utilisation(report: ReportData, s: ServiceReport, width: float) -> list[Flowable]:
    """Karakteristik Utilisasi: averages and p95, daily charts, filesystems."""
    out: list[Flowable] = [section_title("Karakteristik Utilisasi")]
    u = s.utilisation
    if u is None:
        out.append(
            para(
                "Tidak berlaku: layanan ini tidak dikaitkan dengan host yang dipantau "
                "(CPU, RAM, Storage dan Bandwidth tidak diukur).",
                "small",
            )
        )
        return out
    measured = [fs for fs in s.filesystems if fs.used_pct is not None]
    fullest = max(measured, key=lambda fs: fs.used_pct or 0.0, default=None)
    bw_note = EMPTY
    if u.link_capacity_mbps and u.bandwidth and u.bandwidth.p95 is not None:
        share = 100.0 * u.bandwidth.p95 / u.link_capacity_mbps
        bw_note = f"kapasitas {num_id(u.link_capacity_mbps, 0)} Mbps; p95 = {pct(share, 1)}"
    rows = [
        ["CPU", *_metric_cells(u.cpu, "%"), f"host {u.host}"],
        ["RAM", *_metric_cells(u.ram, "%"), EMPTY],
        [
            "Storage",
            pct(s.storage_pct, 1) if fullest else NOT_APPLICABLE,
            EMPTY,
            f"filesystem terpenuh: {fullest.mountpoint}" if fullest else EMPTY,
        ],
        ["Bandwidth", *_metric_cells(u.bandwidth, "Mbps"), bw_note],
    ]
    out.append(
        grid_table(
            ["Sumber daya", "Rata-rata", "P95", "Keterangan"],
            rows,
            [width * 0.16, width * 0.18, width * 0.18, width * 0.48],
            right=(1, 2),
        )
    )
    axis = sorted({p.day for m in (u.cpu, u.ram, u.bandwidth) if m for p in m.daily})
    days = [d.day for d in axis]
    chart_w, chart_h = (width - 8) / 2, 40 * mm
    usage = DailyChart(
        "Utilisasi CPU dan RAM harian (%)",
        days,
        [
            Series("CPU rata-rata", _daily(axis, u.cpu, False), BLUE),
            Series("CPU p95", _daily(axis, u.cpu, True), BLUE, dashed=True),
            Series("RAM rata-rata", _daily(axis, u.ram, False), GREEN),
            Series("RAM p95", _daily(axis, u.ram, True), GREEN, dashed=True),
        ],
        chart_w,
        chart_h,
        fixed_max=100.0,
    )
    band = DailyChart(
        "Bandwidth harian (Mbps)",
        days,
        [
            Series("rata-rata", _daily(axis, u.bandwidth, False), BLUE),
            Series("p95", _daily(axis, u.bandwidth, True), BLUE, dashed=True),
        ],
        chart_w,
        chart_h,
    )
    out.append(side_by_side(usage, band, width))
    if s.filesystems:
        out += [Spacer(1, 4), _filesystems(report, s, width)]
    return out


def _filesystems(report: ReportData, s: ServiceReport, width: float) -> Table:
    start = period_end(report)
    rows: list[list[Cell]] = []
    for fs in s.filesystems:
        days = fs.days_until_full
        if days is None:
            full = "tidak bertambah" if fs.total_bytes > 0 else EMPTY
        elif days == 0:
            full = colored_cell("sudah penuh", False)
        else:
            when = date_short(start + timedelta(days=days))
            text = f"±{num_id(days, 0)} hari ({when})"
            full = colored_cell(text, None) if days <= FULL_HORIZON_DAYS else text
        rows.append(
            [
                fs.mountpoint,
                format_bytes(fs.used_bytes),
                format_bytes(fs.total_bytes),
                pct(fs.used_pct, 1),
                f"{format_bytes(fs.growth_bytes_per_day)}/hari",
                full,
            ]
        )
    return grid_table(
        ["Filesystem", "Terpakai", "Kapasitas", "Pemakaian", "Pertumbuhan", "Perkiraan penuh"],
        rows,
        [width * w for w in (0.22, 0.13, 0.13, 0.12, 0.16, 0.24)],
        right=(1, 2, 3, 4),
    )
