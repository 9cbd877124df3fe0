"""Restore drills in the running agent: DRP register metrics and scheduled drills.

For every service with a ``drp`` the agent exports when it was last drilled (the newer of
``drp.last_drill`` and the drills recorded in the store) and whether the drill is overdue
(``agent.drill_max_age``, default 12 months). Services with ``drp.drill.schedule`` get an
automated drill (``monthly``: the 15th, ``quarterly``: the 15th of Jan/Apr/Jul/Oct,
``yearly``: 15 January; at 02:00 in the configured zone) on the agent's calendar
(:mod:`agent.runtime.cron`); the result is recorded like ``pantau drill run`` and logged.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent.config.models import Config, Service
from agent.core.clock import Clock
from agent.engine.rpo import drill_status
from agent.store.database import Store
from agent.store.records import DrillRecord
from agent.store.writer import StoreWriter
from drp.drills import DrillResult, run_drill
from exporters.metrics import MetricsCache

log = logging.getLogger("pantau.drills")

#: ``drp.drill.schedule`` → the cron fields of its drill (hour and minute in the agent's zone).
SCHEDULES: dict[str, dict[str, int | str]] = {
    "monthly": {"day": 15, "hour": 2, "minute": 0},
    "quarterly": {"month": "1,4,7,10", "day": 15, "hour": 2, "minute": 0},
    "yearly": {"month": 1, "day": 15, "hour": 2, "minute": 0},
}


def drill_record(result: DrillResult, kind: str) -> DrillRecord:
    """A drill result as stored."""
    detail: dict[str, Any] = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in dataclasses.asdict(result).items()
        if k not in ("service", "started_at", "restored_at", "data_as_of", "ok")
    }
    return DrillRecord(
        service=result.service,
        started_at=result.started_at,
        restored_at=result.restored_at,
        data_as_of=result.data_as_of,
        kind=kind,
        ok=result.ok,
        detail=detail,
    )


def drill_times(store: Store, config: Config) -> dict[str, list[datetime]]:
    """Recorded drill start times per service with a DRP (call from a thread)."""
    return {
        svc.id: [d.started_at for d in store.drp.drills(svc.id)]
        for svc in config.services
        if svc.drp
    }


def publish_drills(
    metrics: MetricsCache, config: Config, recorded: dict[str, list[datetime]], now: datetime
) -> None:
    """``pantau_drp_last_drill_timestamp_seconds`` and ``pantau_drp_drill_overdue``."""
    zone = ZoneInfo(config.agent.timezone)
    for svc in config.services:
        if svc.drp is None:
            continue
        age = drill_status(
            svc.drp.last_drill,
            recorded.get(svc.id, []),
            now,
            max_age=config.agent.drill_max_age,
            zone=zone,
        )
        metrics.update_service(
            svc.id,
            last_drill_timestamp_seconds=age.last_drill_at.timestamp()
            if age.last_drill_at
            else None,
            drill_overdue=age.overdue,
        )


def drill_job(
    svc: Service, clock: Clock, writer: StoreWriter, state_dir: Path
) -> Callable[[], Awaitable[None]]:
    """The scheduled drill of ``svc``: restore, verify, record (through the writer), log."""

    async def job() -> None:
        result = await run_drill(svc, clock=clock, state_dir=state_dir)
        writer.record_drill(drill_record(result, "automated"))
        level = logging.INFO if result.ok and result.rto_met is not False else logging.ERROR
        log.log(
            level,
            "scheduled drill of %s: %s %s",
            svc.id,
            "ok" if result.ok else "failed",
            result.reason or result.detail,
            extra={"service": svc.id},
        )

    return job
