"""What the running agent shows: metrics publishing and the HTTP app's views.

A mixin of :class:`agent.runtime.runner.Agent`, kept apart so the runner holds only lifecycle and
wiring. Everything here reads the agent's live state and pushes it into the metrics cache or
answers ``/healthz`` and ``/api/v1/status``; nothing here probes or writes the store.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from agent import __version__
from agent.config.models import Config
from agent.core.clock import Clock
from agent.core.model import State
from agent.core.pedoman import Impact
from agent.engine.availability import shown_state
from agent.reports.status import status_document
from agent.runtime.incident_tracker import IncidentTracker
from agent.runtime.scheduler import Scheduler
from agent.runtime.service_runner import ServiceRunner
from agent.store.database import Store
from agent.store.records import FsUsage
from agent.store.writer import StoreWriter
from exporters.metrics import MetricsCache
from probes.host import HostSnapshot


class AgentViews:
    """Publishing and views; the attributes are the agent's (see :class:`agent.runtime.runner.Agent`)."""

    config: Config
    clock: Clock
    metrics: MetricsCache
    services: dict[str, ServiceRunner]
    incidents: IncidentTracker
    scheduler: Scheduler | None
    store: Store | None
    writer: StoreWriter | None
    _reported_storage_errors: int
    _downtime: dict[str, float]
    _down_mark: dict[str, datetime]
    _reported_storage_dropped: int

    def _publish_incidents(self) -> None:
        counts: dict[tuple[str, int | str], int] = {}
        for g in self.incidents.open_tickets():
            counts[(g.service, g.priority)] = counts.get((g.service, g.priority), 0) + 1
        self.metrics.set_incidents_open(counts)

    def _publish_round(self, runner: ServiceRunner) -> None:
        now = self.clock.now()
        for name, check, _ in runner.probes:
            result = runner.last_results.get(name)
            if result is None:
                continue
            self.metrics.update_probe(
                runner.id,
                name,
                check.type,
                success=result.success,
                duration_seconds=result.latency,
                http_status_code=result.status_code,
                tls_expiry_ts=result.tls_expiry.timestamp() if result.tls_expiry else None,
            )
        state = shown_state(runner.settings, runner.current_state(now), now)
        confirmed = runner.machine.current
        ticket = self.incidents.open_ticket(runner.id)
        # The outage runs from the episode's first bad round, across restarts (FAULTS 23).
        outage = 0.0
        if ticket is not None and ticket.impact is Impact.MAJOR:
            outage = max(0.0, (now - ticket.start).total_seconds())
        rto = runner.settings.service.rto
        self.metrics.update_service(
            runner.id,
            state=state.value,
            up=None if confirmed is State.UNKNOWN else confirmed is not State.DOWN,
            downtime_seconds_total=self._count_downtime(runner, now),
            outage_seconds=outage,
            rto_breached=None if rto is None else outage > rto.total_seconds(),
            flapping=bool(ticket and ticket.flapping),
        )

    def _count_downtime(self, runner: ServiceRunner, now: datetime) -> float:
        """A real counter of confirmed down time (resets only when the agent restarts).

        When a down state is confirmed its time is counted from the first bad round, then
        round by round; time in maintenance or without data is not down time.
        """
        sid = runner.id
        total = self._downtime.get(sid, 0.0)
        since = runner.machine.state.since
        if runner.current_state(now) is State.DOWN and since is not None:
            mark = max(self._down_mark.get(sid, since), since)
            total += max(0.0, (now - mark).total_seconds())
            self._down_mark[sid] = now
        else:
            self._down_mark.pop(sid, None)
        self._downtime[sid] = total
        return total

    def _publish_host(self, snap: HostSnapshot) -> None:
        fs = {f.mountpoint: f.ratio for f in snap.filesystems if f.ratio is not None}
        rx = {
            i.interface: float(i.receive_bytes_total)
            for i in snap.interfaces
            if i.receive_bytes_total is not None
        }
        tx = {
            i.interface: float(i.transmit_bytes_total)
            for i in snap.interfaces
            if i.transmit_bytes_total is not None
        }
        self.metrics.update_host(
            snap.host,
            cpu_ratio=snap.cpu_ratio,
            memory_ratio=snap.memory_ratio,
            filesystems=fs,
            receive_bytes_total=rx,
            transmit_bytes_total=tx,
        )
        values: dict[str, float] = {"cpu": snap.cpu_ratio, "mem": snap.memory_ratio}
        values.update({f"fs:{m}": r for m, r in fs.items()})
        for i in snap.interfaces:
            if i.receive_bytes_per_second is not None:
                values[f"rx:{i.interface}"] = i.receive_bytes_per_second * 8 / 1e6  # Mbps
            if i.transmit_bytes_per_second is not None:
                values[f"tx:{i.interface}"] = i.transmit_bytes_per_second * 8 / 1e6
        usage = {
            f.mountpoint: FsUsage(used_bytes=f.used_bytes, total_bytes=f.total_bytes)
            for f in snap.filesystems
            if f.used_bytes is not None and f.total_bytes is not None
        }
        assert self.writer is not None
        self.writer.add_host_sample(snap.host, snap.taken_at, values, usage)

    def _publish_agent(self) -> None:
        assert self.scheduler is not None
        assert self.writer is not None
        # p99 of the recent rounds' lag: the last sample alone is mostly the clock watch's own.
        self.metrics.set_agent(scheduler_lag_seconds=self.scheduler.lag.quantile(0.99))
        errors, dropped = self.writer.storage_errors_total, self.writer.storage_dropped_total
        if errors > self._reported_storage_errors:
            self.metrics.inc_storage_errors(errors - self._reported_storage_errors)
            self._reported_storage_errors = errors
        if dropped > self._reported_storage_dropped:
            self.metrics.inc_storage_dropped(dropped - self._reported_storage_dropped)
            self._reported_storage_dropped = dropped

    def health(self) -> dict[str, Any]:
        """Liveness and health: ``degraded`` while the store cannot be written."""
        writer_ok = self.writer.healthy if self.writer else False
        return {
            "status": "ok" if writer_ok else "degraded",
            "storage": "ok" if writer_ok else (self.writer.last_error if self.writer else "closed"),
            "services": len(self.services),
            "version": __version__,
        }

    async def status_async(self) -> dict[str, Any]:
        """``/api/v1/status``: the store part in a thread, then the live state on the loop."""
        assert self.store is not None
        doc = await asyncio.to_thread(status_document, self.store, self.config, self.clock.now())
        return self._with_live_state(doc)

    def status(self) -> dict[str, Any]:
        """The ``/api/v1/status`` document (the same as ``pantau status --json``)."""
        assert self.store is not None
        return self._with_live_state(status_document(self.store, self.config, self.clock.now()))

    def _with_live_state(self, doc: dict[str, Any]) -> dict[str, Any]:
        # The live state is newer than what the writer has committed so far.
        now = self.clock.now()
        for entry in doc["services"]:
            runner = self.services.get(entry["id"])
            if runner is None or runner.last_round is None:
                continue
            state = shown_state(runner.settings, runner.current_state(now), now)
            since = runner.machine.state.since
            entry["state"] = state.value
            entry["since"] = since.isoformat() if since else None
            entry["last_round_at"] = runner.last_round.started_at.isoformat()
            entry["last_reasons"] = list(runner.last_round.reasons)
        return doc
