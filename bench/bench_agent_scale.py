"""Scale benchmark of the running agent: N services, one HTTP check each, on a 2-core machine.

For each N (default 100, 1000, 5000), in one run:

1. **pantau** — ``pantau run`` (``python -m agent run -c FILE``) with N services probing a fast
   local target (nginx-light on a loopback port, or a small asyncio server when nginx is
   missing), interval 30 s, timeout 10 s. Every second: the agent's CPU (utime + stime of all its
   threads, ``/proc/<pid>/stat``), RSS (``VmRSS``) and ``pantau_scheduler_lag_seconds`` from
   ``/metrics``. At the end: ``VmHWM`` (peak RSS) and the rows of ``rounds`` in the store.
2. **blackbox** — ``prometheus-blackbox-exporter`` (``http_2xx`` module) driven through
   ``/probe`` at the same probe rate (N per interval, spread evenly) and the same concurrency cap,
   for the same duration; its CPU from ``/proc`` (this process, the client, is not counted).

CPU, probes/s and CPU ms/probe count only the window after a warm-up of one interval (start-up
and the first spread of rounds excluded). Scheduler lag (start − due time, semaphore wait
included) comes from every service round in the window: the agent runs under a tiny launcher
(``LAG_SHIM``) that records each ``LagStats.add``. The exported gauge — the p99 of the agent's
last ≤ 4,096 samples (only the latest sample before commit c90145e), read once per scrape — is
shown for comparison; its p50 over the run is the typical recent p99.
``--plain`` runs the literal ``python -m agent run`` and then only the gauge is available.

Only 127.0.0.1 is used; every phase is bounded by ``--duration``; every child process is
stopped in ``finally`` (and gets SIGTERM if this process dies). Usage::

    .venv/bin/python bench/bench_agent_scale.py --services 100,1000,5000 --duration 180
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from benchlib import BLACKBOX_CONF, REPO, child, cpu_seconds, free_port, log_tail, target

from agent.core.durations import parse_duration

# Runs the CLI exactly as ``python -m agent`` does, after wrapping LagStats.add so every lag
# sample is kept with its time and whether it was a service round ("pantau-job-_..." tasks are
# the agent's own jobs). Written at exit; costs one list append per round.
LAG_SHIM = """import asyncio, atexit, json, os, time
from agent.runtime import scheduler
samples, seen = [], []
original = scheduler.LagStats.add
def add(self, lag):
    original(self, lag)
    if not seen:
        seen.append(self)
    task = asyncio.current_task()
    own = task is not None and task.get_name().startswith("pantau-job-_")
    samples.append((time.monotonic(), lag, not own))
scheduler.LagStats.add = add
def dump():
    stats = {"skipped": seen[0].skipped, "runs": seen[0].runs} if seen else {}
    with open(os.environ["PANTAU_BENCH_LAG_FILE"], "w") as out:
        json.dump({"samples": samples, **stats}, out)
atexit.register(dump)
from agent.cli.main import run_cli
run_cli()
"""
SERVICE = """  - id: svc-{i}
    name: Layanan {i}
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: normal
    checks:
      - {{name: web, type: http, url: "{base}svc-{i}"}}
