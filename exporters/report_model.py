"""One month's *Formulir Pemantauan dan Pemeliharaan Layanan* as plain data (SPEC §8).

The report writers (:mod:`exporters.csv_report`, :mod:`exporters.pdf.report`) only read a
:class:`ReportData`; whoever gathers the month (local store or Prometheus) fills it. Values that
follow from others — whether the target was met, the fullest filesystem, the longest
recovery, gangguan over RTO, days until a disk is full, the recap — are computed here, once,
so the CSV and the PDF can never disagree. The Indonesian prose derived from them (causes of a
missed target, capacity advice) lives in :mod:`exporters.advice`.

Shape::

    ReportData                  organisation, period, zone, signatory, recap properties
     └── ServiceReport          one Formulir (Pedoman Tabel 4.8) = one CSV row
          ├── Availability      target vs realisation, down/degraded/maintenance/unknown time
          ├── TrendPoint*       availability of earlier months (chart)
          ├── Utilisation       CPU / RAM / bandwidth summaries + daily series (None: no host)
          ├── FilesystemUsage*  used/total/growth → days until full
          ├── Drp               RPO/RTO, backup age, drills, DRP document
          ├── Gangguan*         the month's incidents (Tabel 4.2 / 4.3)
          ├── PlannedMaintenance*   next period's windows from the katalog
          └── Reclassification*     audit trail of operator changes to gangguan

Sequences are typed ``Sequence`` so lists or tuples may be passed; nothing here mutates them.
Durations are ``timedelta``; event times are aware datetimes (shown in the report zone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.core.errors import ReportError
from agent.core.pedoman import Classification, Group, Impact
from agent.core.periods import period_label, period_name
from exporters.report_text import availability_shown


def days_until_full(used_bytes: float, total_bytes: float, growth_per_day: float) -> float | None:
    """Days until a filesystem is full if it keeps growing ``growth_per_day`` bytes a day.

    ``None`` when it is not growing (growth ≤ 0: it never fills at this rate) or the size is
    unknown; ``0.0`` when it is already full.
    """
    if total_bytes <= 0:
        return None
    free = total_bytes - used_bytes
    if free <= 0:
        return 0.0
    if growth_per_day <= 0:
        return None
    return free / growth_per_day


@dataclass(frozen=True)
class Signatory:
    """Who signs the form (the Penanggung Jawab)."""

    name: str
    title: str = "Penanggung Jawab Penyedia Layanan"
    nip: str = ""


@dataclass(frozen=True)
class Availability:
    """Pencapaian ketersediaan for the period (SPEC §4 formula, computed by the engine)."""

    target_pct: float
    realised_pct: float | None  # None: no observed time at all in the period
    down: timedelta = timedelta(0)
    degraded: timedelta = timedelta(0)
    maintenance: timedelta = timedelta(0)
    unknown: timedelta = timedelta(0)
    coverage_pct: float | None = None  # None: nothing could be observed (an empty cell)

    @property
    def met(self) -> bool | None:
        """Target reached, judged on the shown (floored) value; ``None`` without data."""
        if self.realised_pct is None:
            return None
        return availability_shown(self.realised_pct) >= Decimal(repr(float(self.target_pct)))


@dataclass(frozen=True)
class TrendPoint:
    """One month of the availability trend; ``pct`` is ``None`` when nothing was observed."""

    label: str  # e.g. 'Agu-2024'
    pct: float | None
    target_pct: float


@dataclass(frozen=True)
class DailyPoint:
    """One day of a utilisation series (chart data)."""

    day: date
    avg: float | None
    p95: float | None = None


@dataclass(frozen=True)
class Metric:
    """A utilisation summary for the month: mean, 95th percentile and a daily series."""

    avg: float | None
    p95: float | None
    daily: Sequence[DailyPoint] = ()


@dataclass(frozen=True)
class Utilisation:
    """Karakteristik utilisasi of the service's host; percent for CPU/RAM, Mbps for bandwidth."""

    host: str
    cpu: Metric | None = None
    ram: Metric | None = None
    bandwidth: Metric | None = None  # Mbps, receive + transmit
    link_capacity_mbps: float | None = None


