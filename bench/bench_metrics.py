"""Benchmark: /metrics rendering of MetricsCache against node_exporter and prometheus_client.

For 100 and 1,000 services (5 checks — 3 http with TLS, 2 tcp — and 2 backup sources each,
one host) the cache is filled, then for each of N scrapes every service is updated (untimed:
the worst case, every family dirty, as when the whole katalog was probed between two scrapes)
and ``render()`` is timed. Reported: p50/p95 render time, bytes, gzip bytes, CPU µs per series
for plain, gzip and OpenMetrics, and the update-time CPU per update call (the work moved out
of the scrape). For context, the same data built as prometheus_client metric families at
scrape time (a custom collector + ``generate_latest``) is timed too.

node_exporter (the Debian ``prometheus-node-exporter``) is started on a loopback port with an
empty textfile directory and scraped N times plain, with ``Accept-Encoding: gzip`` and with
the OpenMetrics ``Accept`` header; its CPU comes from ``/proc/<pid>/stat`` (utime + stime) and
is divided by its series count.

Run: ``.venv/bin/python bench/bench_metrics.py [scrapes]`` (default 200).
"""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from exporters.metrics import MetricsCache

CHECKS = (("web", "http"), ("api", "http"), ("sso", "http"), ("db", "tcp"), ("cache", "tcp"))
SOURCES = ("dump", "push")
NOW = 1_767_225_600.0
OM_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def fill(cache: MetricsCache, services: int, tick: int) -> None:
    """One round of every service (values change with ``tick`` so every line is re-rendered)."""
    for i in range(services):
        sid = f"layanan-{i:04d}"
        cache.update_service(
            sid, state="up" if (i + tick) % 17 else "down", availability_ratio=0.99 + tick * 1e-6,
            target_ratio=0.995, downtime_seconds_total=60.0 * tick, outage_seconds=0.0,
            rto_seconds=14400, rpo_seconds=86400, rto_breached=False, rpo_breached=False,
            backup_age_seconds=3600.0 + tick, flapping=False,
            last_drill_timestamp_seconds=NOW - 86400 * 30, drill_overdue=False,
        )  # fmt: skip
        for check, kind in CHECKS:
            cache.update_probe(
                sid, check, kind, success=True, duration_seconds=0.05 + tick * 1e-4,
                http_status_code=200 if kind == "http" else None,
                tls_expiry_ts=NOW + 86400 * 60 if kind == "http" else None,
            )  # fmt: skip
        for source in SOURCES:
            cache.update_backup(sid, source, NOW - 3600 - tick)
    cache.update_host(
        "local", cpu_ratio=0.2, memory_ratio=0.5, filesystems={"/": 0.4, "/var": 0.6},
        receive_bytes_total={"eth0": 1e9 + tick}, transmit_bytes_total={"eth0": 2e9 + tick},
    )  # fmt: skip
    cache.set_agent(scheduler_lag_seconds=0.01 * (tick % 5))


def new_cache(services: int) -> MetricsCache:
    cache = MetricsCache()
    cache.set_agent(version="0.1.0", config_reload_successful=True,
                    config_reload_success_timestamp=NOW)  # fmt: skip
    for i in range(services):
        cache.set_service_info(f"layanan-{i:04d}", name=f"Layanan Daerah {i}", provider="Dinas",
                               group="layanan_publik", classification="esensial")  # fmt: skip
    cache.set_incidents_open({})
    fill(cache, services, 0)
    return cache


def series_count(text: bytes) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def time_renders(
    cache: MetricsCache, services: int, scrapes: int, render: Callable[[], bytes]
) -> tuple[list[float], float, bytes]:
    """Wall-clock per render (ms) and total CPU (s) of the renders only."""
    walls, cpu, out = [], 0.0, b""
    for tick in range(1, scrapes + 1):
        fill(cache, services, tick)  # untimed: the agent's work between two scrapes
        c0, w0 = time.process_time(), time.perf_counter()
        out = render()
        walls.append((time.perf_counter() - w0) * 1000)
        cpu += time.process_time() - c0
    return walls, cpu, out