"""


@dataclass
class Side:
    """What one contender did inside the measurement window."""

    cpu_seconds: float = 0.0
    window_seconds: float = 0.0
    probes: int = 0
    failed: int = 0
    peak_rss_mb: float = 0.0

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu_seconds / self.window_seconds if self.window_seconds else 0.0

    @property
    def probes_per_s(self) -> float:
        return self.probes / self.window_seconds if self.window_seconds else 0.0

    @property
    def ms_per_probe(self) -> float:
        return 1000 * self.cpu_seconds / self.probes if self.probes else math.nan


@dataclass
class Result:
    """One N: the agent's figures, blackbox's, and how they were taken."""

    services: int
    concurrency: int
    duration: float
    warmup: float
    pantau: Side = field(default_factory=Side)
    blackbox: Side | None = None
    lag_p50_ms: float = math.nan  # every service round in the window
    lag_p99_ms: float = math.nan
    lag_max_ms: float = math.nan
    gauge_p50_ms: float = math.nan  # quantiles of the /metrics gauge, read once per scrape
    gauge_p99_ms: float = math.nan
    skipped_runs: int = 0
    total_rounds: int = 0
    scrape_ms: float = math.nan  # mean wall time of one /metrics request
    load_before: tuple[float, ...] = ()
    load_after: tuple[float, ...] = ()


def memory_mb(pid: int, key: str) -> float:
    """``VmRSS`` or ``VmHWM`` of ``pid`` in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def code_version() -> str:
    """The commit measured ("-dirty" when the tree has uncommitted changes)."""
    argv = ["git", "-C", str(REPO), "describe", "--always", "--dirty"]
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def loadavg() -> tuple[float, ...]:
    """The 1, 5 and 15 minute load averages (the machine is shared: note them)."""
    return tuple(round(x, 2) for x in os.getloadavg())


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def write_config(path: Path, n: int, base: str, interval: float, concurrency: int) -> str:
    """A katalog of ``n`` services, one HTTP check each on its own path; returns the listen."""
    listen = f"127.0.0.1:{free_port()}"
    head = (
        f'agent: {{name: bench, data_dir: "{path.parent / "data"}", listen: "{listen}",'
        f" max_concurrency: {concurrency}}}\n"
        f"defaults: {{interval: {interval:g}s, timeout: 10s}}\nservices:\n"
    )
    path.write_text(head + "".join(SERVICE.format(i=i, base=base) for i in range(n)))
    return listen


def scrape_gauge(listen: str) -> float | None:
    """``pantau_scheduler_lag_seconds`` from ``/metrics`` (None when the scrape fails)."""
    try:
        with urllib.request.urlopen(f"http://{listen}/metrics", timeout=5) as resp:
            body: bytes = resp.read()
    except OSError:
        return None
    at = body.find(b"\npantau_scheduler_lag_seconds ")
    return None if at < 0 else float(body[at:].split(b"\n", 2)[1].split()[1])


def run_pantau(res: Result, base: str, workdir: Path, interval: float, plain: bool) -> None:
    """Phase 1: the agent for ``res.duration`` seconds; fills ``res``."""
    conf = workdir / "pantau.yaml"
    listen = write_config(conf, res.services, base, interval, res.concurrency)
    lag_file = workdir / "lag.json"
    code = ["-m", "agent"] if plain else ["-c", LAG_SHIM]
    argv = [sys.executable, *code, "run", "-c", str(conf), "--log-level", "warning"]
    env = {**os.environ, "PANTAU_BENCH_LAG_FILE": str(lag_file)}
    gauge: list[float] = []
    scrape_wall: list[float] = []
    with child(argv, int(listen.rsplit(":", 1)[1]), workdir / "agent.log", env) as proc:
        ready = time.monotonic()
        window_start, end = ready + res.warmup, ready + res.duration
        cpu0 = wall0 = None
        mono0 = 0.0
        tick = ready
        while (now := time.monotonic()) < end:
            if proc.poll() is not None:
                raise RuntimeError(f"the agent exited:\n{log_tail(workdir / 'agent.log')}")
            if cpu0 is None and now >= window_start:
                cpu0, wall0, mono0 = cpu_seconds(proc.pid), time.time(), now
            res.pantau.peak_rss_mb = max(res.pantau.peak_rss_mb, memory_mb(proc.pid, "VmRSS"))
            t = time.monotonic()
            value = scrape_gauge(listen)
            scrape_wall.append(time.monotonic() - t)
            if value is not None and now >= window_start:
                gauge.append(value)
            tick += 1.0
            time.sleep(max(0.0, min(tick, end) - time.monotonic()))
        if cpu0 is None or wall0 is None:
            raise RuntimeError("the measurement window never started (duration <= warm-up?)")
        res.pantau.cpu_seconds = cpu_seconds(proc.pid) - cpu0
        wall1, mono1 = time.time(), time.monotonic()
        res.pantau.window_seconds = mono1 - mono0
        res.pantau.peak_rss_mb = max(res.pantau.peak_rss_mb, memory_mb(proc.pid, "VmHWM"))
        proc.send_signal(signal.SIGTERM)  # let it flush the store before we count rounds
        proc.wait(60)
    with contextlib.closing(sqlite3.connect(workdir / "data" / "pantau.db")) as db:
        res.total_rounds = db.execute("SELECT count(*) FROM rounds").fetchone()[0]
        probes, failed = db.execute(
            "SELECT count(*), coalesce(sum(outcome != 'up'), 0) FROM rounds"
            " WHERE started_at >= ? AND started_at < ?",
            (int(wall0 * 1000), int(wall1 * 1000)),
        ).fetchone()
    res.pantau.probes, res.pantau.failed = probes, failed
    res.gauge_p50_ms, res.gauge_p99_ms = (1000 * quantile(gauge, q) for q in (0.5, 0.99))
    res.scrape_ms = 1000 * sum(scrape_wall) / max(1, len(scrape_wall))
    if not plain:
        data = json.loads(lag_file.read_text())
        lags = [lag for at, lag, svc in data["samples"] if svc and mono0 <= at < mono1]
        res.lag_p50_ms, res.lag_p99_ms = (1000 * quantile(lags, q) for q in (0.5, 0.99))
        res.lag_max_ms = 1000 * max(lags, default=math.nan)
        res.skipped_runs = int(data.get("skipped", 0))


