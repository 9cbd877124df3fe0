"""CPU time per HTTP probe: pantau's HttpProbe vs plain httpx vs blackbox_exporter.

Starts a fast local target (nginx-light on a loopback port with a temporary config, or a
trivial asyncio server in a child process when nginx is missing), then:

* pantau — N probes at concurrency C with :class:`probes.http.HttpProbe` in this process;
  CPU = ``time.process_time()`` of this process (all its threads) around the run.
* httpx — the same with one shared ``httpx.AsyncClient`` (keep-alive off, no overall
  deadline, no body rules): the floor pantau's extra work is measured against.
* blackbox — ``prometheus-blackbox-exporter`` on a loopback port with an ``http_2xx`` module,
  driven through ``/probe?target=...&module=http_2xx`` at concurrency C; CPU = its
  utime + stime from ``/proc/<pid>/stat`` (includes serving our /probe requests, as it would
  serving Prometheus).

Only 127.0.0.1 is used; every loop is bounded by N and by ``--max-seconds``; every child
process is stopped on exit. Usage::

    .venv/bin/python bench/bench_probe_cpu.py --probes 2000 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from benchlib import BLACKBOX_CONF, child, cpu_seconds, free_port, target

from agent.config.models import HttpCheck
from agent.core.clock import SystemClock
from agent.core.model import Outcome
from probes.http import HttpProbe


@dataclass
class Row:
    name: str
    probes: int
    failures: int
    cpu_seconds: float
    wall_seconds: float

    @property
    def ms_per_probe(self) -> float:
        return 1000 * self.cpu_seconds / max(self.probes, 1)


async def drive(
    n: int, concurrency: int, one: Callable[[int], Awaitable[bool]], limit: float
) -> tuple[int, int]:
    """Run ``one`` n times, ``concurrency`` at a time, stopping after ``limit`` seconds;
    returns (done, failed)."""
    deadline = time.monotonic() + limit
    counter = iter(range(n))
    done = failures = 0

    async def worker() -> None:
        nonlocal done, failures
        for i in counter:
            if time.monotonic() > deadline:
                return
            ok = await one(i)
            done += 1
            failures += not ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, failures


def bench_pantau(url: str, n: int, concurrency: int, limit: float) -> Row:
    check = HttpCheck.model_validate({"type": "http", "url": url})

    async def main() -> tuple[int, int, float, float]:
        probes = [
            HttpProbe(check, timeout=5.0, max_body_bytes=1 << 20, clock=SystemClock())
            for _ in range(concurrency)
        ]

        async def one(i: int) -> bool:
            result = await probes[i % concurrency].run()
            return result.outcome is Outcome.UP

        await drive(concurrency * 2, concurrency, one, limit)  # warm-up: imports, first TLS ctx
        cpu, wall = time.process_time(), time.monotonic()
        done, failures = await drive(n, concurrency, one, limit)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        for probe in probes:
            await probe.aclose()
        return done, failures, cpu, wall

    done, failures, cpu, wall = asyncio.run(main())
    return Row("pantau HttpProbe", done, failures, cpu, wall)


def bench_httpx(url: str, n: int, concurrency: int, limit: float) -> Row:
    async def main() -> tuple[int, int, float, float]:
        limits = httpx.Limits(max_keepalive_connections=0, max_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=5.0) as client:

            async def one(i: int) -> bool:
                try:
                    response = await client.get(url)
                except httpx.HTTPError:
                    return False
                return response.is_success

            await drive(concurrency * 2, concurrency, one, limit)
            cpu, wall = time.process_time(), time.monotonic()
            done, failures = await drive(n, concurrency, one, limit)
            return done, failures, time.process_time() - cpu, time.monotonic() - wall

    done, failures, cpu, wall = asyncio.run(main())
    return Row("plain httpx (shared client)", done, failures, cpu, wall)


def bench_blackbox(url: str, n: int, concurrency: int, limit: float, workdir: Path) -> Row | None:
    binary = shutil.which("prometheus-blackbox-exporter")
    if binary is None:
        return None
    conf = workdir / "blackbox.yml"
    conf.write_text(BLACKBOX_CONF)
    port = free_port()
    argv = [binary, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}"]
    probe_url = f"http://127.0.0.1:{port}/probe"
    params = {"target": url, "module": "http_2xx"}

    async def main(pid: int) -> tuple[int, int, float, float]:
        async with httpx.AsyncClient(timeout=10.0) as client:

            async def one(i: int) -> bool:
                response = await client.get(probe_url, params=params)
                return "probe_success 1" in response.text

            await drive(concurrency * 2, concurrency, one, limit)
            cpu, wall = cpu_seconds(pid), time.monotonic()
            done, failures = await drive(n, concurrency, one, limit)
            return done, failures, cpu_seconds(pid) - cpu, time.monotonic() - wall

    with child(argv, port, workdir / "blackbox.log") as process:
        done, failures, cpu, wall = asyncio.run(main(process.pid))
    return Row("blackbox_exporter 0.23 (its process)", done, failures, cpu, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=2000, help="probes per contender")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="cap per contender")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="pantau-bench-") as tmp,
        target(Path(tmp)) as (url, what),
    ):
        print(f"target: {what} at {url}; N={args.probes}, C={args.concurrency}\n")
        rows = [
            bench_pantau(url, args.probes, args.concurrency, args.max_seconds),
            bench_httpx(url, args.probes, args.concurrency, args.max_seconds),
        ]
        blackbox = bench_blackbox(url, args.probes, args.concurrency, args.max_seconds, Path(tmp))
        if blackbox is not None:
            rows.append(blackbox)
    print(
        f"{'contender':40} {'probes':>7} {'failed':>7} {'CPU s':>8} {'wall s':>7} {'CPU ms/probe':>13}"
    )
    for row in rows:
        print(
            f"{row.name:40} {row.probes:>7} {row.failures:>7} {row.cpu_seconds:>8.3f}"
            f" {row.wall_seconds:>7.2f} {row.ms_per_probe:>13.3f}"
        )
    if blackbox is not None and blackbox.cpu_seconds > 0:
        print(
            f"\npantau / blackbox CPU per probe: {rows[0].ms_per_probe / blackbox.ms_per_probe:.2f}x"
        )
    else:
        print("\nblackbox_exporter not found: install prometheus-blackbox-exporter to compare")


if __name__ == "__main__":
    main()
