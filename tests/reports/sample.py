"""Synthetic, hand-chosen report data shared by the report tests.

Period Sep-2024 in Asia/Jakarta (WIB = UTC+7), made 2024-10-01 01:00 WIB.

- ``sipd``   kritis / administrasi, target 99.5, realised 99.95 → met; host with CPU p95 86.4
             (> 80 → pressure advice); two filesystems, one full in 20 days; RPO 24 h missed
             (max backup age 26.5 h), RTO 4 h, one drill; 2 gangguan; a reclassification.
- ``aduan``  esensial / publik, target 99.0, realised 98.7654 → shown 98.765, missed; no host,
             no RPO/RTO; ``gangguan_count`` gangguan alternating two causes; name with a comma
             and quotes (CSV quoting).
- ``portal`` normal / publik, target 98.0, no data at all; RPO 12 h with no backup data,
             RTO 8 h; an operator cause with a newline and a leading ``=`` (CSV injection).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from agent.core.pedoman import Classification, Group, Impact
from agent.core.periods import add_months, period_label
from exporters.report_model import (
    Availability,
    DailyPoint,
    Drill,
    Drp,
    FilesystemUsage,
    Gangguan,
    Metric,
    PlannedMaintenance,
    Reclassification,
    ReportData,
    ServiceReport,
    Signatory,
    TrendPoint,
    Utilisation,
)

WIB = ZoneInfo("Asia/Jakarta")
GIB = 1024**3


def wib(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware time given in WIB, stored as UTC (as the store would)."""
    return datetime(year, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


def trend(target: float, values: list[float | None]) -> list[TrendPoint]:
    """Monthly points ending at Sep-2024."""
    points = []
    year, month = 2024, 9
    labels = []
    for _ in values:
        labels.append(period_label(year, month))
        year, month = add_months(year, month, -1)
    for label, value in zip(reversed(labels), values, strict=True):
        points.append(TrendPoint(label, value, target))
    return points


def daily(avg_base: float, p95_base: float, days: int = 30) -> list[DailyPoint]:
    return [
        DailyPoint(date(2024, 9, d), avg_base + (d % 7), p95_base + (d % 5))
        for d in range(1, days + 1)
    ]


def sipd() -> ServiceReport:
    return ServiceReport(
        id="sipd",
        name="Sistem Informasi Pemerintahan Daerah",
        provider="Bappeda",
        technical_manager="Diskominfo",
        group=Group.ADMINISTRASI_PEMERINTAHAN,
        classification=Classification.KRITIS,
        url="https://sipd.example.go.id",
        contact="helpdesk@example.go.id",
        support_hours="Senin-Jumat 07:30-16:00",
        availability=Availability(
            target_pct=99.5,
            realised_pct=99.95,
            down=timedelta(minutes=21, seconds=36),  # 21.60 min
            degraded=timedelta(seconds=15),  # 0.25 min
            maintenance=timedelta(hours=4),  # 240.00 min
            unknown=timedelta(minutes=12, seconds=30),  # 12.50 min
            coverage_pct=99.971,
        ),
        trend=trend(
            99.5,
            [99.9, 99.8, None, 99.7, 99.2, 99.95, 100.0, 99.6, 99.55, 98.9, 99.99, 99.7, 99.95],
        ),
        utilisation=Utilisation(
            host="srv-app-01",
            cpu=Metric(35.25, 86.4, daily(30.0, 80.0)),
            ram=Metric(60.125, 72.0, daily(55.0, 68.0)),
            bandwidth=Metric(12.34, 40.06, daily(10.0, 35.0)),
            link_capacity_mbps=100.0,
        ),
        filesystems=[
            # 60 GiB free / 0.5 GiB a day = 120 days: beyond the 90-day horizon, no advice.
            FilesystemUsage("/", 40 * GIB, 100 * GIB, 0.5 * GIB),
            # 20 GiB free / 1 GiB a day = 20 days → advice; 180/200 = 90 % = storage_pct.
            FilesystemUsage("/var/lib/postgresql", 180 * GIB, 200 * GIB, 1.0 * GIB),
        ],
        drp=Drp(
            rpo=timedelta(hours=24),
            max_backup_age=timedelta(hours=26, minutes=30),  # 26.50 h > 24 h: RPO missed
            rpo_compliance_pct=97.5,
            rto=timedelta(hours=4),
            drills=[
                Drill(
                    at=wib(2024, 9, 20, 9, 0),
                    success=True,
                    recovery_time=timedelta(minutes=95),  # within the 4 h RTO
                    data_age=timedelta(hours=6),
                    kind="otomatis",
                    note="restic snapshot terbaru",
                )
            ],
            last_drill=date(2024, 9, 20),
            document="DRP-SIPD-2024.pdf",
        ),
        gangguan=[
            Gangguan(
                id="G-0001",
                start=wib(2024, 9, 3, 9, 0),
                end=wib(2024, 9, 3, 9, 21),
                duration=timedelta(minutes=21, seconds=36),
                impact=Impact.MAJOR,
                priority=2,
                cause="Database penuh",
                status="resolved",
            ),
            Gangguan(
                id="G-0002",
                start=wib(2024, 9, 10, 14, 0),
                end=wib(2024, 9, 10, 14, 0),
                duration=timedelta(seconds=15),
                impact=Impact.MINOR,
                priority=4,
                cause="Respons lambat",
                status="acknowledged",
                reclassification="Mayor → Minor: hanya fitur unggah yang gagal",
            ),
        ],
        planned_maintenance=[
            PlannedMaintenance(wib(2024, 10, 14, 22, 0), wib(2024, 10, 15, 2, 0), "Upgrade RAM")
        ],
        capacity_plan=["Penambahan disk 500 GB pada Triwulan IV"],
        reclassifications=[
            Reclassification(
                at=wib(2024, 9, 11, 8, 15),
                gangguan_id="G-0002",
                change="Mayor → Minor",
                by="admin",
                reason="Hanya fitur unggah yang gagal",
            )
        ],
    )


def aduan(gangguan_count: int = 4) -> ServiceReport:
    items = []
    for i in range(gangguan_count):
        start = wib(2024, 9, 1 + i % 28, 8 + i % 10, 0)
        mayor = i % 2 == 0
        items.append(
            Gangguan(
                id=f"A-{i + 1:04d}",
                start=start,
                end=start + timedelta(minutes=10 if mayor else 5),
                duration=timedelta(minutes=10 if mayor else 5),
                impact=Impact.MAJOR if mayor else Impact.MINOR,
                priority=3 if mayor else 4,
                cause="Server aplikasi mati" if mayor else 'Jaringan putus, "ISP"',
                status="resolved",
            )
        )
    return ServiceReport(
        id="aduan",
        name='Layanan "Aduan", Kota Magelang',
        provider="Dinas Kependudukan dan Pencatatan Sipil",
        group=Group.LAYANAN_PUBLIK,
        classification=Classification.ESENSIAL,
        availability=Availability(
            target_pct=99.0,
            realised_pct=98.7654,
            down=timedelta(minutes=533, seconds=15),  # 533.25 min
            degraded=timedelta(minutes=90),
            coverage_pct=100.0,
        ),
        trend=trend(99.0, [99.1, 98.2, 98.7654]),
        gangguan=items,
    )


def portal() -> ServiceReport:
    return ServiceReport(
        id="portal",
        name="Portal Kota",
        provider="Diskominfo",
        group=Group.LAYANAN_PUBLIK,
        classification=Classification.NORMAL,
        availability=Availability(
            target_pct=98.0,
            realised_pct=None,
            unknown=timedelta(days=30),  # 43200.00 min
            coverage_pct=0.0,
        ),
        drp=Drp(rpo=timedelta(hours=12), rto=timedelta(hours=8)),
        causes=["=Agen berhenti\nsejak 1 Sep", "Host dimatikan"],
    )


def sample_report(gangguan_count: int = 4) -> ReportData:
    return ReportData(
        organization="Pemerintah Kota Magelang",
        agency="Dinas Komunikasi, Informatika dan Statistik",
        city="Magelang",
        agent_names=["srv-app-01", "srv-db-01"],
        period=(2024, 9),
        generated_at=wib(2024, 10, 1, 1, 0),
        timezone="Asia/Jakarta",
        signatory=Signatory(
            name="Budi Santoso, S.Kom.",
            title="Kepala Bidang Persandian",
            nip="19800101 200501 1 001",
        ),
        services=[sipd(), aduan(gangguan_count), portal()],
    )
