"""Backup sources of the running agent: polling, pushes, persisted state, RPO metrics.

Each configured source of a service is polled on its own interval (files, restic, borg) or
fed by ``POST /api/v1/backups/{service}`` / ``pantau backup mark`` (push). The newest known
success of every source is persisted, so the backup age after a restart is ``now −`` that
time, not "unknown until the next check" (FAULTS 24); a failing source never resets it, and a
missing, unreadable or future-dated backup is ``unknown``, never fresh (FAULTS 25). Every newly
seen backup is also recorded in the backup history the monthly RPO compliance is computed from.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agent.config.katalog import source_name
from agent.config.models import Config
from agent.core.clock import Clock
from agent.core.model import BackupObservation
from agent.engine.rpo import SourceState, merge, rpo_status
from agent.store.database import Store
from agent.store.records import BACKUP_OK, BackupRecord, BackupState
from agent.store.writer import StoreWriter
from drp.push import PushError, PushTargets, parse_push_body, push_targets
from drp.registry import build_source
from drp.sources import BackupSource, SourceSettings
from exporters.metrics import MetricsCache

log = logging.getLogger("pantau.backups")

Job = Callable[[], Awaitable[None]]


class BackupMonitor:
    """Backup state of every service with backups."""

    def __init__(self, clock: Clock, metrics: MetricsCache) -> None:
        self.clock = clock
        self.metrics = metrics
        self.config: Config | None = None
        self.sources: dict[tuple[str, str], BackupSource] = {}
        #: service → the push sources a request may name (only services that have any)
        self.push_sources: dict[str, PushTargets] = {}
        self._wanted: set[tuple[str, str]] = set()  # (service, source) of the katalog
        self.states: dict[tuple[str, str], SourceState] = {}
        self.writer: StoreWriter | None = None

    def configure(self, config: Config, data_dir: Path) -> dict[str, tuple[float, Job]]:
        """Build the sources of ``config``; return the polling jobs by id (interval, job)."""
        self.config = config
        jobs: dict[str, tuple[float, Job]] = {}
        wanted: set[tuple[str, str]] = set()
        self.push_sources = {}
        settings = SourceSettings(clock=self.clock, state_dir=data_dir / "drp")
        for svc in config.services:
            targets = push_targets(svc)
            if targets.push:
                self.push_sources[svc.id] = targets
            for index, backup in enumerate(svc.backups):
                name = source_name(backup, index)
                key = (svc.id, name)
                wanted.add(key)
                source = build_source(backup, name, settings)
                if source is None:  # fed by requests
                    continue
                self.sources[key] = source
                interval = (backup.interval or config.defaults.backup_interval).total_seconds()
                jobs[f"_backup:{svc.id}:{name}"] = (interval, self._job(key))
        for key in [k for k in self.sources if k not in wanted]:
            del self.sources[key]
        for key in [k for k in self.states if k not in wanted]:
            del self.states[key]
            self.metrics.remove_backup_source(*key)
        self._wanted = wanted
        return jobs

    def load(self, store: Store) -> None:
        """Restore each configured source's last success from the store (before the first
        check). Rows of sources the katalog does not name (removed ones, or names an older
        agent took from requests) stay in the store but make no series."""
        for st in store.drp.load_backup_state():
            if (st.service, st.source) not in self._wanted:
                continue
            self.states[(st.service, st.source)] = SourceState.restored(
                st.source, st.last_success_at
            )
        for service in {s for s, _ in self.states}:
            self.publish(service)

    def _job(self, key: tuple[str, str]) -> Job:
        async def job() -> None:
            source = self.sources.get(key)
            if source is not None:
                self.observe(key[0], await source.check())

        return job

    def observe(
        self,
        service: str,
        obs: BackupObservation,
        *,
        keep_newest: bool = False,
        origin: str = "observed",
        record: bool = True,
    ) -> None:
        """Fold one observation in: persist the state, record a newly seen backup, publish."""
        key = (service, obs.source)
        previous = self.states.get(key)
        state = merge(previous, obs, keep_newest=keep_newest)
        self.states[key] = state
        now = self.clock.now()
        if not obs.ok and (previous is None or previous.ok):
            log.warning(
                "backup source %s/%s failed: %s %s",
                service,
                obs.source,
                obs.reason,
                obs.detail,
                extra={"service": service, "source": obs.source, "reason": obs.reason},
            )
        if self.writer is not None:
            self.writer.save_backup_state(
                BackupState(service, obs.source, state.last_success_at, state.reason, now)
            )
            new = state.last_success_at
            if record and new is not None and (previous is None or previous.last_success_at != new):
                self.writer.record_backup(
                    BackupRecord(service, obs.source, new, BACKUP_OK, origin, state.size_bytes)
                )
        self.publish(service)

    def publish(self, service: str) -> None:
        """Per-source timestamps and the service's backup age / RPO verdict."""
        now = self.clock.now()
        times = []
        for (sid, source), state in self.states.items():
            if sid != service:
                continue
            ts = state.last_success_at
            times.append(ts)
            self.metrics.update_backup(
                service, source, ts.timestamp() if ts else None, source_up=state.ok
            )
        rpo = None
        if self.config is not None:
            svc = next((s for s in self.config.services if s.id == service), None)
            rpo = svc.rpo if svc else None
        status = rpo_status(times, rpo, now)
        self.metrics.update_service(
            service,
            backup_age_seconds=status.age.total_seconds() if status.age is not None else None,
            rpo_breached=None if rpo is None or status.age is None else status.breached,
        )

    def marked_since(self, store: Store) -> list[BackupState]:
        """Stored push-source states newer than what the agent knows (``pantau backup mark``
        writes to the store directly); call from a thread, then :meth:`take_marks`."""
        out = []
        for service, targets in self.push_sources.items():
            for st in store.drp.load_backup_state(service):
                if st.source not in targets.push or st.last_success_at is None:
                    continue
                known = self.states.get((service, st.source))
                if (
                    known is None
                    or known.last_success_at is None
                    or st.last_success_at > known.last_success_at
                ):
                    out.append(st)
        return out

    def take_marks(self, marks: list[BackupState]) -> None:
        """Fold marked backups in (already recorded in the history by the command)."""
        for st in marks:
            obs = BackupObservation(st.source, True, st.last_success_at, None, "", "marked")
            self.observe(st.service, obs, keep_newest=True, origin="mark", record=False)

    def publish_all(self) -> None:
        """Refresh ages (they grow with time even when nothing is checked)."""
        for service in {s for s, _ in self.states}:
            self.publish(service)

    def push(self, service: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """A backup script's report: validate, record, answer with an HTTP status and JSON."""
        now = self.clock.now()
        try:
            record = parse_push_body(body, now=now, targets=self.push_sources, service=service)
        except PushError as exc:
            return exc.status_code, {"error": exc.message}
        source = record.source  # one of the service's push sources in the katalog
        obs = record.to_observation()
        self.observe(service, obs, keep_newest=True, origin="push")
        if self.writer is not None and not record.ok:
            self.writer.record_backup(
                BackupRecord(
                    service, source, record.finished_at, "failed", "push", record.size_bytes
                )
            )
        return 202, {
            "service": service,
            "source": source,
            "finished_at": record.finished_at.isoformat(),
            "status": "success" if record.ok else "failure",
        }
