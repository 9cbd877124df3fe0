"""The agent's calendar: the one APScheduler, owning every job that runs at a time of day.

Probe rounds, host samples and backup polls run on the monotonic scheduler
(:mod:`agent.runtime.scheduler`), which a stepped wall clock cannot stall. Jobs that belong to
the calendar of the configured zone run here::

    monthly-report    agent.report.day at agent.report.at    MonthlyReporter.run_due
    drill-<service>   drills.SCHEDULES[drp.drill.schedule]   drills.drill_job

:meth:`Cron.configure` replaces every job, at start and on each SIGHUP reload, so a reload
never leaves a job of the old configuration behind nor registers one twice. A job never runs
twice at once (``max_instances=1``), missed runs collapse into one (``coalesce``), and a run
missed by up to :data:`MISFIRE_GRACE` (the agent was down, the machine asleep) still happens;
beyond that the monthly report catches up when the agent starts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from agent.config.models import Config
from agent.core.clock import Clock
from agent.reports.monthly import MonthlyReporter
from agent.runtime.drills import SCHEDULES, drill_job
from agent.store.writer import StoreWriter

log = logging.getLogger("pantau.cron")

REPORT_JOB = "monthly-report"
#: How late a calendar job may still start (APScheduler's ``misfire_grace_time``).
MISFIRE_GRACE = timedelta(hours=6)

Job = Callable[[], Awaitable[object]]


class Cron:
    """Owns the agent's :class:`AsyncIOScheduler`: start, configure, shut down."""

    def __init__(self, reporter: MonthlyReporter, clock: Clock, writer: StoreWriter) -> None:
        self.reporter = reporter
        self.clock = clock
        self.writer = writer
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def scheduler(self) -> AsyncIOScheduler:
        """The APScheduler itself (to look at its jobs)."""
        assert self._scheduler is not None, "configure() first"
        return self._scheduler

    def configure(self, config: Config) -> list[str]:
        """Start on the first call; replace every job by those of ``config``; the job ids.

        Call from the event loop.
        """
        if self._scheduler is None:
            self._scheduler = AsyncIOScheduler(timezone=ZoneInfo(config.agent.timezone))
            self._scheduler.start()
        self._scheduler.remove_all_jobs()
        self.reporter.configure(config)
        for job_id, (trigger, job) in self._jobs(config).items():
            self._scheduler.add_job(
                job,
                trigger,
                id=job_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(MISFIRE_GRACE.total_seconds()),
            )
        jobs = self._scheduler.get_jobs()
        log.info(
            "calendar jobs: %s",
            ", ".join(f"{j.id} at {j.next_run_time.isoformat()}" for j in jobs) or "none",
        )
        return [j.id for j in jobs]

    def _jobs(self, config: Config) -> dict[str, tuple[CronTrigger, Job]]:
        zone = ZoneInfo(config.agent.timezone)
        jobs: dict[str, tuple[CronTrigger, Job]] = {}
        rs = config.agent.report
        if rs.enabled:
            trigger = CronTrigger(day=rs.day, hour=rs.at.hour, minute=rs.at.minute, timezone=zone)
            jobs[REPORT_JOB] = (trigger, self.reporter.run_due)
        state_dir = Path(config.agent.data_dir) / "drp"
        for svc in config.services:
            if svc.drp is None or svc.drp.drill.schedule is None:
                continue
            trigger = CronTrigger(timezone=zone, **SCHEDULES[svc.drp.drill.schedule])
            jobs[f"drill-{svc.id}"] = (trigger, drill_job(svc, self.clock, self.writer, state_dir))
        return jobs

    def shutdown(self) -> None:
        """Stop the scheduler; a job still running is left to finish on its own."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