@dataclass(frozen=True)
class FilesystemUsage:
    """A filesystem at the end of the period and its average daily growth over the period."""

    mountpoint: str
    used_bytes: int
    total_bytes: int
    growth_bytes_per_day: float

    @property
    def used_pct(self) -> float | None:
        return None if self.total_bytes <= 0 else 100.0 * self.used_bytes / self.total_bytes

    @property
    def days_until_full(self) -> float | None:
        return days_until_full(self.used_bytes, self.total_bytes, self.growth_bytes_per_day)


@dataclass(frozen=True)
class Drill:
    """A restore drill held in the period."""

    at: datetime
    success: bool
    recovery_time: timedelta | None = None
    data_age: timedelta | None = None
    kind: str = "manual"  # manual | otomatis
    note: str = ""


@dataclass(frozen=True)
class Drp:
    """Pemulihan layanan: RPO/RTO targets, what backups achieved, drills, the DRP document."""

    rpo: timedelta | None = None
    max_backup_age: timedelta | None = None  # worst backup age seen in the period
    rpo_compliance_pct: float | None = None  # share of the period with backup age ≤ RPO
    rto: timedelta | None = None
    drills: Sequence[Drill] = ()
    last_drill: date | None = None
    document: str = ""

    def drill_within_rto(self, drill: Drill) -> bool | None:
        """A drill passes when it succeeded and recovered within the RTO (None: no RTO)."""
        if self.rto is None or drill.recovery_time is None:
            return None if drill.success else False
        return drill.success and drill.recovery_time <= self.rto

    def drill_within_rpo(self, drill: Drill) -> bool | None:
        """The restored data was no older than the RPO (None: no RPO or age not measured)."""
        if self.rpo is None or drill.data_age is None:
            return None
        return drill.data_age <= self.rpo

    @property
    def rpo_met(self) -> bool | None:
        """The worst backup age stayed within the RPO (None: no RPO or no backup data)."""
        if self.rpo is None or self.max_backup_age is None:
            return None
        return self.max_backup_age <= self.rpo


@dataclass(frozen=True)
class Gangguan:
    """One gangguan (incident) of the month: a confirmed Mayor (down) or Minor episode."""

    id: str
    start: datetime
    end: datetime | None  # None: still open when the report was made
    duration: timedelta  # start → end (or → generated_at while open), not clipped to the month
    impact: Impact
    priority: int  # 1..6, Tabel 4.2
    cause: str = ""
    status: str = ""  # open | acknowledged | resolved (or already Indonesian text)
    reclassification: str = ""  # operator note when impact/cause was changed
    #: 'maintenance' or 'false_positive' when the operator reclassified it: then it is no
    #: outage for RTO purposes (SPEC §4: RTO is about Mayor episodes).
    reclassified_as: str = ""


@dataclass(frozen=True)
class PlannedMaintenance:
    """A maintenance window of the next period, from the katalog."""

    start: datetime
    end: datetime
    reason: str = ""


@dataclass(frozen=True)
class Reclassification:
    """Audit entry: an operator changed a gangguan (impact, cause, exclusion)."""

    at: datetime
    gangguan_id: str
    change: str  # e.g. "Mayor → Minor"
    by: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ServiceReport:
    """Everything one Formulir (and one CSV row) shows about one service."""

    id: str
    name: str
    provider: str
    group: Group
    classification: Classification
    availability: Availability
    technical_manager: str = ""
    url: str = ""
    contact: str = ""
    support_hours: str = ""
    monitored_since: datetime | None = None  # set when monitoring began inside the period
    trend: Sequence[TrendPoint] = ()
    utilisation: Utilisation | None = None  # None: the service has no monitored host
    filesystems: Sequence[FilesystemUsage] = ()
    drp: Drp = field(default_factory=Drp)
    gangguan: Sequence[Gangguan] = ()
    causes: Sequence[str] = ()  # causes of missing the target, as written by the operator
    planned_maintenance: Sequence[PlannedMaintenance] = ()
    capacity_plan: Sequence[str] = ()  # rencana peningkatan kapasitas from the katalog
    reclassifications: Sequence[Reclassification] = ()

    @property
    def incident_count(self) -> int:
        return len(self.gangguan)

    @property
    def storage_pct(self) -> float | None:
        """Utilisation of the fullest filesystem (the one that limits the service)."""
        pcts = [p for p in (fs.used_pct for fs in self.filesystems) if p is not None]
        return max(pcts) if pcts else None

    @property
    def mayor(self) -> list[Gangguan]:
        """Mayor gangguan that count as outages (reclassified ones do not)."""
        return [g for g in self.gangguan if g.impact is Impact.MAJOR and not g.reclassified_as]

    @property
    def longest_recovery(self) -> timedelta:
        """Longest Mayor gangguan of the month (zero when there was none)."""
        return max((g.duration for g in self.mayor), default=timedelta(0))

    @property
    def over_rto(self) -> int | None:
        """Mayor gangguan that lasted longer than the RTO (None: no RTO configured)."""
        rto = self.drp.rto
        return None if rto is None else sum(1 for g in self.mayor if g.duration > rto)


