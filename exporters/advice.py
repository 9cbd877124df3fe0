"""Prose drawn from a service's month: why its target was missed, and capacity advice.

Above :mod:`exporters.report_model` (it reads a :class:`ServiceReport`) and shared by the CSV,
the PDF and the fleet report, so each says the same thing. Pure functions, no I/O.
"""

from __future__ import annotations

from datetime import timedelta

from agent.core.durations import format_duration_words
from exporters.report_model import ServiceReport
from exporters.report_text import format_bytes, num_id

#: p95 utilisation above this is "sustained pressure" worth a capacity note.
PRESSURE_PCT = 80.0
#: A filesystem expected to fill within this many days gets a capacity note (a procurement
#: cycle in local government takes about a quarter).
FULL_HORIZON_DAYS = 90.0
#: A filesystem this full gets a note even when it is not growing.
FULL_WARN_PCT = 90.0


def missed_target_causes(s: ServiceReport) -> list[str]:
    """Operator-written causes; without them, when the target was missed, the month's
    gangguan causes ordered by the downtime they brought (longest first)."""
    if s.causes:
        return list(s.causes)
    if s.availability.met is not False:
        return []
    totals: dict[str, tuple[int, timedelta]] = {}
    for g in s.gangguan:
        cause = g.cause.strip() or "penyebab belum dicatat"
        count, total = totals.get(cause, (0, timedelta(0)))
        totals[cause] = (count + 1, total + g.duration)
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1][1], kv[0]))
    return [
        f"{cause} ({count}×, {format_duration_words(total)})" for cause, (count, total) in ranked
    ]


def capacity_advice(s: ServiceReport) -> list[str]:
    """Saran peningkatan kapasitas from the month's figures (Indonesian prose)."""
    advice: list[str] = []
    for fs in s.filesystems:
        days, pct = fs.days_until_full, fs.used_pct
        if days is not None and days <= FULL_HORIZON_DAYS:
            advice.append(
                f"Filesystem {fs.mountpoint} diperkirakan penuh dalam ±{num_id(days, 0)} hari "
                f"(bertambah {format_bytes(fs.growth_bytes_per_day)}/hari, terpakai "
                f"{num_id(pct or 0.0, 1)} %): tambah kapasitas atau kurangi data."
            )
        elif pct is not None and pct >= FULL_WARN_PCT:
            advice.append(
                f"Filesystem {fs.mountpoint} terpakai {num_id(pct, 1)} %: sediakan ruang cadangan."
            )
    u = s.utilisation
    if u is not None:
        for label, metric, what in (
            ("CPU", u.cpu, "tambah vCPU atau optimalkan beban"),
            ("RAM", u.ram, "tambah memori atau periksa kebocoran memori"),
        ):
            if metric is not None and metric.p95 is not None and metric.p95 > PRESSURE_PCT:
                advice.append(
                    f"{label} p95 {num_id(metric.p95, 1)} % (> {num_id(PRESSURE_PCT, 0)} %): "
                    f"beban tinggi berkelanjutan, {what}."
                )
        bw, cap = u.bandwidth, u.link_capacity_mbps
        if bw is not None and bw.p95 is not None and cap:
            share = 100.0 * bw.p95 / cap
            if share > PRESSURE_PCT:
                advice.append(
                    f"Bandwidth p95 {num_id(bw.p95, 1)} Mbps = {num_id(share, 1)} % dari "
                    f"kapasitas {num_id(cap, 0)} Mbps: pertimbangkan penambahan kapasitas "
                    "jaringan."
                )
    return advice
