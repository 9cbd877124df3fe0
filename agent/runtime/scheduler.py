"""A monotonic round scheduler for probes (asyncio).

APScheduler 3.x plans runs from the wall clock: after a 20 s backward step an every-second job
stopped for 8 s. Rounds therefore run here, on the event loop's monotonic clock; APScheduler is
kept for calendar jobs only (the monthly report, scheduled drills: :mod:`agent.runtime.cron`).

- Every job has an interval and a deterministic start offset inside it (a hash of its id, like
  Prometheus scrape offsets), so 1,000 services with the same interval do not fire together.
- Due times advance by whole intervals from the first one (no drift); when the loop falls more
  than an interval behind, the missed runs are skipped, not queued (``coalesce``).
- A job never overlaps itself: if its previous run is still going at its due time, that run is
  skipped and counted in ``skipped``.
- A global semaphore caps concurrent runs (``max_concurrency``).
- Lag (actual start − due time, including waiting for the semaphore) is recorded per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("pantau.scheduler")

JobFunc = Callable[[], Awaitable[None]]


def stable_offset(job_id: str, interval: float) -> float:
    """A deterministic offset in ``[0, interval)`` derived from the job id."""
    digest = hashlib.blake2b(job_id.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") / 2**64) * interval


@dataclass
class _Job:
    id: str
    interval: float
    func: JobFunc
    generation: int
    running: asyncio.Task[None] | None = None


@dataclass
class LagStats:
    """Recent scheduling lag samples (seconds), bounded."""

    samples: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    last: float = 0.0
    skipped: int = 0
    runs: int = 0

    def add(self, lag: float) -> None:
        self.last = lag
        self.runs += 1
        self.samples.append(lag)

    def quantile(self, q: float) -> float:
        """The q-quantile of the recent samples (0 when there are none)."""
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Scheduler:
    """Runs async jobs at fixed intervals on the monotonic clock."""

    def __init__(self, max_concurrency: int = 100) -> None:
        self._jobs: dict[str, _Job] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._counter = itertools.count()
        self._generation = itertools.count()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.lag = LagStats()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def add(
        self, job_id: str, interval: float, func: JobFunc, *, first_delay: float | None = None
    ) -> None:
        """Add or replace a job; its first run is at a stable offset within one interval."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        generation = next(self._generation)
        old = self._jobs.get(job_id)
        job = _Job(job_id, interval, func, generation, running=old.running if old else None)
        self._jobs[job_id] = job
        delay = stable_offset(job_id, interval) if first_delay is None else first_delay
        heapq.heappush(self._heap, (self._now() + delay, next(self._counter), job_id, generation))
        self._wakeup.set()

    def remove(self, job_id: str) -> None:
        """Forget a job; a run in progress finishes on its own."""
        self._jobs.pop(job_id, None)

    async def run(self) -> None:
        """Dispatch jobs until :meth:`stop` is called."""
        while not self._stopping:
            now = self._now()
            while self._heap and self._heap[0][0] <= now:
                due, _, job_id, generation = heapq.heappop(self._heap)
                job = self._jobs.get(job_id)
                if job is None or job.generation != generation:
                    continue  # removed or replaced
                self._dispatch(job, due)
                next_due = due + job.interval
                if next_due <= now:  # fell behind by more than an interval: skip, do not queue
                    missed = int((now - due) // job.interval)
                    self.lag.skipped += missed
                    next_due = due + (missed + 1) * job.interval
                heapq.heappush(self._heap, (next_due, next(self._counter), job_id, generation))
            self._wakeup.clear()
            timeout = max(0.0, self._heap[0][0] - self._now()) if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _dispatch(self, job: _Job, due: float) -> None:
        if job.running is not None and not job.running.done():
            self.lag.skipped += 1
            log.warning("round of %s still running at its next due time; skipped", job.id)
            return
        task = asyncio.create_task(self._run_one(job, due), name=f"pantau-job-{job.id}")
        job.running = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_one(self, job: _Job, due: float) -> None:
        async with self._semaphore:
            self.lag.add(max(0.0, self._now() - due))
            try:
                await job.func()
            except asyncio.CancelledError:
                raise
            except Exception:  # the runner's own catch-all: one bad job never stops the others
                log.exception("job %s failed", job.id)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop dispatching and wait (up to ``grace`` seconds) for runs in progress, then cancel."""
        self._stopping = True
        self._wakeup.set()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
