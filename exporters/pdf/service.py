"""One *Formulir Pemantauan dan Pemeliharaan Layanan* (Pedoman Tabel 4.8) as flowables.

Sections, in the Pedoman's order: identitas (Nama Layanan, Periode, …), Karakteristik
Utilisasi, Pencapaian Ketersediaan, Daftar Gangguan, Pemulihan Layanan, Peluang Peningkatan,
and the signature block of the Penanggung Jawab.
"""

from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Spacer, Table, TableStyle

from agent.core.durations import format_duration_words
from agent.core.periods import add_months, period_label
from exporters.advice import capacity_advice, missed_target_causes
from exporters.pdf.charts import TrendChart
from exporters.pdf.style import (
    EMPTY,
    FONT,
    NOT_APPLICABLE,
    date_long,
    date_short,
    datetime_lines,
    datetime_text,
    hours_text,
    markup,
    minutes_text,
    para,
    pct,
    rich,
    yes_no,
)
from exporters.pdf.tables import (
    Cell,
    bullets,
    colored_cell,
    grid_table,
    kv_table,
    section_title,
    side_by_side,
)
from exporters.pdf.utilisation import utilisation
from exporters.report_model import ReportData, ServiceReport

#: Incident status words (engine vocabulary) shown in Indonesian.
STATUS_LABEL = {
    "open": "Terbuka",
    "acknowledged": "Ditanggapi",
    "ack": "Ditanggapi",
    "resolved": "Selesai",
    "closed": "Ditutup",
}


def identity(report: ReportData, s: ServiceReport, width: float) -> list[Flowable]:
    """Nama Layanan, Periode and the katalog entry of the service."""
    zone = report.zone
    since = datetime_text(s.monitored_since, zone) if s.monitored_since else "awal periode"
    pairs: list[tuple[str, Cell]] = [
        ("Nama Layanan", s.name),
        ("Periode", report.period_label),
        ("ID Layanan", s.id),
        ("Penyedia Layanan", s.provider or EMPTY),
        ("Pengelola Teknis", s.technical_manager or EMPTY),
        ("Kelompok", f"{s.group.code} {s.group.label}"),
        ("Klasifikasi", s.classification.label),
        ("Cara Akses", s.url or EMPTY),
        ("Kontak", s.contact or EMPTY),
        ("Jam Layanan Dukungan", s.support_hours or EMPTY),
        ("Dipantau sejak", since),
        ("Host", s.utilisation.host if s.utilisation else NOT_APPLICABLE),
    ]
    return [kv_table(pairs, width)]


def availability(report: ReportData, s: ServiceReport, width: float) -> list[Flowable]:
    """Pencapaian Ketersediaan: realisation vs target, trend chart, causes."""
    a = s.availability
    met = a.met
    status = {True: "Tercapai", False: "Tidak tercapai", None: "Tanpa data"}[met]
    realised = pct(a.realised_pct, 3, floor=True)
    left_w = width * 0.5
    pairs: list[tuple[str, Cell]] = [
        ("Target ketersediaan", pct(a.target_pct, 3)),
        ("Realisasi ketersediaan", colored_cell(realised, met)),
        ("Status target", colored_cell(status, met)),
        ("Waktu down (Mayor)", minutes_text(a.down)),
        ("Waktu degradasi (Minor)", minutes_text(a.degraded)),
        ("Pemeliharaan terencana", minutes_text(a.maintenance)),
        ("Tanpa data", minutes_text(a.unknown)),
        ("Cakupan data", pct(a.coverage_pct, 3)),
        ("Jumlah gangguan", str(s.incident_count)),
    ]
    kv = kv_table(pairs, left_w - 4, columns=1, label_share=0.5)
    chart = TrendChart(list(s.trend), width - left_w, 52 * mm)
    out: list[Flowable] = [section_title("Pencapaian Ketersediaan"), side_by_side(kv, chart, width)]
    notes: list[str] = []
    if s.monitored_since is not None:
        notes.append(
            f"Layanan dipantau sejak {datetime_text(s.monitored_since, report.zone)}: "
            "periode dihitung mulai saat itu."
        )
    notes.append(
        "Realisasi = (normal + degradasi) / (normal + degradasi + down); pemeliharaan dan "
        "waktu tanpa data tidak dihitung. Cakupan data = waktu teramati / (periode − "
        "pemeliharaan)."
    )
    out += [Spacer(1, 3), *(para(n, "small") for n in notes)]
    causes = missed_target_causes(s)
    if met is False or causes:
        title = "Penyebab tidak tercapainya target" if met is False else "Catatan penyebab"
        out.append(Spacer(1, 3))
        out.append(rich(f"<b>{title}:</b>", "small"))
        out += bullets(causes, "Penyebab belum dicatat.")
    return out