async def drive_blackbox(
    res: Result, side: Side, pid: int, port: int, base: str, interval: float
) -> None:
    """Open-loop: probe k is sent at ``k * interval / N`` (N per interval), at most
    ``res.concurrency`` in flight, for ``res.duration`` seconds."""
    loop = asyncio.get_running_loop()
    rate = res.services / interval
    limit = asyncio.Semaphore(res.concurrency)
    connector = aiohttp.TCPConnector(limit=res.concurrency)
    timeout = aiohttp.ClientTimeout(total=15)
    tasks: set[asyncio.Task[None]] = set()
    window: list[float] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(i: int, counted: bool) -> None:
            params = {"module": "http_2xx", "target": f"{base}svc-{i % res.services}"}
            async with limit:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/probe", params=params) as r:
                        ok = "probe_success 1" in await r.text()
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
            if counted:
                side.probes += 1
                side.failed += not ok

        t0 = loop.time()
        for k in range(int(rate * res.duration)):
            due = t0 + k / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            counted = due >= t0 + res.warmup
            if counted and not window:
                window.append(time.monotonic())
                window.append(cpu_seconds(pid))
            task = asyncio.create_task(one(k, counted))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.sleep(max(0.0, t0 + res.duration - loop.time()))
        if tasks:
            await asyncio.wait(set(tasks), timeout=15)
    if window:
        side.window_seconds = time.monotonic() - window[0]
        side.cpu_seconds = cpu_seconds(pid) - window[1]


