"""Status of services computed from the store (``pantau status`` and ``/api/v1/status``).

One document serves both: the command renders its table from this document and nothing else,
so ``--json`` and the table carry the same fields. Times are aware UTC, ISO 8601; the table
converts them to the agent's zone at the edge. Per service: the confirmed state, the month to
date, the backup age against the RPO, the last restore drill against the RTO and the drill
age, and each ongoing gangguan with its priority and response target. Per host: the newest
utilisation sample — the figures ``/metrics`` showed when it was taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agent.config.katalog import ServiceSettings, all_settings, source_name
from agent.config.models import Config, Host, WorkingHours
from agent.core.model import State
from agent.core.periods import month_bounds, period_label, period_of
from agent.engine.availability import (
    PeriodAvailability,
    compute_availability,
    in_maintenance,
    intervals_from_transitions,
    maintenance_windows,
)
from agent.engine.incidents import (
    Gangguan,
    duration,
    overrides_from_tickets,
    response_deadline,
    response_met,
)
from agent.engine.rpo import drill_status, rpo_status
from agent.store.database import Store
from agent.store.records import BackupState, DrillRecord, HostReading

#: A host sample older than this many sampling intervals is shown as stale.
HOST_STALE_INTERVALS = 3


def month_to_date(
    store: Store, settings: ServiceSettings, zone: ZoneInfo, now: datetime
) -> PeriodAvailability:
    """Availability of the current calendar month (in ``zone``) up to ``now``."""
    year, month = period_of(now, zone)
    start, end = month_bounds(year, month, zone)
    transitions = store.transitions(settings.id, start, end)
    tickets = [
        Gangguan.from_json(r.blob) for r in store.incidents.overlapping(settings.id, start, end)
    ]
    intervals = intervals_from_transitions(
        transitions,
        last_round_at=store.last_round_at(settings.id),
        stale_after=settings.stale_after,
        now=now,
    )
    return compute_availability(
        intervals,
        maintenance_windows(settings),
        overrides_from_tickets(tickets, now),
        start,
        end,
        now,
        store.first_round_at(settings.id),
        settings.availability_target,
    )


def current_state(
    store: Store, settings: ServiceSettings, now: datetime
) -> tuple[State, datetime | None]:
    """The confirmed state now and since when (``unknown`` after ``stale_after``)."""
    if in_maintenance(settings, now):
        last = store.last_transition(settings.id)
        return State.MAINTENANCE, last.at if last else None
    last_round = store.last_round_at(settings.id)
    last = store.last_transition(settings.id)
    if last is None or last_round is None:
        return State.UNKNOWN, None
    if now - last_round > settings.stale_after:
        return State.UNKNOWN, last_round + settings.stale_after
    return last.state, last.at


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat()


def _hours(td: timedelta | None) -> float | None:
    return None if td is None else round(td.total_seconds() / 3600, 2)


def _minutes(td: timedelta | None) -> float | None:
    return None if td is None else round(td.total_seconds() / 60, 2)


def service_status(
    store: Store,
    settings: ServiceSettings,
    config: Config,
    now: datetime,
    open_tickets: Sequence[Gangguan],
    backup_states: Sequence[BackupState],
) -> dict[str, Any]:
    """One service's status document."""
    svc = settings.service
    zone = ZoneInfo(config.agent.timezone)
    state, since = current_state(store, settings, now)
    mtd = month_to_date(store, settings, zone, now)
    wh = config.agent.working_hours
    return {
        "id": svc.id,
        "name": svc.name,
        "classification": svc.classification.value,
        "group": svc.group.value,
        "state": state.value,
        "since": _iso(since),
        "last_round_at": _iso(store.last_round_at(svc.id)),
        "month_to_date": {
            "period": period_label(*period_of(now, zone)),
            "availability_pct": _pct(mtd.availability_pct),
            "target_pct": settings.availability_target,
            "met": mtd.target_met,
            "down_minutes": round(mtd.down_seconds / 60, 2),
            "degraded_minutes": round(mtd.degraded_seconds / 60, 2),
            "maintenance_minutes": round(mtd.maintenance_seconds / 60, 2),
            "unknown_minutes": round(mtd.unknown_seconds / 60, 2),
            "coverage_pct": _pct(mtd.coverage_pct),
            "monitored_since": _iso(mtd.monitored_since),
        },
        "open_incidents": [
            _ticket_status(g, wh, zone, now) for g in open_tickets if g.service == svc.id
        ],
        "backup": _backup_status(store, settings, backup_states, now),
        "drp": _drp_status(store, settings, config, now) if svc.drp else None,
        "rpo_hours": _hours(svc.rpo),
        "rto_hours": _hours(svc.rto),
    }


