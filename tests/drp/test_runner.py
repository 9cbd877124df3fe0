"""The shared subprocess runner: cap, priority, output limits, timeouts and cancellation."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from drp.sources import BinaryMissingError, CommandResult, CommandRunner

ENV = dict(os.environ)


def _sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes, but we reap our children: it must not linger either
    return True


def test_output_and_exit_code_are_collected() -> None:
    result = asyncio.run(
        CommandRunner().run(_sh("echo out; echo err >&2; exit 3"), env=ENV, time_limit=10)
    )
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    assert not result.timed_out


def test_child_runs_at_low_priority() -> None:
    # field 19 of /proc/PID/stat is the nice value
    script = "cut -d' ' -f19 /proc/$$/stat"
    low = asyncio.run(CommandRunner(nice=10).run(_sh(script), env=ENV, time_limit=10))
    normal = asyncio.run(
        CommandRunner(nice=10).run(_sh(script), env=ENV, time_limit=10, low_priority=False)
    )
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert int(low.stdout) == min(base + 10, 19)
    assert int(normal.stdout) == base


def test_stdout_is_capped_but_drained() -> None:
    runner = CommandRunner(max_stdout=1000)
    result = asyncio.run(runner.run(_sh("head -c 1000000 /dev/zero"), env=ENV, time_limit=10))
    assert result.returncode == 0  # the child was not blocked on a full pipe
    assert len(result.stdout) == 1000
    assert result.stdout_truncated


def test_timeout_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    runner = CommandRunner(kill_grace=0.3)
    script = f"trap '' TERM; echo $$ > {pidfile}; while :; do sleep 0.1; done"
    start = time.monotonic()
    result = asyncio.run(runner.run(_sh(script), env=ENV, time_limit=1))
    elapsed = time.monotonic() - start
    assert result.timed_out
    assert result.returncode is None
    assert 0.9 < elapsed < 1.3 + 0.5  # 1 s limit + 0.3 s grace, ± 0.5 s
    assert not _alive(int(pidfile.read_text()))


def test_grandchild_holding_the_pipe_is_killed_with_its_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    # the shell exits at once but leaves a background sleep holding stdout open
    script = f"sleep 60 & echo $! > {pidfile}; exit 0"
    result = asyncio.run(CommandRunner(kill_grace=0.3).run(_sh(script), env=ENV, time_limit=1))
    assert result.timed_out
    time.sleep(0.1)
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_cancelling_the_caller_kills_the_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    async def main() -> None:
        task = asyncio.create_task(
            CommandRunner(kill_grace=0.3).run(
                _sh(f"echo $$ > {pidfile}; exec sleep 60"), env=ENV, time_limit=60
            )
        )
        for _ in range(500):  # the child writes its pid at once; 10 s at most
            if pidfile.exists() and pidfile.read_text().strip():
                break
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert not Path(f"/proc/{int(pidfile.read_text())}").exists()


def test_semaphore_caps_concurrent_children(tmp_path: Path) -> None:
    log = tmp_path / "log"
    script = f"echo start $(date +%s.%N) >> {log}; sleep 0.3; echo end $(date +%s.%N) >> {log}"
    runner = CommandRunner(limit=2)

    async def main() -> list[CommandResult]:
        return await asyncio.gather(
            *(runner.run(_sh(script), env=ENV, time_limit=30) for _ in range(6))
        )

    assert all(r.returncode == 0 for r in asyncio.run(main()))
    events = sorted(
        (float(ts), 1 if kind == "start" else -1)
        for kind, ts in (line.split() for line in log.read_text().splitlines())
    )
    running = peak = 0
    for _ts, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak <= 2
    assert running == 0


def test_one_runner_serves_several_event_loops() -> None:
    runner = CommandRunner(limit=1)
    for _ in range(2):  # a semaphore bound to the first loop would fail in the second
        results = asyncio.run(_two(runner))
        assert [r.returncode for r in results] == [0, 0]


async def _two(runner: CommandRunner) -> list[CommandResult]:
    return list(await asyncio.gather(*(runner.run(["true"], env=ENV, time_limit=10) for _ in "ab")))


def test_unexecutable_program_raises_binary_missing(tmp_path: Path) -> None:
    not_exec = tmp_path / "tool"
    not_exec.write_text("#!/bin/sh\n")
    with pytest.raises(BinaryMissingError):
        asyncio.run(CommandRunner(nice=None).run([str(not_exec)], env=ENV, time_limit=10))