@dataclass(frozen=True)
class ClassRecap:
    """How many services of one classification met their availability target."""

    total: int = 0
    met: int = 0
    missed: int = 0
    no_data: int = 0


@dataclass(frozen=True)
class RecoveryRecap:
    """Evaluasi Pemulihan Layanan in numbers."""

    with_rpo: int
    rpo_met: int
    rpo_missed: int
    rpo_no_data: int
    with_rto: int
    mayor_with_rto: int  # Mayor gangguan of services that have an RTO
    over_rto: int
    drills: int
    drills_passed: int  # succeeded, and within the RTO where the service has one


@dataclass(frozen=True)
class ReportData:
    """One month's report for a set of services (one agent, or a fleet from Prometheus)."""

    organization: str
    period: tuple[int, int]  # (year, month) in the report zone
    generated_at: datetime  # aware
    timezone: str  # IANA name, e.g. Asia/Jakarta
    services: Sequence[ServiceReport]
    agency: str = ""
    city: str = ""
    agent_names: Sequence[str] = ()
    signatory: Signatory = field(default_factory=lambda: Signatory(name=""))

    def __post_init__(self) -> None:
        year, month = self.period
        period_label(year, month)  # validates the month
        if self.generated_at.utcoffset() is None:
            raise ReportError("ReportData.generated_at must be timezone-aware")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ReportError(f"unknown report time zone {self.timezone!r}") from None
        ids = [s.id for s in self.services]
        if len(set(ids)) != len(ids):
            raise ReportError("ReportData.services lists a service id more than once")

    @property
    def period_label(self) -> str:
        return period_label(*self.period)

    @property
    def period_name(self) -> str:
        """``'September 2024'``."""
        return period_name(*self.period)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def met_count(self) -> int:
        return sum(1 for s in self.services if s.availability.met is True)

    @property
    def missed(self) -> list[ServiceReport]:
        """Services that did not reach their target, worst shortfall first."""
        out = [s for s in self.services if s.availability.met is False]
        return sorted(
            out, key=lambda s: (s.availability.realised_pct or 0.0) - s.availability.target_pct
        )

    @property
    def no_data_count(self) -> int:
        return sum(1 for s in self.services if s.availability.met is None)

    @property
    def by_classification(self) -> dict[Classification, ClassRecap]:
        """Recap per classification, kritis → normal, every classification present."""
        out: dict[Classification, ClassRecap] = {}
        for cls in Classification:
            group = [s.availability.met for s in self.services if s.classification is cls]
            out[cls] = ClassRecap(
                total=len(group),
                met=group.count(True),
                missed=group.count(False),
                no_data=group.count(None),
            )
        return out

    @property
    def recovery(self) -> RecoveryRecap:
        with_rpo = [s.drp for s in self.services if s.drp.rpo is not None]
        with_rto = [s for s in self.services if s.drp.rto is not None]
        drills = [(s.drp, d) for s in self.services for d in s.drp.drills]
        return RecoveryRecap(
            with_rpo=len(with_rpo),
            rpo_met=sum(1 for d in with_rpo if d.rpo_met is True),
            rpo_missed=sum(1 for d in with_rpo if d.rpo_met is False),
            rpo_no_data=sum(1 for d in with_rpo if d.rpo_met is None),
            with_rto=len(with_rto),
            mayor_with_rto=sum(len(s.mayor) for s in with_rto),
            over_rto=sum(s.over_rto or 0 for s in with_rto),
            drills=len(drills),
            drills_passed=sum(1 for drp, d in drills if drp.drill_within_rto(d) is not False),
        )
