"""The running agent (``pantau run``): wiring of scheduler, probes, store, metrics and HTTP.

::

    Scheduler (monotonic) ─► ServiceRunner.run_round ─► StateMachine ─► StoreWriter (thread)
              │                                   AgentViews ──────────► MetricsCache ◄─ /metrics
              ├─► HostSampler ──────────────────────┘
              ├─► backup polls, pushed-backup marks, the agent's own connectivity checks
              └─► housekeeping: clock-jump watch, month-to-date availability, retention
    Cron (APScheduler, wall clock) ─► the monthly report, scheduled restore drills

SIGHUP reloads the configuration: a bad file is reported (``pantau_config_last_reload_successful
0``) and the old one keeps running; a good one is swapped in at once, and services whose checks
did not change keep their probes, state machine and incidents. SIGTERM/SIGINT let in-flight
rounds finish, flush the store and exit 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from agent import __version__
from agent.config.katalog import ServiceSettings, all_settings
from agent.config.loader import load_config
from agent.config.models import Config, Host
from agent.config.webconfig import WebConfig, load_web_config
from agent.core.clock import Clock, SystemClock
from agent.core.errors import PantauError
from agent.engine.statemachine import MachineState
from agent.reports.monthly import MonthlyReporter
from agent.reports.status import month_to_date
from agent.runtime.backups import BackupMonitor
from agent.runtime.cron import Cron
from agent.runtime.http_app import start_server
from agent.runtime.incident_tracker import IncidentTracker
from agent.runtime.reload import load_for_reload
from agent.runtime.scheduler import Scheduler
from agent.runtime.service_runner import ServiceRunner
from agent.runtime.views import AgentViews
from agent.store.database import Store
from agent.store.lock import DataDirLock
from agent.store.writer import StoreWriter
from exporters.metrics import MetricsCache
from probes.base import Probe
from probes.host import HostSampler
from probes.registry import build_probe

log = logging.getLogger("pantau.agent")

#: A wall-clock step larger than this between two checks is counted as a clock jump.
CLOCK_JUMP_THRESHOLD = 5.0
#: How often the clock watch runs (and agent metrics such as the lag are refreshed); a step
#: smaller than the threshold is not a jump, so watching more often buys nothing.
CLOCK_WATCH_INTERVAL = 5.0
HOUSEKEEPING_INTERVAL = 60.0
RETENTION_EVERY = 86_400.0
MARKS_INTERVAL = 5.0  # how soon `pantau backup mark` (written to the store) shows in metrics


@dataclass
class _ClockWatch:
    wall: float
    mono: float


class Agent:
    """The monitoring agent; create, ``await start()``, then ``await stop()``."""

    def __init__(
        self, config: Config, config_path: Path | None = None, clock: Clock | None = None
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.clock: Clock = clock or SystemClock()
        self.metrics = MetricsCache()
        self.web_config: WebConfig | None = None
        self.services: dict[str, ServiceRunner] = {}
        self.hosts: dict[str, HostSampler] = {}
        self._host_config: dict[str, Host] = {}
        self.scheduler: Scheduler | None = None
        self.store: Store | None = None
        self.writer: StoreWriter | None = None
        self._http: web.AppRunner | None = None
        self._scheduler_task: asyncio.Task[None] | None = None
        self._stop_event = asyncio.Event()
        self._clock_watch: _ClockWatch | None = None
        self.clock_jumps = 0
        self._background: set[asyncio.Task[None]] = set()
        self._last_retention: float | None = None
        self._stored_rounds: dict[str, datetime] = {}
        self.incidents = IncidentTracker(config.agent.name, ZoneInfo(config.agent.timezone), {})
        self._connectivity: list[Probe] = []
        self.backups = BackupMonitor(self.clock, self.metrics)
        self._backup_jobs: set[str] = set()
        self.cron: Cron | None = None
        self.isolated = False
        self.views = AgentViews(self)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, start probing and serving."""
        cfg = self.config
        data_dir = Path(cfg.agent.data_dir)
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        self.web_config = load_web_config(cfg.agent.web_config) if cfg.agent.web_config else None
        ssl_context = self.web_config.ssl_context() if self.web_config else None
        self.store = await asyncio.to_thread(Store.open, data_dir, clock=self.clock)
        if self.store.moved_aside is not None:
            log.error(
                "the store was damaged and moved aside to %s; started a fresh one",
                self.store.moved_aside,
            )
        self.writer = StoreWriter(self.store.path, clock=self.clock).start()
        self.metrics.apply_config(cfg)
        self.metrics.set_agent(
            version=__version__,
            config_reload_successful=True,
            config_reload_success_timestamp=self.clock.now().timestamp(),
        )
        self.metrics.inc_storage_corruptions(self.store.corruptions_total)
        self.scheduler = Scheduler(cfg.agent.max_concurrency)
        states = await asyncio.to_thread(self.store.load_machine_states)
        self._stored_rounds = await asyncio.to_thread(self.store.last_round_times)
        self.incidents.configure(cfg.agent.name, ZoneInfo(cfg.agent.timezone), all_settings(cfg))
        await asyncio.to_thread(self.incidents.load, self.store, self.clock.now())
        self.incidents.submit(self.writer, self.incidents.settle(self.clock.now()))
        self.views.publish_incidents()
        self._apply_services(cfg, states)
        self._apply_connectivity(cfg)
        self.backups.writer = self.writer
        self._apply_backups(cfg)
        await asyncio.to_thread(self.backups.load, self.store)
        self._apply_hosts(cfg)
        self.scheduler.add(
            "_housekeeping", HOUSEKEEPING_INTERVAL, self._housekeeping, first_delay=1.0
        )
        self.scheduler.add("_clockwatch", CLOCK_WATCH_INTERVAL, self._watch_clock, first_delay=0.0)
        self.scheduler.add("_marks", MARKS_INTERVAL, self._take_marks, first_delay=MARKS_INTERVAL)
        self._scheduler_task = asyncio.create_task(self.scheduler.run(), name="pantau-scheduler")
        self.cron = Cron(MonthlyReporter(self.store, self.clock), self.clock, self.writer)
        self.cron.configure(cfg)
        await self.views.publish_drills()
        # A start after the scheduled time of the month writes the missed report once.
        self._spawn(self._report_catch_up(self.cron))
        self._http = await start_server(self.views, cfg.agent.listen, ssl_context)
        # Everything built so far lives as long as the agent: move it out of the collector's
        # way, so full collections stay short (they were 130-170 ms lag spikes at 5,000 services).
        gc.collect()
        gc.freeze()
        log.info(
            "pantau %s started: %d services, %d hosts, listening on %s%s",
            __version__,
            len(self.services),
            len(self.hosts),
            cfg.agent.listen,
            " (TLS)" if ssl_context else "",
        )

    async def stop(self) -> None:
        """Finish in-flight rounds, flush the store, stop serving."""
        if self.cron is not None:
            self.cron.shutdown()
        if self.scheduler is not None:
            await self.scheduler.stop(grace=5.0)
        if self._scheduler_task is not None:
            await self._scheduler_task
        if self._http is not None:
            await self._http.cleanup()
        for runner in self.services.values():
            await runner.aclose()
        for probe in self._connectivity:
            await probe.aclose()
        if self.writer is not None:
            self._save_states()
            ok = await asyncio.to_thread(self.writer.close, 10.0)
            if not ok:
                log.error("some writes could not be flushed to the store before exit")
        if self.store is not None:
            self.store.close()
        log.info("pantau stopped")

    async def serve(self) -> None:
        """Run until SIGTERM/SIGINT; reload on SIGHUP."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop_event.set)
        loop.add_signal_handler(signal.SIGINT, self._stop_event.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self._reload_quietly()))
        await self.start()
        try:
            await self._stop_event.wait()
        finally:
            await self.stop()

    # -- configuration ------------------------------------------------------------------------

    async def _reload_quietly(self) -> None:
        await self.reload()

    async def reload(self) -> bool:
        """Reload the configuration file; keep the running one if the new one is bad.

        Whatever can fail (the file, the web config, each check's CA file) is tried before
        anything is swapped. Any failure, expected or not, is logged with the file and the
        reason and sets ``pantau_config_last_reload_successful`` to 0 (FAULTS 19, 36).
        """
        path = self.config_path
        if path is None:
            return False
        try:
            new, web_config = await asyncio.to_thread(load_for_reload, path)
        except PantauError as exc:  # ConfigError included: its problems carry file:line:col
            return self._reload_failed(f"{exc}", path)
        except Exception as exc:  # a bug must not leave the metric at 1 or kill the task
            return self._reload_failed(f"{type(exc).__name__}: {exc}", path, exc)
        try:
            self._swap_config(new, web_config)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            return self._reload_failed(reason, path, exc, state="it may be applied in part")
        gc.collect()
        gc.freeze()
        log.info("configuration reloaded: %d services", len(self.services))
        return True

    def _reload_failed(
        self,
        reason: str,
        path: Path,
        exc: Exception | None = None,
        state: str = "keeping the running configuration",
    ) -> bool:
        log.error(
            "configuration reload from %s failed; %s:\n%s",
            path,
            state,
            reason,
            exc_info=exc,
            extra={"config": str(path)},
        )
        self.metrics.set_agent(config_reload_successful=False)
        return False

    def _swap_config(self, new: Config, web_config: WebConfig | None) -> None:
        if (
            new.agent.listen != self.config.agent.listen
            or new.agent.data_dir != self.config.agent.data_dir
        ):
            log.warning("agent.listen and agent.data_dir changes take effect after a restart")
        self.config = new
        self.web_config = web_config
        self.metrics.apply_config(new)
        self.incidents.configure(new.agent.name, ZoneInfo(new.agent.timezone), all_settings(new))
        # A removed service's open ticket would never be updated again: it ends with a note.
        assert self.writer is not None
        self.incidents.submit(self.writer, self.incidents.settle(self.clock.now()))
        self._apply_services(new, {})
        self.views.publish_incidents()
        self._apply_connectivity(new)
        self._apply_backups(new)
        if self.cron is not None:
            self.cron.configure(new)
        self._apply_hosts(new)
        self.metrics.set_agent(
            config_reload_successful=True,
            config_reload_success_timestamp=self.clock.now().timestamp(),
        )

    def _apply_services(self, cfg: Config, states: dict[str, dict[str, Any]]) -> None:
        assert self.scheduler is not None
        wanted = all_settings(cfg)
        for sid in list(self.services):
            if sid not in wanted:
                runner = self.services.pop(sid)
                self.scheduler.remove(sid)
                self.metrics.remove_service(sid)
                self._spawn(runner.aclose())
        for sid, settings in wanted.items():
            old = self.services.get(sid)
            if old is not None and old.same_checks(settings):
                old.settings = settings  # descriptive fields may change; probes stay
                old.machine.failure_threshold = settings.failure_threshold
                old.machine.recovery_threshold = settings.recovery_threshold
                old.machine.stale_after = settings.stale_after
                continue
            state = (
                old.machine.state
                if old
                else (MachineState.from_json(states[sid]) if sid in states else None)
            )
            runner = ServiceRunner.build(cfg, settings, self.clock, state)
            runner.not_before = self._stored_rounds.get(sid)  # time never runs back (FAULTS 39)
            if old is not None:
                self._spawn(old.aclose())
            self.services[sid] = runner
            self.scheduler.add(sid, settings.interval.total_seconds(), self._round_job(sid))

    def _apply_backups(self, cfg: Config) -> None:
        assert self.scheduler is not None
        jobs = self.backups.configure(cfg, Path(self.config.agent.data_dir))
        for job_id in self._backup_jobs - set(jobs):
            self.scheduler.remove(job_id)
        for job_id, (interval, job) in jobs.items():
            if job_id not in self._backup_jobs:
                self.scheduler.add(job_id, interval, job, first_delay=2.0)
        self._backup_jobs = set(jobs)

    def _apply_connectivity(self, cfg: Config) -> None:
        """(Re)build the agent's own connectivity checks; isolation makes rounds unknown."""
        assert self.scheduler is not None
        old = self._connectivity
        timeout = cfg.defaults.timeout.total_seconds()
        self._connectivity = [
            build_probe(
                c, timeout=timeout, max_body_bytes=cfg.defaults.max_body_bytes, clock=self.clock
            )
            for c in cfg.agent.connectivity
        ]
        for probe in old:
            self._spawn(probe.aclose())
        if self._connectivity:
            self.scheduler.add(
                "_connectivity",
                cfg.defaults.interval.total_seconds(),
                self._check_connectivity,
                first_delay=0.0,
            )
        else:
            self.scheduler.remove("_connectivity")
            self.isolated = False

    async def _check_connectivity(self) -> None:
        probes = list(self._connectivity)
        if not probes:
            return
        results = await asyncio.gather(*(p.run() for p in probes), return_exceptions=True)
        isolated = all(isinstance(r, BaseException) or not r.success for r in results)
        if isolated != self.isolated:
            log.warning(
                "agent connectivity %s: rounds that fail meanwhile are recorded as unknown",
                "lost" if isolated else "restored",
            )
        self.isolated = isolated

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _apply_hosts(self, cfg: Config) -> None:
        assert self.scheduler is not None
        wanted = {h.id: h for h in cfg.hosts}
        for hid in list(self.hosts):
            if hid not in wanted:
                self.hosts.pop(hid)
                self.scheduler.remove(f"_host:{hid}")
                self.metrics.remove_host(hid)
        for hid, host in wanted.items():
            if hid in self.hosts and self._host_config.get(hid) == host:
                continue  # keep the sampler: rates need its previous counters
            self.hosts[hid] = HostSampler(host, clock=self.clock)
            self._host_config[hid] = host
            self.scheduler.add(f"_host:{hid}", host.interval.total_seconds(), self._host_job(hid))

    # -- jobs ---------------------------------------------------------------------------------

    def _round_job(self, sid: str) -> Any:
        async def job() -> None:
            runner = self.services.get(sid)
            if runner is None:
                return
            rnd, transitions = await runner.run_round(isolated=self.isolated)
            assert self.writer is not None
            self.writer.append_rounds([rnd])
            if transitions:
                self.writer.append_transitions(transitions)
                self.writer.save_machine_states({sid: runner.machine.state.to_json()})
                changed = self.incidents.feed(sid, transitions, self.clock.now())
                if changed:
                    self.incidents.submit(self.writer, changed)
                    self.views.publish_incidents()
            self.views.publish_round(runner)

        return job

    def _host_job(self, hid: str) -> Any:
        async def job() -> None:
            sampler = self.hosts.get(hid)
            if sampler is None:
                return
            snap = await sampler.sample()
            self.views.publish_host(snap)

        return job

    async def _report_catch_up(self, cron: Cron) -> None:
        await cron.reporter.run_due()

    async def _take_marks(self) -> None:
        assert self.store is not None
        if self.backups.push_sources:
            self.backups.take_marks(await asyncio.to_thread(self.backups.marked_since, self.store))

    async def _watch_clock(self) -> None:
        """Count wall-clock steps: the wall clock moved differently from the monotonic one."""
        wall, mono = self.clock.now().timestamp(), self.clock.monotonic()
        prev = self._clock_watch
        self._clock_watch = _ClockWatch(wall, mono)
        if prev is not None:
            step = (wall - prev.wall) - (mono - prev.mono)
            if abs(step) > CLOCK_JUMP_THRESHOLD:
                self.clock_jumps += 1
                self.metrics.inc_clock_jumps()
                log.warning(
                    "wall clock stepped by %+.1f s (rounds keep their monotonic rhythm%s)",
                    step,
                    "; no round is stamped before the newest one" if step < 0 else "",
                )
        self.views.publish_agent()

    async def _housekeeping(self) -> None:
        """Month-to-date availability for the metrics; raw-round retention once a day."""
        assert self.store is not None
        now = self.clock.now()
        zone = ZoneInfo(self.config.agent.timezone)
        settings = [r.settings for r in self.services.values()]
        results = await asyncio.to_thread(self._availability, settings, zone, now)
        for sid, (ratio, target) in results.items():
            if sid in self.services:
                self.metrics.update_service(sid, availability_ratio=ratio, target_ratio=target)
        self._save_states()
        self.backups.publish_all()
        await self.views.publish_drills()
        mono = self.clock.monotonic()
        if self._last_retention is None or mono - self._last_retention >= RETENTION_EVERY:
            self._last_retention = mono
            # Deletes in small batches with pauses, so probing is never blocked (FAULTS 14).
            result = await asyncio.to_thread(
                self.store.apply_retention, now, raw_retention=self.config.agent.retention
            )
            log.info("retention: %s", result)

    def _availability(
        self, settings: list[ServiceSettings], zone: ZoneInfo, now: datetime
    ) -> dict[str, tuple[float | None, float]]:
        assert self.store is not None
        out = {}
        for st in settings:
            mtd = month_to_date(self.store, st, zone, now)
            pct = mtd.availability_pct
            out[st.id] = (None if pct is None else pct / 100, st.availability_target / 100)
        return out

    def _save_states(self) -> None:
        if self.writer is not None and self.services:
            self.writer.save_machine_states(
                {sid: r.machine.state.to_json() for sid, r in self.services.items()}
            )


def run_agent(config_path: Path, config: Config | None = None) -> int:
    """``pantau run``: load (unless given), lock the data dir, start, serve until stopped;
    the exit code (a data dir locked by another agent is a StoreError: exit 2)."""
    config = config or load_config(config_path)
    # First of all, before the store is opened or the port bound: one agent per data dir
    # (a second one would move a "damaged" store aside under the first, or double every row).
    with DataDirLock.acquire(Path(config.agent.data_dir)):
        agent = Agent(config, config_path)
        try:
            asyncio.run(agent.serve())
        except OSError as exc:
            log.error("cannot start: %s", exc)
            return 2
    return 0
