"""Benchmark: the fleet report (``pantau report --source prometheus``) over a backfilled month.

A seeded synthetic month (October 2026, WIB) of what ``--agents`` agents with ``--services``
services in total export, scraped every ``--scrape`` seconds: ``pantau_agent_info``, the five
``pantau_service_state`` series and ``pantau_service_outage_duration_seconds`` per service.
Every service has ~4 Mayor outages (5–60 min, confirmed one round late) and ~3 Minor
stretches a month; every agent is unreachable once for 10–30 min (no samples at all).

The month is backfilled into a real ``prometheus`` (``promtool tsdb create-blocks-from
openmetrics``) and/or a real ``victoria-metrics`` (``/api/v1/import/prometheus``), each on a
free loopback port with its data in a temporary directory. Then, per store:

1. the report's timeline fetch as shipped (per-block aggregates, point queries only where a
   block is not wholly up) for the month and its 12-month trend window;
2. the same point by point (every block refined) — the cost without the shortcut;
3. the whole :func:`agent.reports.fleet.report.build_fleet_report` (labels, hosts, backups included).

It prints wall time, HTTP requests and whole/refined blocks, checks that (1) and (2) give
identical intervals, and the peak RSS of this process. Usage::

    .venv/bin/python bench/bench_prom_report.py [--services 20] [--agents 4] [--scrape 30]
        [--stores prometheus,victoria-metrics] [--no-compare]

About 1 GB of temporary files per 20 services at a 30 s scrape; all processes are stopped at
the end.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.config.loader import parse_config
from agent.core.periods import add_months, month_bounds
from agent.reports.fleet.client import Labels, PromClient
from agent.reports.fleet.fetch import ServiceTimeline, TimelineFetcher
from agent.reports.fleet.report import build_fleet_report
from agent.reports.fleet.timeline import Grid

WIB = ZoneInfo("Asia/Jakarta")
YEAR, MONTH = 2026, 10
STATES = ("up", "degraded", "down", "maintenance", "unknown")


class PointByPoint(TimelineFetcher):
    """Never takes a block as wholly up (the cost without the per-block shortcut)."""

    def _fresh(self, scrapes: dict[Labels, dict[int, float]]) -> dict[Labels, dict[int, float]]:
        return {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def history(
    services: int, agents: int, start: int, end: int, scrape: int, seed: int = 7
) -> tuple[list[Callable[[int], str]], list[tuple[int, int]], list[int]]:
    """Per service a state function of scrape time; per agent its unreachable stretch."""
    rnd = random.Random(seed)
    days = (end - start) / 86400

    def stretches(count: float, lo: int, hi: int) -> list[tuple[int, int]]:
        out = []
        for _ in range(max(1, round(count * days / 31))):
            a = rnd.randrange(start, end - hi)
            out.append((a, a + rnd.randrange(lo, hi)))
        return out

    fns = []
    for _ in range(services):
        down, degraded = stretches(4, 300, 3600), stretches(3, 300, 1800)

        fns.append(_state_fn(down, degraded, scrape))
    gaps = [stretches(1, 600, 1800)[0] for _ in range(agents)]
    owner = [i % agents for i in range(services)]
    return fns, gaps, owner


def _state_fn(
    down: list[tuple[int, int]], degraded: list[tuple[int, int]], scrape: int
) -> Callable[[int], str]:
    def state(t: int) -> str:
        # exported one round late (confirmation), as the agent does
        if any(a + scrape <= t < b for a, b in down):
            return "down"
        return "degraded" if any(a + scrape <= t < b for a, b in degraded) else "up"

    return state


def samples(services: int, agents: int, scrape: int, *, millis: bool) -> Iterator[str]:
    """Exposition lines with timestamps, family by family (as OpenMetrics requires)."""
    start, end = (int(t.timestamp()) for t in month_bounds(YEAR, MONTH, WIB))
    start -= 3600
    fns, gaps, owner = history(services, agents, start, end, scrape)
    times = range(start - start % scrape + 7, end, scrape)
    factor = 1000 if millis else 1

    def alive(agent: int, t: int) -> bool:
        return not gaps[agent][0] <= t < gaps[agent][1]

    if not millis:
        yield "# TYPE pantau_agent_info gauge\n"
    for a in range(agents):
        labels = f'instance="agent-{a}:9717",job="pantau",version="0.1.0"'
        for t in times:
            if alive(a, t):
                yield f"pantau_agent_info{{{labels}}} 1 {t * factor}\n"
    if not millis:
        yield "# TYPE pantau_service_state gauge\n"
    for s in range(services):
        a = owner[s]
        for t in times:
            if alive(a, t):
                now = fns[s](t)
                for st in STATES:
                    yield (
                        f'pantau_service_state{{instance="agent-{a}:9717",job="pantau",'
                        f'service="svc-{s:04d}",state="{st}"}} {int(st == now)} {t * factor}\n'
                    )
    if not millis:
        yield "# TYPE pantau_service_info gauge\n"
    for s in range(services):
        a = owner[s]
        info = (
            f'instance="agent-{a}:9717",job="pantau",service="svc-{s:04d}",name="Layanan {s}",'
            'provider="Diskominfo",group="layanan_publik",classification="esensial"'
        )
        yield from (f"pantau_service_info{{{info}}} 1 {t * factor}\n" for t in times if alive(a, t))
    if not millis:
        yield "# TYPE pantau_service_outage_duration_seconds gauge\n"
    for s in range(services):
        a = owner[s]
        began = None
        for t in times:
            if not alive(a, t):
                continue
            down = fns[s](t) == "down"
            began = (began if began is not None else t - scrape) if down else None
            value = t - began if began is not None else 0
            yield (
                f'pantau_service_outage_duration_seconds{{instance="agent-{a}:9717",'
                f'job="pantau",service="svc-{s:04d}"}} {value} {t * factor}\n'
            )
    if not millis:
        yield "# EOF\n"


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the store exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/query?query=1", timeout=5) as resp:
                if json.loads(resp.read())["status"] == "success":
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not ready after {timeout} s")


def start_prometheus(work: Path, args: argparse.Namespace) -> tuple[str, subprocess.Popen[bytes]]:
    om = work / "month.om"
    began = time.monotonic()
    with om.open("w") as fh:
        fh.writelines(samples(args.services, args.agents, args.scrape, millis=False))
    tsdb = work / "tsdb"
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=744h",
         str(om), str(tsdb)],
        check=True, capture_output=True, timeout=3600,
    )  # fmt: skip
    om.unlink()
    print(f"prometheus: backfilled in {time.monotonic() - began:.0f} s")
    port = free_port()
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={work / 'empty.yml'}", f"--storage.tsdb.path={tsdb}",
         "--storage.tsdb.retention.time=10y", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return f"http://127.0.0.1:{port}", proc


def start_victoria(work: Path, args: argparse.Namespace) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        ["victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}",
         f"-storageDataPath={work / 'vm'}", "-retentionPeriod=100y"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_ready(url, proc)
    began = time.monotonic()
    batch: list[str] = []

    def send() -> None:
        req = urllib.request.Request(
            f"{url}/api/v1/import/prometheus", data="".join(batch).encode(), method="POST"
        )
        with urllib.request.urlopen(req, timeout=300):
            pass
        batch.clear()

    for line in samples(args.services, args.agents, args.scrape, millis=True):
        batch.append(line)
        if len(batch) >= 200_000:
            send()
    if batch:
        send()
    with urllib.request.urlopen(f"{url}/internal/force_flush", timeout=60):
        pass
    print(f"victoria-metrics: imported in {time.monotonic() - began:.0f} s")
    return url, proc


def timed_fetch(
    cls: type[TimelineFetcher], url: str, grid: Grid, lo: float, hi: float
) -> tuple[dict[str, ServiceTimeline], float, int]:
    with PromClient(url) as client:
        began = time.monotonic()
        fetcher = cls(client, grid)
        result = fetcher.fetch(lo, hi)
        took = time.monotonic() - began
        phases = ", ".join(f"{k} {v:.2f} s" for k, v in fetcher.timings.items())
        print(f"  ({cls.__name__}: {phases})")
        return result, took, client.requests


def measure(name: str, url: str, args: argparse.Namespace) -> None:
    _, end = month_bounds(YEAR, MONTH, WIB)
    trend_start, _ = month_bounds(*add_months(YEAR, MONTH, -11), WIB)
    grid = Grid.for_step(args.scrape)
    lo, hi = trend_start.timestamp(), end.timestamp()
    shortcut, t1, r1 = timed_fetch(TimelineFetcher, url, grid, lo, hi)
    full = sum(t.full_blocks for t in shortcut.values())
    refined = sum(t.refined_blocks for t in shortcut.values())
    print(f"{name}: timelines with per-block shortcut: {t1:.2f} s, {r1} requests, "
          f"{full} whole blocks, {refined} refined")  # fmt: skip
    if args.compare:
        points, t2, r2 = timed_fetch(PointByPoint, url, grid, lo, hi)
        print(f"{name}: timelines point by point:       {t2:.2f} s, {r2} requests")
        same = all(shortcut[s].intervals == points[s].intervals for s in shortcut)
        print(f"{name}: identical intervals: {same and set(shortcut) == set(points)}")
    config = parse_config("agent: {name: central, timezone: Asia/Jakarta}\n")
    with PromClient(url) as client:
        began = time.monotonic()
        data = build_fleet_report(
            client,
            config,
            YEAR,
            MONTH,
            end + timedelta(days=1),
            step=timedelta(seconds=args.scrape),
        )
        took, requests = time.monotonic() - began, client.requests
    eps = sum(len(s.gangguan) for s in data.services)
    print(f"{name}: whole report data: {took:.2f} s, {requests} requests, "
          f"{len(data.services)} services, {eps} gangguan")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--services", type=int, default=20)
    p.add_argument("--agents", type=int, default=4)
    p.add_argument("--scrape", type=int, default=30)
    p.add_argument("--stores", default="prometheus,victoria-metrics")
    p.add_argument(
        "--no-compare",
        dest="compare",
        action="store_false",
        help="skip the point-by-point read (slow; it also dominates the peak RSS)",
    )
    args = p.parse_args()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    for binary in ("promtool", *stores):
        if shutil.which(binary) is None:
            raise SystemExit(f"{binary} not found")
    print(f"{args.services} services on {args.agents} agents, scrape {args.scrape} s, "
          f"{YEAR}-{MONTH:02d} in Asia/Jakarta; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pantau-bench-prom-") as tmp:
        work = Path(tmp)
        (work / "empty.yml").write_text("global: {scrape_interval: 1m}\n")
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for store in stores:
                starter = start_prometheus if store == "prometheus" else start_victoria
                url, proc = starter(work, args)
                procs.append(proc)
                wait_ready(url, proc)
                measure(store, url, args)
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
