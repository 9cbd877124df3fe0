"""Status of services computed from the store (``pantau status`` and ``/api/v1/status``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agent.config.katalog import ServiceSettings, all_settings
from agent.config.models import Config
from agent.core.model import State
from agent.core.periods import month_bounds, period_label, period_of
from agent.engine.availability import (
    PeriodAvailability,
    compute_availability,
    in_maintenance,
    intervals_from_transitions,
    maintenance_windows,
)
from agent.engine.incidents import Gangguan, overrides_from_tickets
from agent.store.database import Store
from agent.store.records import IncidentRecord


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


def service_status(
    store: Store,
    settings: ServiceSettings,
    zone: ZoneInfo,
    now: datetime,
    open_incidents: list[IncidentRecord],
) -> dict[str, Any]:
    """One service's status document."""
    svc = settings.service
    state, since = current_state(store, settings, now)
    mtd = month_to_date(store, settings, zone, now)
    return {
        "id": svc.id,
        "name": svc.name,
        "classification": svc.classification.value,
        "group": svc.group.value,
        "state": state.value,
        "since": since.isoformat() if since else None,
        "last_round_at": (lr.isoformat() if (lr := store.last_round_at(svc.id)) else None),
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
            "monitored_since": mtd.monitored_since.isoformat() if mtd.monitored_since else None,
        },
        "open_incidents": [
            {"id": i.id, "start": i.start.isoformat(), "impact": i.impact, "status": i.status}
            for i in open_incidents
            if i.service == svc.id
        ],
        "drp": _drp_status(store, settings) if svc.drp else None,
        "rpo_hours": svc.rpo.total_seconds() / 3600 if svc.rpo else None,
        "rto_hours": svc.rto.total_seconds() / 3600 if svc.rto else None,
    }


def _drp_status(store: Store, settings: ServiceSettings) -> dict[str, Any]:
    """The DRP register entry and the newest recorded restore drill."""
    svc = settings.service
    assert svc.drp is not None
    drills = store.drp.drills(svc.id)
    last = drills[-1] if drills else None
    return {
        "document": svc.drp.document,
        "last_drill_configured": svc.drp.last_drill.isoformat() if svc.drp.last_drill else None,
        "last_drill_recorded": None
        if last is None
        else {
            "started_at": last.started_at.isoformat(),
            "kind": last.kind,
            "ok": last.ok,
            "restore_minutes": round((last.restored_at - last.started_at).total_seconds() / 60, 2)
            if last.restored_at
            else None,
        },
    }


def status_document(store: Store, config: Config, now: datetime) -> dict[str, Any]:
    """Status of every configured service, from the store."""
    zone = ZoneInfo(config.agent.timezone)
    open_incidents = [i for i in store.incidents.overlapping() if i.end is None]
    return {
        "agent": config.agent.name,
        "generated_at": now.isoformat(),
        "timezone": config.agent.timezone,
        "services": [
            service_status(store, st, zone, now, open_incidents)
            for st in all_settings(config).values()
        ],
    }