def run_blackbox(res: Result, base: str, workdir: Path, interval: float) -> None:
    """Phase 2: blackbox_exporter at the same rate and concurrency; fills ``res.blackbox``."""
    binary = shutil.which("prometheus-blackbox-exporter")
    if binary is None:
        print("prometheus-blackbox-exporter not found: no comparison")
        return
    (workdir / "blackbox.yml").write_text(BLACKBOX_CONF)
    port = free_port()
    argv = [
        binary,
        f"--config.file={workdir / 'blackbox.yml'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    side = Side()
    with child(argv, port, workdir / "blackbox.log") as proc:
        asyncio.run(drive_blackbox(res, side, proc.pid, port, base, interval))
        side.peak_rss_mb = memory_mb(proc.pid, "VmHWM")
    res.blackbox = side


def show(res: Result, interval: float) -> None:
    """The table for one N, and the issue's budget verdicts."""
    p, b = res.pantau, res.blackbox
    ratio = p.ms_per_probe / b.ms_per_probe if b and b.probes and b.cpu_seconds else math.nan
    print(
        f"\n== N={res.services} services  (interval {interval:g}s, max_concurrency "
        f"{res.concurrency}, duration {res.duration:g}s, warm-up {res.warmup:g}s)"
    )
    print(f"load average before {res.load_before} after {res.load_after}")
    rows = [
        (
            "lag p50 / p99 / max ms (rounds)",
            f"{res.lag_p50_ms:.1f} / {res.lag_p99_ms:.1f} / {res.lag_max_ms:.1f}",
            "-",
        ),
        ("lag p50 / p99 ms (gauge, 1/s)", f"{res.gauge_p50_ms:.1f} / {res.gauge_p99_ms:.1f}", "-"),
        ("CPU % of one core", f"{p.cpu_pct:.1f}", f"{b.cpu_pct:.1f}" if b else "-"),
        ("peak RSS MB", f"{p.peak_rss_mb:.1f}", f"{b.peak_rss_mb:.1f}" if b else "-"),
        ("probes/s", f"{p.probes_per_s:.1f}", f"{b.probes_per_s:.1f}" if b else "-"),
        (
            "probes in window (failed)",
            f"{p.probes} ({p.failed})",
            f"{b.probes} ({b.failed})" if b else "-",
        ),
        ("CPU ms/probe", f"{p.ms_per_probe:.3f}", f"{b.ms_per_probe:.3f}" if b else "-"),
        ("ratio pantau/blackbox", f"{ratio:.2f}x", ""),
    ]
    print(f"{'':34} {'pantau':>22} {'blackbox':>12}")
    for name, mine, theirs in rows:
        print(f"{name:34} {mine:>22} {theirs:>12}")
    print(
        f"rounds stored in total {res.total_rounds}, skipped runs {res.skipped_runs}, "
        f"mean /metrics scrape {res.scrape_ms:.1f} ms"
    )
    cpu_budget = {1000: 10.0, 5000: 50.0}.get(res.services)
    checks = [
        (
            "lag p99 < 1 s",
            res.lag_p99_ms < 1000 if not math.isnan(res.lag_p99_ms) else res.gauge_p99_ms < 1000,
        ),
        ("CPU/probe <= 2x blackbox", ratio <= 2.0),
    ]
    if cpu_budget is not None:
        checks.append((f"CPU < {cpu_budget:g} % of one core", p.cpu_pct < cpu_budget))
    if res.services == 1000:
        checks.append(("RSS < 100 MB", p.peak_rss_mb < 100))
    print("budget: " + "; ".join(f"{name} {'OK' if ok else 'MISS'}" for name, ok in checks))


def as_json(res: Result) -> dict[str, Any]:
    """``res`` as plain data, with the derived figures of each side."""
    out = asdict(res)
    for name, side in (("pantau", res.pantau), ("blackbox", res.blackbox)):
        if side is not None:
            out[name].update(
                cpu_pct=side.cpu_pct, probes_per_s=side.probes_per_s, ms_per_probe=side.ms_per_probe
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", default="100,1000,5000", help="comma-separated N")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds per phase")
    parser.add_argument("--interval", default="30s", help="probe interval (a duration)")
    parser.add_argument("--concurrency", type=int, help="max_concurrency (default: N/10, 50-1000)")
    parser.add_argument("--plain", action="store_true", help="literal `python -m agent run`")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    interval = parse_duration(args.interval).total_seconds()
    # Warm-up of one interval; shorter runs (smoke tests) keep half of the duration.
    warmup = interval if args.duration >= 2 * interval else args.duration / 2
    print(f"pantau {code_version()}, {os.cpu_count()} CPUs, load average {loadavg()}")
    results = []
    for n in (int(s) for s in args.services.split(",")):
        # N/10 in flight covers 30 % of the targets hanging for the whole 10 s timeout at
        # N/30 rounds per second; a healthy loopback target needs a handful.
        concurrency = args.concurrency or min(1000, max(50, n // 10))
        res = Result(n, concurrency, args.duration, warmup, load_before=loadavg())
        with tempfile.TemporaryDirectory(prefix="pantau-scale-") as tmp:
            work = Path(tmp)
            with target(work) as (base, what):
                print(f"\ntarget: {what} at {base}", flush=True)
                run_pantau(res, base, work, interval, args.plain)
                run_blackbox(res, base, work, interval)
        res.load_after = loadavg()
        show(res, interval)
        results.append(res)
        sys.stdout.flush()
    print(
        f"\n{'N':>6} {'lag p50 ms':>10} {'lag p99 ms':>10} {'CPU %':>6} {'RSS MB':>7}"
        f" {'probes/s':>8} {'ms/probe':>8} {'bb ms/probe':>11} {'ratio':>6}"
    )
    for r in results:
        bb = r.blackbox.ms_per_probe if r.blackbox else math.nan
        print(
            f"{r.services:>6} {r.lag_p50_ms:>10.1f} {r.lag_p99_ms:>10.1f}"
            f" {r.pantau.cpu_pct:>6.1f} {r.pantau.peak_rss_mb:>7.1f}"
            f" {r.pantau.probes_per_s:>8.1f} {r.pantau.ms_per_probe:>8.3f} {bb:>11.3f}"
            f" {r.pantau.ms_per_probe / bb:>6.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps([as_json(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
