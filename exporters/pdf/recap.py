"""Cover page and the two evaluation chapters of Pedoman 4.3.

- *Evaluasi Pemantauan dan Pemeliharaan Layanan*: how many services met their availability
  target (overall and per classification), generated analysis of those that did not, with
  causes and follow-up, and a one-line-per-service summary.
- *Evaluasi Pemulihan Layanan*: RPO compliance, Mayor gangguan against RTO, restore drills.
"""

from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer

from exporters.advice import missed_target_causes
from exporters.pdf.style import (
    EMPTY,
    HEAD_BG,
    NOT_APPLICABLE,
    colored,
    datetime_text,
    hours_text,
    markup,
    minutes_text,
    para,
    pct,
    rich,
    yes_no,
)
from exporters.pdf.tables import Cell, grid_table, kv_table
from exporters.report_model import ReportData, ServiceReport


def cover(report: ReportData, width: float) -> list[Flowable]:
    """Organisation, title, period, when and by which agents the report was made."""
    zone = report.zone
    zone_abbr = report.generated_at.astimezone(zone).tzname() or ""
    agents = ", ".join(report.agent_names) or EMPTY
    out: list[Flowable] = [Spacer(1, 38 * mm), para(report.organization, "subtitle")]
    if report.agency:
        out.append(para(report.agency, "subtitle"))
    out += [
        Spacer(1, 22 * mm),
        para("Laporan Pemantauan dan Pemeliharaan Layanan SPBE", "title"),
        para("Formulir Pemantauan dan Pemeliharaan Layanan (Pedoman Tabel 4.8)", "cover"),
        Spacer(1, 10 * mm),
        para(f"Periode {report.period_name} ({report.period_label})", "subtitle"),
        Spacer(1, 30 * mm),
    ]
    info: list[tuple[str, Cell]] = [
        ("Periode", report.period_label),
        ("Jumlah layanan", str(len(report.services))),
        ("Agen pemantau", agents),
        ("Zona waktu", f"{report.timezone} ({zone_abbr})" if zone_abbr else report.timezone),
        ("Dibuat pada", datetime_text(report.generated_at, zone)),
    ]
    table = kv_table(info, width * 0.7, columns=1, label_share=0.35)
    table.hAlign = "CENTER"
    out += [
        table,
        Spacer(1, 12 * mm),
        para("Dihasilkan otomatis oleh pantau dari data pemantauan.", "cover"),
    ]
    return out


def _shortfall_sentence(s: ServiceReport) -> str:
    a = s.availability
    realised = pct(a.realised_pct, 3, floor=True)
    text = (
        f"<b>{markup(s.name)}</b> ({s.classification.label}) mencapai {realised} dari target "
        f"{pct(a.target_pct, 3)}: down {minutes_text(a.down)}, degradasi "
        f"{minutes_text(a.degraded)}, {s.incident_count} gangguan."
    )
    causes = missed_target_causes(s)
    if causes:
        text += " Penyebab: " + markup("; ".join(causes)) + "."
    follow = [*s.capacity_plan, *(m.reason for m in s.planned_maintenance if m.reason)]
    if follow:
        text += " Tindak lanjut: " + markup("; ".join(follow)) + "."
    return text