def _ticket_status(g: Gangguan, wh: WorkingHours, zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    """An ongoing gangguan: how long it has been open and where it stands against its Tabel 4.3
    response target (counted in working hours, as the gangguan CSV judges it)."""
    met = response_met(g, wh, zone, now)
    return {
        "id": g.id,
        "start": _iso(g.start),
        "impact": g.impact.value,
        "status": g.status.value,
        "priority": g.priority,
        "open_minutes": _minutes(duration(g, now)),
        "response_target_minutes": _minutes(g.response_target),
        "response_deadline": _iso(response_deadline(g, wh, zone)),
        "acked_at": _iso(g.ack_at),
        # met / missed once decided; pending while unacked before the deadline
        "response": "pending" if met is None else "met" if met else "missed",
    }


def _backup_status(
    store: Store, settings: ServiceSettings, states: Sequence[BackupState], now: datetime
) -> dict[str, Any] | None:
    """Backup age = now − the newest good backup of the configured sources, against the RPO.

    Per source the agent's persisted last success (what ``/metrics`` shows); for a source the
    agent never looked at, the newest good backup in the history. ``None`` for a service with
    neither backups nor an RPO; ``state`` is ``None`` without an RPO (nothing to breach).
    """
    svc = settings.service
    if not svc.backups and svc.rpo is None:
        return None
    known = {s.source: s.last_success_at for s in states if s.service == svc.id}
    times: list[datetime | None] = []
    for index, backup in enumerate(svc.backups):
        name = source_name(backup, index)
        if name in known:
            times.append(known[name])
        else:
            record = store.drp.last_backup(svc.id, source=name)
            times.append(record.finished_at if record else None)
    status = rpo_status(times, svc.rpo, now)
    return {
        "state": None if svc.rpo is None else status.state.value,
        "newest_at": _iso(status.newest),
        "age_hours": _hours(status.age),
        "rpo_hours": _hours(svc.rpo),
    }


def _drp_status(
    store: Store, settings: ServiceSettings, config: Config, now: datetime
) -> dict[str, Any]:
    """The DRP register entry, the newest restore drill against the RTO, and its age."""
    svc = settings.service
    assert svc.drp is not None
    zone = ZoneInfo(config.agent.timezone)
    drills = store.drp.drills(svc.id)
    last = drills[-1] if drills else None
    age = drill_status(
        svc.drp.last_drill,
        [d.started_at for d in drills],
        now,
        max_age=config.agent.drill_max_age,
        zone=zone,
    )
    # The katalog's last_drill is a date without a result: the outcome is known only when the
    # newest drill is a recorded one.
    configured = datetime.combine(svc.drp.last_drill, time(0), zone) if svc.drp.last_drill else None
    result = (
        last if last is not None and (configured is None or last.started_at >= configured) else None
    )
    return {
        "document": svc.drp.document,
        "last_drill_configured": svc.drp.last_drill.isoformat() if svc.drp.last_drill else None,
        "last_drill_recorded": None
        if last is None
        else {
            "started_at": _iso(last.started_at),
            "kind": last.kind,
            "ok": last.ok,
            "restore_minutes": _minutes(_restore_time(last)),
        },
        "last_drill": {
            "at": _iso(age.last_drill_at),
            "age_days": None if age.age is None else round(age.age.total_seconds() / 86400, 2),
            "max_age_days": round(config.agent.drill_max_age.total_seconds() / 86400, 2),
            "overdue": age.overdue,
            "ok": None if result is None else result.ok,
            "restore_minutes": None if result is None else _minutes(_restore_time(result)),
            "within_rto": _within_rto(result, svc.rto),
        },
    }


def _restore_time(drill: DrillRecord) -> timedelta | None:
    return None if drill.restored_at is None else drill.restored_at - drill.started_at


def _within_rto(drill: DrillRecord | None, rto: timedelta | None) -> bool | None:
    """A successful drill restored within the RTO (a failed one did not restore at all);
    ``None`` without a result, an RTO or a restore time."""
    if drill is None or rto is None:
        return None
    if not drill.ok:
        return False
    restore = _restore_time(drill)
    return None if restore is None else restore <= rto


def host_status(store: Store, host: Host, now: datetime) -> dict[str, Any]:
    """The newest utilisation sample of ``host`` (ratios 0..1 as ``/metrics``; bandwidth in
    Mbps). Bandwidth utilisation is the busier direction of the busiest interface over the
    link capacity, as the sampler defines it (links are full duplex)."""
    readings: Mapping[str, HostReading] = {r.key: r for r in store.hosts.latest(host.id)}

    def ratio(key: str) -> float | None:
        r = readings.get(key)
        return None if r is None else round(r.value, 4)

    fs = [(m, r.value) for m in host.filesystems if (r := readings.get(f"fs:{m}")) is not None]
    filesystems = [{"mountpoint": m, "ratio": round(v, 4)} for m, v in fs]
    top = max(fs, key=lambda mv: mv[1], default=None)
    fullest = None if top is None else {"mountpoint": top[0], "ratio": round(top[1], 4)}
    nics = [(i, readings.get(f"rx:{i}"), readings.get(f"tx:{i}")) for i in host.interfaces]
    network = [
        {"interface": i, "receive_mbps": _mbps(rx), "transmit_mbps": _mbps(tx)}
        for i, rx, tx in nics
        if rx is not None or tx is not None
    ]
    busiest = max((r.value for _, rx, tx in nics for r in (rx, tx) if r is not None), default=None)
    capacity = host.link_capacity_mbps
    sampled_at = max((r.at for r in readings.values()), default=None)
    return {
        "id": host.id,
        "sampled_at": _iso(sampled_at),
        "stale": sampled_at is None or now - sampled_at > HOST_STALE_INTERVALS * host.interval,
        "cpu_ratio": ratio("cpu"),
        "memory_ratio": ratio("mem"),
        "filesystems": filesystems,
        "fullest_filesystem": fullest,
        "network": network,
        "link_capacity_mbps": capacity,
        "bandwidth_utilization_ratio": None
        if capacity is None or busiest is None
        else round(busiest / capacity, 4),
    }


def _mbps(reading: HostReading | None) -> float | None:
    return None if reading is None else round(reading.value, 2)


def status_document(store: Store, config: Config, now: datetime) -> dict[str, Any]:
    """Status of every configured service and host, from the store."""
    zone = ZoneInfo(config.agent.timezone)
    open_tickets = [
        Gangguan.from_json(r.blob) for r in store.incidents.overlapping(start=now) if r.end is None
    ]
    backup_states = store.drp.load_backup_state()
    return {
        "agent": config.agent.name,
        "generated_at": _iso(now),
        "timezone": config.agent.timezone,
        "period": period_label(*period_of(now, zone)),
        "services": [
            service_status(store, st, config, now, open_tickets, backup_states)
            for st in all_settings(config).values()
        ],
        "hosts": [host_status(store, h, now) for h in config.hosts],
    }
