"""What the running agent shows: metrics publishing and the HTTP app's views.

A component of :class:`agent.runtime.runner.Agent` (``agent.views``), kept apart so the runner
holds only lifecycle and wiring. It reads the agent's live state through :class:`AgentState`
and pushes it into the metrics cache, answers ``/healthz`` and ``/api/v1/status`` and hands
pushed backups to the backup monitor. It never probes; its one write is queueing each host
sample for the store.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Protocol

from agent import __version__
from agent.config.models import Config, HttpSettings
from agent.config.webconfig import WebConfig
from agent.core.clock import Clock
from agent.core.model import State
from agent.core.pedoman import Impact
from agent.engine.availability import shown_state
from agent.reports.status import status_document
from agent.runtime.backups import BackupMonitor
from agent.runtime.drills import drill_times, publish_drills
from agent.runtime.incident_tracker import IncidentTracker
from agent.runtime.scheduler import Scheduler
from agent.runtime.service_runner import ServiceRunner
from agent.store.database import Store
from agent.store.records import FsUsage
from agent.store.writer import StoreWriter
from exporters.metrics import MetricsCache
from probes.host import HostSnapshot


class AgentState(Protocol):
    """What the views read of the running agent; ``None`` until the agent has started, and
    ``config`` / ``web_config`` are replaced by a reload."""

    config: Config
    web_config: WebConfig | None
    clock: Clock
    metrics: MetricsCache
    services: dict[str, ServiceRunner]
    incidents: IncidentTracker
    backups: BackupMonitor
    scheduler: Scheduler | None
    store: Store | None
    writer: StoreWriter | None


class AgentViews:
    """Publishing into the metrics cache, and the HTTP app's view of the agent."""

    def __init__(self, agent: AgentState) -> None:
        self._agent = agent
        self._downtime: dict[str, float] = {}
        self._down_mark: dict[str, datetime] = {}
        self._reported_storage_errors = 0
        self._reported_storage_dropped = 0

    @property
    def metrics(self) -> MetricsCache:
        """The agent's metrics cache (``/metrics`` renders it)."""
        return self._agent.metrics

    @property
    def web_config(self) -> WebConfig | None:
        """TLS and basic auth of the endpoint, as last (re)loaded."""
        return self._agent.web_config

    @property
    def clock(self) -> Clock:
        """The agent's clock."""
        return self._agent.clock

    @property
    def http_settings(self) -> HttpSettings:
        """``agent.http`` of the running configuration (a reload applies it at once)."""
        return self._agent.config.agent.http

    def publish_incidents(self) -> None:
        """``pantau_incidents_open`` from the tracker's open tickets."""
        counts: dict[tuple[str, int | str], int] = {}
        for g in self._agent.incidents.open_tickets():
            counts[(g.service, g.priority)] = counts.get((g.service, g.priority), 0) + 1
        self.metrics.set_incidents_open(counts)

    def publish_round(self, runner: ServiceRunner) -> None:
        """The probe and service samples of ``runner``'s last round."""
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
        for name, errors in runner.take_probe_errors().items():
            self.metrics.inc_probe_errors(runner.id, name, errors)
        state = shown_state(runner.settings, runner.current_state(now), now)
        confirmed = runner.machine.current
        ticket = self._agent.incidents.open_ticket(runner.id)
        # The outage runs from the episode's first bad round, across restarts (FAULTS 23).
        outage = 0.0
        if ticket is not None and ticket.impact is Impact.MAJOR:
            outage = max(0.0, (now - ticket.start).total_seconds())
        rto = runner.settings.service.rto
        # When the confirmed state began (its first round, not when it was confirmed): lets a
        # report read from Prometheus place each edge where the agent's own store has it
        # (to the millisecond, as the store keeps it; VictoriaMetrics keeps that exactly).
        since = runner.machine.state.since if confirmed is not State.UNKNOWN else None
        self.metrics.update_service(
            runner.id,
            state=state.value,
            state_since=round(since.timestamp(), 3) if since is not None else None,
            up=None if confirmed is State.UNKNOWN else confirmed is not State.DOWN,
            downtime_seconds_total=self._count_downtime(runner, now),
            outage_seconds=outage,
            rto_breached=None if rto is None else outage > rto.total_seconds(),
            flapping=self._agent.incidents.is_flapping(runner.id, now),
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

    def publish_host(self, snap: HostSnapshot) -> None:
        """A host's samples into the metrics, and its 5-minute aggregates into the store."""
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
        assert self._agent.writer is not None
        self._agent.writer.add_host_sample(snap.host, snap.taken_at, values, usage)

    async def publish_drills(self) -> None:
        """When each DRP was last drilled and whether it is overdue (the store read in a thread)."""
        config, store = self._agent.config, self._agent.store
        assert store is not None
        recorded = await asyncio.to_thread(drill_times, store, config)
        publish_drills(self.metrics, config, recorded, self.clock.now())

    def publish_agent(self) -> None:
        """Scheduler lag and the store writer's counters."""
        scheduler, writer = self._agent.scheduler, self._agent.writer
        assert scheduler is not None
        assert writer is not None
        # p99 of the recent rounds' lag: the last sample alone is mostly the clock watch's own.
        self.metrics.set_agent(scheduler_lag_seconds=scheduler.lag.quantile(0.99))
        errors, dropped = writer.storage_errors_total, writer.storage_dropped_total
        if errors > self._reported_storage_errors:
            self.metrics.inc_storage_errors(errors - self._reported_storage_errors)
            self._reported_storage_errors = errors
        if dropped > self._reported_storage_dropped:
            self.metrics.inc_storage_dropped(dropped - self._reported_storage_dropped)
            self._reported_storage_dropped = dropped

    def health(self) -> dict[str, Any]:
        """Liveness and health: ``degraded`` while the store cannot be written."""
        writer = self._agent.writer
        writer_ok = writer.healthy if writer else False
        return {
            "status": "ok" if writer_ok else "degraded",
            "storage": "ok" if writer_ok else (writer.last_error if writer else "closed"),
            "services": len(self._agent.services),
            "version": __version__,
        }

    async def status_async(self) -> dict[str, Any]:
        """``/api/v1/status`` (as ``pantau status --json``): the store part in a thread, then
        the live state on the loop."""
        config, store = self._agent.config, self._agent.store
        assert store is not None
        doc = await asyncio.to_thread(status_document, store, config, self.clock.now())
        return self._with_live_state(doc)

    async def push_backup(self, service: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /api/v1/backups/{service}``: validate and record a finished backup."""
        return self._agent.backups.push(service, body)

    def _with_live_state(self, doc: dict[str, Any]) -> dict[str, Any]:
        # The live state is newer than what the writer has committed so far.
        now = self.clock.now()
        for entry in doc["services"]:
            runner = self._agent.services.get(entry["id"])
            if runner is None or runner.last_round is None:
                continue
            state = shown_state(runner.settings, runner.current_state(now), now)
            since = runner.machine.state.since
            entry["state"] = state.value
            entry["since"] = since.isoformat() if since else None
            entry["last_round_at"] = runner.last_round.started_at.isoformat()
            entry["last_reasons"] = list(runner.last_round.reasons)
        return doc
