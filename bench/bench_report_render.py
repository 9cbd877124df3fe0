"""Benchmark: render the monthly report (CSV and PDF) for N synthetic services (default 500).

Run: ``.venv/bin/python bench/bench_report_render.py [N]``. Each service has a 13-month
availability trend, daily CPU/RAM/bandwidth series for the month, two filesystems, 0–12
gangguan, a drill and next month's maintenance. Only rendering is measured (gathering the
data from the store is benchmarked elsewhere).

Prints wall and CPU time of the CSV and of the PDF (pages, size) — CPU time is the steadier
figure on a shared machine — and memory: the process peak RSS (``ru_maxrss``) and its growth
over the RSS before rendering. Budgets: CSV < 10 s,
PDF < 60 s, peak < 500 MB; exits 1 when one is exceeded.
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from agent.core.pedoman import Classification, Group, Impact, priority
from agent.core.periods import add_months, period_label
from exporters.csv_report import write_csv
from exporters.pdf.report import write_pdf
from exporters.report_model import (
    Availability,
    DailyPoint,
    Drill,
    Drp,
    FilesystemUsage,
    Gangguan,
    Metric,
    PlannedMaintenance,
    ReportData,
    ServiceReport,
    Signatory,
    TrendPoint,
    Utilisation,
)

BUDGET_CSV_S = 10.0
BUDGET_PDF_S = 60.0
BUDGET_PEAK_MB = 500.0
GIB = 1024**3
CAUSES = ["Server aplikasi mati", "Jaringan putus", "Database penuh", "Sertifikat TLS kedaluwarsa"]


def rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def metric(rng: random.Random, base: float, spread: float) -> Metric:
    days = [
        DailyPoint(
            date(2024, 9, d), base + rng.random() * spread, base + spread + rng.random() * 10
        )
        for d in range(1, 31)
    ]
    avg = sum(p.avg or 0.0 for p in days) / len(days)
    return Metric(avg, max(p.p95 or 0.0 for p in days), days)


def service(i: int, rng: random.Random) -> ServiceReport:
    cls = list(Classification)[i % 3]
    group = list(Group)[i % 2]
    target = {"kritis": 99.5, "esensial": 99.0, "normal": 98.0}[cls.value]
    trend = []
    year, month = 2023, 9
    for _ in range(13):
        trend.append(TrendPoint(period_label(year, month), 97.5 + rng.random() * 2.5, target))
        year, month = add_months(year, month, 1)
    gangguan = []
    for g in range(rng.randrange(13)):
        start = datetime(2024, 9, 1 + g * 2, 3, 0, tzinfo=UTC)
        impact = Impact.MAJOR if g % 3 else Impact.MINOR
        duration = timedelta(minutes=rng.randrange(1, 300))
        gangguan.append(
            Gangguan(
                id=f"G-{i:04d}-{g:02d}",
                start=start,
                end=start + duration,
                duration=duration,
                impact=impact,
                priority=priority(impact, group, cls),
                cause=CAUSES[g % len(CAUSES)],
                status="resolved",
            )
        )
    return ServiceReport(
        id=f"svc-{i}",
        name=f"Layanan Elektronik Nomor {i}",
        provider=f"Dinas {i % 40}",
        technical_manager="Diskominfo",
        group=group,
        classification=cls,
        url=f"https://svc-{i}.example.go.id",
        availability=Availability(
            target_pct=target,
            realised_pct=trend[-1].pct,
            down=timedelta(minutes=rng.randrange(600)),
            degraded=timedelta(seconds=rng.randrange(3600)),
            maintenance=timedelta(hours=rng.randrange(5)),
            unknown=timedelta(minutes=rng.randrange(60)),
            coverage_pct=99.0 + rng.random(),
        ),
        trend=trend,
        utilisation=Utilisation(
            host=f"srv-{i % 50}",
            cpu=metric(rng, 20, 60),
            ram=metric(rng, 40, 40),
            bandwidth=metric(rng, 5, 50),
            link_capacity_mbps=100.0,
        ),
        filesystems=[
            FilesystemUsage("/", int(30 * GIB), 100 * GIB, 0.2 * GIB),
            FilesystemUsage("/var/lib/data", int(rng.random() * 200 * GIB), 200 * GIB, GIB),
        ],
        drp=Drp(
            rpo=timedelta(hours=24),
            max_backup_age=timedelta(hours=rng.randrange(30)),
            rpo_compliance_pct=95 + rng.random() * 5,
            rto=timedelta(hours=4),
            drills=[Drill(datetime(2024, 9, 20, tzinfo=UTC), True, timedelta(minutes=80))],
            last_drill=date(2024, 9, 20),
            document=f"DRP-{i}.pdf",
        ),
        gangguan=gangguan,
        planned_maintenance=[
            PlannedMaintenance(
                datetime(2024, 10, 14, 15, tzinfo=UTC),
                datetime(2024, 10, 14, 19, tzinfo=UTC),
                "Upgrade",
            )
        ],
        capacity_plan=["Penambahan disk pada Triwulan IV"],
    )


def make_report(n: int) -> ReportData:
    rng = random.Random(20240930)
    return ReportData(
        organization="Pemerintah Kota Magelang",
        agency="Dinas Komunikasi, Informatika dan Statistik",
        city="Magelang",
        agent_names=[f"srv-{k}" for k in range(50)],
        period=(2024, 9),
        generated_at=datetime(2024, 9, 30, 18, 0, tzinfo=UTC),
        timezone="Asia/Jakarta",
        signatory=Signatory("Budi Santoso", "Kepala Bidang", "19800101 200501 1 001"),
        services=[service(i, rng) for i in range(n)],
    )


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    report = make_report(n)
    before = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0 = time.monotonic()
        write_csv(report, out / "r.csv")
        csv_s = time.monotonic() - t0
        t0 = time.monotonic()
        write_csv(report, out / "r-excel.csv", excel=True)
        excel_s = time.monotonic() - t0
        t0, c0 = time.monotonic(), time.process_time()
        pdf = write_pdf(report, out / "r.pdf")
        pdf_s, pdf_cpu = time.monotonic() - t0, time.process_time() - c0
        pdf_bytes = pdf.read_bytes()
        pages = pdf_bytes.count(b"/Type /Page\n")  # reportlab's page objects
        size_mb = len(pdf_bytes) / 1e6
        csv_kb = (out / "r.csv").stat().st_size / 1e3
    peak = rss_mb()
    gangguan = sum(s.incident_count for s in report.services)
    print(f"services: {n}, gangguan: {gangguan}, trend months: 13, daily points: 30 × 3")
    print(f"CSV:       {csv_s:6.2f} s  ({csv_kb:.0f} kB)   budget {BUDGET_CSV_S:.0f} s")
    print(f"CSV excel: {excel_s:6.2f} s")
    print(
        f"PDF:       {pdf_s:6.2f} s wall, {pdf_cpu:.2f} s CPU ({pages} pages, {size_mb:.1f} MB, "
        f"{1000 * pdf_cpu / n:.0f} ms CPU/service)   budget {BUDGET_PDF_S:.0f} s"
    )
    print(
        f"peak RSS:  {peak:6.1f} MB (before rendering {before:.1f} MB, "
        f"+{peak - before:.1f} MB)   budget {BUDGET_PEAK_MB:.0f} MB"
    )
    over = csv_s > BUDGET_CSV_S or pdf_s > BUDGET_PDF_S or peak > BUDGET_PEAK_MB
    print("OVER BUDGET" if over else "within budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