def gangguan(report: ReportData, s: ServiceReport, width: float) -> list[Flowable]:
    """Daftar Gangguan (header repeats on every page) and the reclassification audit."""
    out: list[Flowable] = [section_title(f"Daftar Gangguan ({s.incident_count})")]
    if not s.gangguan:
        out.append(para("Tidak ada gangguan pada periode ini.", "small"))
    else:
        zone = report.zone
        tz = report.generated_at.astimezone(zone).tzname() or report.timezone
        rows: list[list[Cell]] = []
        for i, g in enumerate(s.gangguan, 1):
            cause = markup(g.cause or EMPTY)
            if g.reclassification:
                cause += f"<br/><i>Reklasifikasi: {markup(g.reclassification)}</i>"
            rows.append(
                [
                    str(i),
                    g.id,
                    datetime_lines(g.start, zone, with_zone=False),
                    datetime_lines(g.end, zone, with_zone=False) if g.end else "berlangsung",
                    format_duration_words(g.duration),
                    g.impact.label,
                    f"P{g.priority}",
                    rich(cause, "cell"),
                    STATUS_LABEL.get(g.status.lower(), g.status or EMPTY),
                ]
            )
        out.append(
            grid_table(
                ["No", "ID", f"Mulai ({tz})", f"Selesai ({tz})", "Durasi", "Dampak",
                 "Prioritas", "Penyebab", "Status"],
                rows,
                [width * w for w in (0.035, 0.10, 0.12, 0.12, 0.10, 0.085, 0.09, 0.245, 0.105)],
            )
        )  # fmt: skip
    if s.reclassifications:
        zone = report.zone
        audit = grid_table(
            ["Waktu", "Gangguan", "Perubahan", "Oleh", "Alasan"],
            [
                [datetime_lines(r.at, zone), r.gangguan_id, r.change, r.by or EMPTY,
                 r.reason or EMPTY]
                for r in s.reclassifications
            ],
            [width * w for w in (0.18, 0.14, 0.2, 0.14, 0.34)],
        )  # fmt: skip
        title = rich("<b>Riwayat reklasifikasi gangguan</b>", "small")
        out += [Spacer(1, 8), KeepTogether([title, Spacer(1, 2), audit])]
    return out


def recovery(report: ReportData, s: ServiceReport, width: float) -> list[Flowable]:
    """Pemulihan Layanan: RPO, RTO, drills, DRP document."""
    d = s.drp
    rpo_status = (
        NOT_APPLICABLE
        if d.rpo is None
        else {True: "Terpenuhi", False: "Terlampaui", None: "tanpa data backup"}[d.rpo_met]
    )
    over = s.over_rto
    longest = s.longest_recovery
    pairs: list[tuple[str, Cell]] = [
        ("RPO", hours_text(d.rpo) if d.rpo is not None else NOT_APPLICABLE),
        ("RTO", hours_text(d.rto) if d.rto is not None else NOT_APPLICABLE),
        ("Umur backup maksimum", hours_text(d.max_backup_age)),
        ("Pemulihan terlama", f"{minutes_text(longest)} ({format_duration_words(longest)})"),
        ("Kepatuhan RPO", pct(d.rpo_compliance_pct, 3) if d.rpo is not None else NOT_APPLICABLE),
        ("Gangguan melebihi RTO", NOT_APPLICABLE if over is None else str(over)),
        ("Status RPO", colored_cell(rpo_status, d.rpo_met) if d.rpo else rpo_status),
        ("Uji pemulihan terakhir", date_short(d.last_drill) if d.last_drill else EMPTY),
        ("Dokumen DRP", d.document or EMPTY),
        ("Uji pemulihan bulan ini", str(len(d.drills))),
    ]
    out: list[Flowable] = [section_title("Pemulihan Layanan"), kv_table(pairs, width)]
    if d.drills:
        rows: list[list[Cell]] = []
        for drill in d.drills:
            within = d.drill_within_rto(drill)
            rows.append(
                [
                    datetime_lines(drill.at, report.zone),
                    drill.kind,
                    colored_cell("Berhasil" if drill.success else "Gagal", drill.success),
                    format_duration_words(drill.recovery_time) if drill.recovery_time else EMPTY,
                    hours_text(drill.data_age),
                    yes_no(within),
                    yes_no(d.drill_within_rpo(drill)),
                    drill.note or EMPTY,
                ]
            )
        out += [
            Spacer(1, 4),
            grid_table(
                ["Waktu uji", "Jenis", "Hasil", "Waktu pemulihan", "Umur data", "Sesuai RTO",
                 "Sesuai RPO", "Catatan"],
                rows,
                [width * w for w in (0.15, 0.1, 0.09, 0.14, 0.1, 0.09, 0.09, 0.24)],
            ),
        ]  # fmt: skip
    return out


