"""Benchmark: many restic sources checked at once through the shared subprocess semaphore.

Builds one real restic repository with one snapshot, copies it N times (default 100; copies
share a repository id, which restic does not mind), then checks all N sources concurrently —
the way the agent does when every service's backup interval comes due together — while a
watchdog task sleeps 0.1 s in a loop and records how late it wakes up (event-loop lag).

Round 1 is cold (``restic snapshots`` + ``restic stats`` for the size); round 2 is warm (the
size is remembered per snapshot, so only ``restic snapshots`` runs).

Usage::

    .venv/bin/python bench/bench_backup_sources.py [--sources 100] [--limit 4] [--rounds 2]

Bounded: at most ``--sources`` × 2 restic processes per round, each with a 120 s timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.config.models import ResticBackup
from agent.core.model import BackupObservation
from drp.restic import ResticSource
from drp.sources import CommandRunner

PASSWORD = "bench-password"


def make_repos(root: Path, count: int) -> tuple[list[Path], Path, Path]:
    """One initialised repository with a snapshot, copied ``count`` times."""
    pw = root / "pw"
    pw.write_text(PASSWORD + "\n")
    data = root / "data"
    data.mkdir()
    for i in range(20):
        (data / f"f{i}.txt").write_text(f"file {i}\n" * 100)
    cache = root / "cache"
    template = root / "template"
    env = {
        **os.environ,
        "RESTIC_REPOSITORY": str(template),
        "RESTIC_PASSWORD_FILE": str(pw),
        "RESTIC_CACHE_DIR": str(cache),
    }
    subprocess.run(["restic", "init"], env=env, check=True, capture_output=True)
    subprocess.run(["restic", "backup", str(data)], env=env, check=True, capture_output=True)
    repos = []
    for i in range(count):
        repo = root / f"repo-{i:03d}"
        shutil.copytree(template, repo)
        repos.append(repo)
    return repos, pw, cache


async def watchdog(stop: asyncio.Event, lags: list[float], period: float = 0.1) -> None:
    """Sleep ``period`` repeatedly; record how much later than asked each wake-up came."""
    while not stop.is_set():
        start = time.monotonic()
        await asyncio.sleep(period)
        lags.append(time.monotonic() - start - period)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one_round(
    sources: list[ResticSource],
) -> tuple[float, list[float], list[BackupObservation]]:
    stop = asyncio.Event()
    lags: list[float] = []
    dog = asyncio.create_task(watchdog(stop, lags))
    start = time.monotonic()
    results = await asyncio.gather(*(s.check() for s in sources))
    total = time.monotonic() - start
    stop.set()
    await dog
    return total, lags, list(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--limit", type=int, default=4, help="concurrent restic processes")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("restic") is None:
        print("restic not found on PATH", file=sys.stderr)
        return 2
    if not 1 <= args.sources <= 500 or not 1 <= args.rounds <= 5:
        print(
            "--sources must be 1..500 and --rounds 1..5 (the benchmark is bounded)", file=sys.stderr
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="pantau-bench-") as tmp:
        root = Path(tmp)
        t0 = time.monotonic()
        repos, pw, cache = make_repos(root, args.sources)
        print(f"setup: {len(repos)} repositories in {time.monotonic() - t0:.1f} s")
        runner = CommandRunner(limit=args.limit)
        sources = [
            ResticSource(
                ResticBackup(type="restic", repository=str(r), password_file=pw),
                f"restic-{i}",
                runner=runner,
                cache_dir=cache,
            )
            for i, r in enumerate(repos)
        ]
        print(f"cpus: {os.cpu_count()}  load: {os.getloadavg()[0]:.2f}  limit: {args.limit}")
        for n in range(1, args.rounds + 1):
            total, lags, results = asyncio.run(one_round(sources))
            ok = sum(r.ok for r in results)
            reasons = sorted({r.reason for r in results if not r.ok})
            ms = [lag * 1000 for lag in lags]
            print(
                f"round {n}: {ok}/{len(results)} ok{' ' + str(reasons) if reasons else ''}, "
                f"total {total:.1f} s ({total / len(results) * 1000:.0f} ms/source), "
                f"loop lag p50 {statistics.median(ms):.1f} ms, p99 {pct(ms, 0.99):.1f} ms, "
                f"max {max(ms):.1f} ms over {len(ms)} samples"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
