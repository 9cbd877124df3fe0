"""The monotonic scheduler: rhythm, no overlap, concurrency cap, stop."""

from __future__ import annotations

import asyncio

from agent.runtime.scheduler import Scheduler, stable_offset


def test_stable_offset_is_deterministic_and_inside_interval() -> None:
    offsets = [stable_offset(f"svc-{i}", 30.0) for i in range(1000)]
    assert offsets == [stable_offset(f"svc-{i}", 30.0) for i in range(1000)]
    assert all(0 <= o < 30 for o in offsets)
    # Spread: every 3-second slice of the interval gets some of the 1,000 jobs.
    assert len({int(o // 3) for o in offsets}) == 10


def test_jobs_keep_rhythm_and_never_overlap() -> None:
    async def main() -> tuple[int, int, int]:
        sched = Scheduler(max_concurrency=10)
        runs = 0
        running = 0
        max_running = 0

        async def slow() -> None:
            nonlocal runs, running, max_running
            running += 1
            max_running = max(max_running, running)
            runs += 1
            await asyncio.sleep(0.25)  # longer than the interval: the next run is skipped
            running -= 1

        sched.add("a", 0.1, slow, first_delay=0)
        loop_task = asyncio.create_task(sched.run())
        await asyncio.sleep(1.0)
        await sched.stop()
        await loop_task
        return runs, max_running, sched.lag.skipped

    runs, max_running, skipped = asyncio.run(main())
    assert max_running == 1
    assert 2 <= runs <= 5  # ~1.0 s / 0.3 s per run-and-skip cycle
    assert skipped >= 2


def test_concurrency_is_capped() -> None:
    async def main() -> int:
        sched = Scheduler(max_concurrency=3)
        running = 0
        peak = 0

        async def job() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.05)
            running -= 1

        for i in range(20):
            sched.add(f"j{i}", 1.0, job, first_delay=0)
        loop_task = asyncio.create_task(sched.run())
        await asyncio.sleep(0.6)
        await sched.stop()
        await loop_task
        return peak

    assert asyncio.run(main()) == 3


def test_failing_job_does_not_stop_others() -> None:
    async def main() -> int:
        sched = Scheduler()
        ok = 0

        async def bad() -> None:
            raise RuntimeError("boom")

        async def good() -> None:
            nonlocal ok
            ok += 1

        sched.add("bad", 0.05, bad, first_delay=0)
        sched.add("good", 0.05, good, first_delay=0)
        loop_task = asyncio.create_task(sched.run())
        await asyncio.sleep(0.3)
        await sched.stop()
        await loop_task
        return ok

    assert asyncio.run(main()) >= 3


def test_stop_waits_for_in_flight_runs() -> None:
    async def main() -> bool:
        sched = Scheduler()
        finished = False

        async def job() -> None:
            nonlocal finished
            await asyncio.sleep(0.2)
            finished = True

        sched.add("j", 10.0, job, first_delay=0)
        loop_task = asyncio.create_task(sched.run())
        await asyncio.sleep(0.05)
        await sched.stop(grace=2)
        await loop_task
        return finished

    assert asyncio.run(main()) is True