def improvement(report: ReportData, s: ServiceReport, width: float) -> list[Flowable]:
    """Peluang Peningkatan: next period's maintenance, capacity plan and advice."""
    del width
    zone = report.zone
    nxt = period_label(*add_months(*report.period, 1))
    windows = [
        f"{datetime_text(m.start, zone, with_zone=False)} – {datetime_text(m.end, zone)}"
        + (f": {m.reason}" if m.reason else "")
        for m in s.planned_maintenance
    ]
    out: list[Flowable] = [section_title("Peluang Peningkatan")]
    out.append(rich(f"<b>Rencana pemeliharaan periode berikutnya ({nxt}):</b>", "small"))
    out += bullets(windows, "Tidak ada pemeliharaan terencana.")
    out.append(rich("<b>Rencana peningkatan kapasitas:</b>", "small"))
    out += bullets(list(s.capacity_plan), "Belum ada rencana peningkatan kapasitas.")
    out.append(rich("<b>Saran kapasitas (dihitung dari data bulan ini):</b>", "small"))
    out += bullets(
        capacity_advice(s),
        "Tidak ada: utilisasi dan pertumbuhan penyimpanan masih dalam batas wajar.",
    )
    return out


def signature(report: ReportData, width: float) -> list[Flowable]:
    """Tempat, tanggal, jabatan, nama and NIP of the Penanggung Jawab, bottom right."""
    sig = report.signatory
    signed_on = date_long(report.generated_at.astimezone(report.zone).date())
    place = f"{report.city}, {signed_on}" if report.city else signed_on
    name = sig.name or "(.................................................)"
    nip = f"NIP. {sig.nip}" if sig.nip else "NIP. ...................................."
    block = [
        para(place, "sign"),
        para(sig.title, "sign"),
        Spacer(1, 14 * mm),
        rich(f"<u><b>{markup(name)}</b></u>", "sign"),
        para(nip, "sign"),
    ]
    inner = Table([[b] for b in block], colWidths=[width * 0.45])
    inner.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT)]))
    outer = Table([["", inner]], colWidths=[width * 0.55, width * 0.45], hAlign="LEFT")
    outer.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT)]))
    return [Spacer(1, 5 * mm), outer]


def service_form(report: ReportData, s: ServiceReport, width: float) -> list[Flowable]:
    """The whole Formulir for one service (starts on a fresh page: the caller breaks)."""
    return [
        para("Formulir Pemantauan dan Pemeliharaan Layanan", "h1"),
        para(f"{s.name} — Periode {report.period_label} ({report.period_name})", "small"),
        Spacer(1, 4),
        *identity(report, s, width),
        *utilisation(report, s, width),
        *availability(report, s, width),
        *gangguan(report, s, width),
        *recovery(report, s, width),
        # A signature alone on a page would sign nothing: keep it with the last section.
        KeepTogether([*improvement(report, s, width), *signature(report, width)]),
    ]