class _ScrapeTimeCollector(Collector):
    """The same data as prometheus_client metric objects built at scrape time."""

    def __init__(self, services: int) -> None:
        self.services = services

    def collect(self) -> list[Metric]:
        ids = [f"layanan-{i:04d}" for i in range(self.services)]
        out: list[Metric] = []
        for name in ("pantau_service_up", "pantau_service_availability_ratio",
                     "pantau_service_availability_target_ratio", "pantau_service_outage_duration_seconds",
                     "pantau_service_rto_seconds", "pantau_service_rpo_seconds",
                     "pantau_service_rto_breached", "pantau_backup_age_seconds",
                     "pantau_backup_rpo_breached", "pantau_service_flapping",
                     "pantau_drp_last_drill_timestamp_seconds", "pantau_drp_drill_overdue"):  # fmt: skip
            g = GaugeMetricFamily(name, "help", labels=["service"])
            for sid in ids:
                g.add_metric([sid], 1.0)
            out.append(g)
        state = GaugeMetricFamily("pantau_service_state", "help", labels=["service", "state"])
        for sid in ids:
            for st in ("up", "degraded", "down", "maintenance", "unknown"):
                state.add_metric([sid, st], float(st == "up"))
        out.append(state)
        c = CounterMetricFamily("pantau_service_downtime_seconds", "help", labels=["service"])
        for sid in ids:
            c.add_metric([sid], 60.0)
        out.append(c)
        for name in ("pantau_probe_success", "pantau_probe_duration_seconds"):
            g = GaugeMetricFamily(name, "help", labels=["service", "check", "type"])
            for sid in ids:
                for check, kind in CHECKS:
                    g.add_metric([sid, check, kind], 0.05)
            out.append(g)
        for name in (
            "pantau_probe_http_status_code",
            "pantau_probe_tls_cert_expiry_timestamp_seconds",
        ):
            g = GaugeMetricFamily(name, "help", labels=["service", "check"])
            for sid in ids:
                for check, kind in CHECKS:
                    if kind == "http":
                        g.add_metric([sid, check], 200.0)
            out.append(g)
        e = CounterMetricFamily("pantau_probe_errors", "help", labels=["service", "check"])
        for sid in ids:
            for check, _ in CHECKS:
                e.add_metric([sid, check], 0.0)
        out.append(e)
        for name in ("pantau_backup_last_success_timestamp_seconds", "pantau_backup_source_up"):
            g = GaugeMetricFamily(name, "help", labels=["service", "source"])
            for sid in ids:
                for source in SOURCES:
                    g.add_metric([sid, source], NOW)
            out.append(g)
        return out


def bench_cache(services: int, scrapes: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    cache = new_cache(services)
    for label, render in (
        ("plain", lambda: cache.render()),
        ("gzip", lambda: cache.render(compress=True)),
        ("openmetrics", lambda: cache.render(openmetrics=True)),
    ):
        walls, cpu, out = time_renders(cache, services, scrapes, render)
        plain = gzip.decompress(out) if label == "gzip" else out
        n = series_count(plain)
        rows.append((f"pantau {services} svc {label}", str(n), f"{pct(walls, 50):.2f}",
                     f"{pct(walls, 95):.2f}", f"{len(out):,}", f"{len(gzip.compress(plain, 6)):,}",
                     f"{cpu / scrapes / n * 1e6:.3f}"))  # fmt: skip
    # Update-time cost: what the agent pays per changed entity instead of at scrape time.
    rounds = 20
    c0 = time.process_time()
    for tick in range(rounds):
        fill(cache, services, 1000 + tick)
    spent = time.process_time() - c0
    calls = rounds * services * (1 + len(CHECKS) + len(SOURCES))
    per_series = spent / rounds / series_count(cache.render()) * 1e6
    rows.append((f"  updates, all {services} svc", "", "", "", "", f"{spent / calls * 1e6:.2f} µs/call",
                 f"{per_series:.3f}"))  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ScrapeTimeCollector(services))
    walls, cpu = [], 0.0
    for _ in range(max(10, scrapes // 10)):
        c0, w0 = time.process_time(), time.perf_counter()
        out = generate_latest(registry)
        walls.append((time.perf_counter() - w0) * 1000)
        cpu += time.process_time() - c0
    n = series_count(out)
    rows.append((f"prometheus_client {services} svc", str(n), f"{pct(walls, 50):.2f}",
                 f"{pct(walls, 95):.2f}", f"{len(out):,}", f"{len(gzip.compress(out, 6)):,}",
                 f"{cpu / len(walls) / n * 1e6:.3f}"))  # fmt: skip
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def bench_node_exporter(scrapes: int) -> list[tuple[str, ...]]:
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if binary is None:
        return [("node_exporter not installed", "", "", "", "", "", "")]
    port = _free_port()
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as textfiles:
        proc = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}",
             f"--collector.textfile.directory={textfiles}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for label, headers in (
                ("plain", {}),
                ("gzip", {"Accept-Encoding": "gzip"}),
                ("openmetrics", {"Accept": OM_ACCEPT}),
            ):
                walls, body = [], b""
                conn.request("GET", "/metrics", headers=headers)  # warm-up
                conn.getresponse().read()
                c0 = _cpu_seconds(proc.pid)
                for _ in range(scrapes):
                    w0 = time.perf_counter()
                    conn.request("GET", "/metrics", headers=headers)
                    resp = conn.getresponse()
                    body = resp.read()
                    walls.append((time.perf_counter() - w0) * 1000)
                cpu = _cpu_seconds(proc.pid) - c0
                plain = (
                    gzip.decompress(body) if resp.getheader("Content-Encoding") == "gzip" else body
                )
                n = series_count(plain)
                rows.append((f"node_exporter {label}", str(n), f"{pct(walls, 50):.2f}",
                             f"{pct(walls, 95):.2f}", f"{len(body):,}",
                             f"{len(gzip.compress(plain, 6)):,}",
                             f"{cpu / scrapes / n * 1e6:.3f}"))  # fmt: skip
            conn.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return rows


def main() -> None:
    scrapes = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    header = ("what", "series", "p50 ms", "p95 ms", "bytes", "gzip bytes", "CPU µs/series")
    rows: list[tuple[str, ...]] = [header]
    for services in (100, 1000):
        rows += bench_cache(services, scrapes)
    rows += bench_node_exporter(scrapes)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    print(
        f"\n{scrapes} scrapes each. pantau rows time render() only; every service was updated "
        "(untimed) before each render. 'updates' rows: CPU of updating every service once, per "
        "call and per exported series (paid once per probe round, not per scrape)."
    )


if __name__ == "__main__":
    main()
