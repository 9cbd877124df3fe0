"""Records the store returns, and how domain objects are encoded in SQLite columns.

Time is stored as **integer milliseconds since the Unix epoch, UTC** in every table: compact,
sorts and compares as numbers, and cannot carry a wrong zone. The API takes and returns aware
datetimes only; :func:`to_ms` refuses naive ones so a local-time bug cannot slip in silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.core.model import CheckOutcome, Outcome, Round

#: ``backups.status`` of a successful backup (anything else is a failure, e.g. ``failed``).
BACKUP_OK = "ok"
#: where a backup record came from.
BACKUP_ORIGINS = ("push", "mark", "observed")
DRILL_KINDS = ("automated", "manual")


def to_ms(at: datetime) -> int:
    """Aware datetime → integer epoch milliseconds (UTC)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()} given to the store; use aware UTC")
    # timedelta arithmetic is exact; float timestamp() could round 1 ms off.
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    """Integer epoch milliseconds → aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=ms)


def opt_ms(at: datetime | None) -> int | None:
    """:func:`to_ms` that passes ``None`` through."""
    return None if at is None else to_ms(at)


def opt_dt(ms: int | None) -> datetime | None:
    """:func:`from_ms` that passes ``None`` through."""
    return None if ms is None else from_ms(ms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dumps(value: Any) -> str:
    """Compact, stable JSON for blob columns."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def encode_checks(checks: tuple[CheckOutcome, ...]) -> str:
    """A round's checks as a JSON list; empty/default fields are left out to save space."""
    out: list[dict[str, Any]] = []
    for c in checks:
        item: dict[str, Any] = {"c": c.check, "t": c.type, "o": c.outcome.value, "l": c.latency}
        if c.reason:
            item["r"] = c.reason
        if c.status_code is not None:
            item["s"] = c.status_code
        if c.tls_expiry is not None:
            item["x"] = to_ms(c.tls_expiry)
        if c.detail:
            item["d"] = c.detail
        out.append(item)
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def decode_checks(text: str) -> tuple[CheckOutcome, ...]:
    """Inverse of :func:`encode_checks`."""
    return tuple(
        CheckOutcome(
            check=i["c"],
            type=i["t"],
            outcome=Outcome(i["o"]),
            reason=i.get("r", ""),
            latency=float(i["l"]),
            status_code=i.get("s"),
            tls_expiry=opt_dt(i.get("x")),
            detail=i.get("d", ""),
        )
        for i in json.loads(text)
    )


def round_row(r: Round) -> tuple[str, int, str, str, int, str]:
    """Column values of one ``rounds`` row."""
    return (
        r.service,
        to_ms(r.started_at),
        r.outcome.value,
        json.dumps(list(r.reasons), separators=(",", ":")),
        int(r.agent_isolated),
        encode_checks(r.checks),
    )


def row_round(row: tuple[Any, ...]) -> Round:
    """Inverse of :func:`round_row`."""
    service, started, outcome, reasons, isolated, checks = row
    return Round(
        service=service,
        started_at=from_ms(started),
        outcome=Outcome(outcome),
        reasons=tuple(json.loads(reasons)),
        checks=decode_checks(checks),
        agent_isolated=bool(isolated),
    )


@dataclass(frozen=True)
class HostBucket:
    """One 5-minute aggregate of one host metric (``key`` like ``cpu``, ``fs:/var``, ``rx:eth0``)."""

    key: str
    start: datetime
    count: int
    sum: float
    min: float
    max: float
    last: float

    @property
    def avg(self) -> float:
        """Mean of the samples in this bucket."""
        return self.sum / self.count


@dataclass(frozen=True)
class HostSummary:
    """A metric over a period: mean of all samples, p95 of the 5-minute means, maximum."""

    avg: float
    p95: float
    max: float
    buckets: int
    samples: int


@dataclass(frozen=True)
class HostReading:
    """The newest sample of one host metric: what ``/metrics`` showed when it was taken."""

    key: str
    value: float
    at: datetime


@dataclass(frozen=True)
class FsUsage:
    """Used and total bytes of one filesystem at one moment."""

    used_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class FsPoint:
    """The latest filesystem usage seen in one 5-minute bucket (for capacity growth)."""

    mountpoint: str
    start: datetime
    used_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class IncidentRecord:
    """A stored gangguan: indexed columns plus the engine's full JSON blob."""

    id: str
    service: str
    start: datetime
    end: datetime | None
    impact: str
    status: str
    blob: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One line of an incident's audit trail (ack, note, cause, state changes)."""

    incident_id: str
    at: datetime
    action: str
    text: str


@dataclass(frozen=True)
class BackupRecord:
    """A finished backup as pushed, marked or observed in a backup source."""

    service: str
    source: str
    finished_at: datetime
    status: str  # BACKUP_OK or a failure word
    origin: str  # one of BACKUP_ORIGINS
    size_bytes: int | None = None
    recorded_at: datetime | None = None  # set by the store when None

    @property
    def ok(self) -> bool:
        """Whether this backup succeeded."""
        return self.status == BACKUP_OK


@dataclass(frozen=True)
class BackupState:
    """What the last look at one backup source found."""

    service: str
    source: str
    last_success_at: datetime | None
    last_error: str
    checked_at: datetime


@dataclass(frozen=True)
class DrillRecord:
    """A restore drill: recovery time is ``restored_at - started_at``; data age uses ``data_as_of``."""

    service: str
    started_at: datetime
    restored_at: datetime | None
    data_as_of: datetime | None
    kind: str  # one of DRILL_KINDS
    ok: bool
    detail: dict[str, Any]
    id: int | None = None  # assigned by the store


@dataclass(frozen=True)
class ReportRecord:
    """A monthly report that has been generated (never generated twice)."""

    period: str  # YYYY-MM
    generated_at: datetime
    files: list[str]


@dataclass(frozen=True)
class RetentionResult:
    """What one :meth:`~agent.store.database.Store.apply_retention` run removed."""

    rounds_deleted: int
    long_deleted: int
    pages_freed: int