def monitoring_evaluation(report: ReportData, width: float) -> list[Flowable]:
    """Evaluasi Pemantauan dan Pemeliharaan Layanan."""
    total = len(report.services)
    met, missed, no_data = report.met_count, len(report.missed), report.no_data_count
    out: list[Flowable] = [
        para("Evaluasi Pemantauan dan Pemeliharaan Layanan", "h1"),
        rich(
            f"Pada periode {report.period_label} dipantau <b>{total}</b> layanan: "
            f"<b>{met}</b> memenuhi target ketersediaan, <b>{missed}</b> tidak memenuhi "
            f"target, dan <b>{no_data}</b> tanpa data pemantauan."
        ),
        Spacer(1, 4),
    ]
    rows: list[list[Cell]] = []
    for cls, recap in report.by_classification.items():
        rows.append([cls.label, str(recap.total), str(recap.met), str(recap.missed),
                     str(recap.no_data)])  # fmt: skip
    rows.append(["Jumlah", str(total), str(met), str(missed), str(no_data)])
    out.append(
        grid_table(
            ["Klasifikasi", "Jumlah layanan", "Memenuhi target", "Tidak memenuhi", "Tanpa data"],
            rows,
            [width * w for w in (0.28, 0.18, 0.18, 0.18, 0.18)],
            right=(1, 2, 3, 4),
            extra=[("BACKGROUND", (0, len(rows)), (-1, len(rows)), HEAD_BG)],
        )
    )
    out.append(para("Analisis", "h2"))
    if not report.missed:
        out.append(
            para("Semua layanan yang memiliki data memenuhi target ketersediaannya.", "small")
        )
    for s in report.missed:
        out.append(rich(f"<bullet>&bull;</bullet>{_shortfall_sentence(s)}", "bullet"))
    out.append(para("Ringkasan per layanan", "h2"))
    summary: list[list[Cell]] = []
    for i, s in enumerate(report.services, 1):
        a = s.availability
        summary.append(
            [str(i), s.name, s.classification.label, pct(a.target_pct, 3),
             pct(a.realised_pct, 3, floor=True), rich(colored(yes_no(a.met), a.met), "cell"),
             pct(a.coverage_pct, 3), str(s.incident_count)]
        )  # fmt: skip
    out.append(
        grid_table(
            ["No", "Layanan", "Klasifikasi", "Target", "Realisasi", "Tercapai", "Cakupan data",
             "Gangguan"],
            summary,
            [width * w for w in (0.05, 0.31, 0.1, 0.11, 0.11, 0.09, 0.12, 0.11)],
            right=(3, 4, 6, 7),
        )
    )  # fmt: skip
    return out


def recovery_evaluation(report: ReportData, width: float) -> list[Flowable]:
    """Evaluasi Pemulihan Layanan."""
    r = report.recovery
    out: list[Flowable] = [para("Evaluasi Pemulihan Layanan", "h1")]
    sentences = [
        f"RPO: <b>{r.rpo_met}</b> dari <b>{r.with_rpo}</b> layanan yang memiliki RPO "
        f"memenuhi RPO sepanjang periode, <b>{r.rpo_missed}</b> terlampaui, "
        f"<b>{r.rpo_no_data}</b> tanpa data backup.",
        f"RTO: dari <b>{r.mayor_with_rto}</b> gangguan Mayor pada <b>{r.with_rto}</b> layanan "
        f"yang memiliki RTO, <b>{r.over_rto}</b> pulih melebihi RTO.",
        f"Uji pemulihan: <b>{r.drills}</b> uji dilaksanakan, <b>{r.drills_passed}</b> "
        "berhasil sesuai RTO.",
    ]
    out += [rich(f"<bullet>&bull;</bullet>{s}", "bullet") for s in sentences]
    relevant = [s for s in report.services if s.drp.rpo is not None or s.drp.rto is not None]
    if not relevant:
        out.append(para("Tidak ada layanan dengan RPO/RTO pada laporan ini.", "small"))
        return out
    rows: list[list[Cell]] = []
    for s in relevant:
        d = s.drp
        passed = sum(1 for x in d.drills if d.drill_within_rto(x) is not False)
        rows.append(
            [
                s.name,
                hours_text(d.rpo) if d.rpo is not None else NOT_APPLICABLE,
                hours_text(d.max_backup_age),
                pct(d.rpo_compliance_pct, 3) if d.rpo is not None else NOT_APPLICABLE,
                hours_text(d.rto) if d.rto is not None else NOT_APPLICABLE,
                minutes_text(s.longest_recovery),
                NOT_APPLICABLE if s.over_rto is None else str(s.over_rto),
                f"{passed}/{len(d.drills)}" if d.drills else EMPTY,
            ]
        )
    out += [
        Spacer(1, 4),
        grid_table(
            ["Layanan", "RPO", "Umur backup maks", "Kepatuhan RPO", "RTO", "Pemulihan terlama",
             "Melebihi RTO", "Uji berhasil"],
            rows,
            [width * w for w in (0.24, 0.09, 0.11, 0.11, 0.09, 0.14, 0.1, 0.12)],
            right=(1, 2, 3, 4, 5, 6),
        ),
    ]  # fmt: skip
    return out
