"""Benchmark: scraping the running agent's ``/metrics`` over HTTP, against node_exporter.

A real ``pantau run`` is started with 100 and then 1,000 services (one HTTP check each against
one fast local target, interval 30 s so probing stays light but real: rounds keep changing
probe durations, so the metrics cache is re-joined between scrapes as in production). Once
every service has had a round, ``/metrics`` is scraped N times on one keep-alive connection,
as Prometheus does, in four ways:

    text            no Accept header                      (Prometheus text 0.0.4)
    text+gzip       Accept-Encoding: gzip
    openmetrics     the Accept header Prometheus 2.x sends (OpenMetrics preferred)
    prometheus      that Accept header + Accept-Encoding: gzip (exactly what Prometheus sends)

Then the text and prometheus ways again, "spaced": a pause between scrapes lets rounds finish,
so (nearly) every scrape renders a changed body, as with a real Prometheus scraping every
15-30 s; back-to-back scrapes mostly get the cached body. "fresh %" says which share of the
scrapes saw a body different from the previous one.

Reported per way: p50/p95 wall latency of one scrape (client side), bytes on the wire, series,
and the agent process's CPU (utime + stime from ``/proc/<pid>/stat``) per scrape and per series.
The agent keeps probing during the scrapes, so its background CPU rate is measured over an idle
window first and subtracted ("net"); the raw figure is printed too. The Debian
``prometheus-node-exporter`` is started on a loopback port and measured the same way.

Budgets (issue "The Prometheus face"): p95 scrape < 50 ms at 1,000 services; CPU per series at
most a quarter of node_exporter's.

Run: ``.venv/bin/python bench/bench_scrape_agent.py [scrapes]`` (default 200, spaced: a fifth of
it; about 3 minutes).
"""

from __future__ import annotations

import gzip
import http.client
import http.server
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
WAYS: tuple[tuple[str, dict[str, str]], ...] = (
    ("text", {}),
    ("text+gzip", {"Accept-Encoding": "gzip"}),
    ("openmetrics", {"Accept": PROMETHEUS_ACCEPT}),
    ("prometheus", {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}),
)
IDLE_WINDOW = 5.0  # seconds of no scraping to measure the agent's background CPU rate


@dataclass
class Row:
    what: str
    series: int
    fresh_pct: float  # scrapes whose body differed from the previous one (re-rendered)
    p50_ms: float
    p95_ms: float
    bytes: int
    cpu_raw_ms: float  # per scrape
    cpu_net_ms: float  # per scrape, background subtracted

    @property
    def net_us_per_series(self) -> float:
        return self.cpu_net_ms * 1000 / self.series


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return kib / 1024


def series_count(text: bytes) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> tuple[bytes, str]:
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    return resp.read(), resp.getheader("Content-Encoding") or ""


def measure(
    pid: int, port: int, label: str, scrapes: int, background: float, gap: float = 0.0
) -> list[Row]:
    """Scrape ``scrapes`` times in every way; ``background`` is the idle CPU rate (s/s).

    With ``gap`` 0 the scrapes follow each other (most hit the rendered-body cache); with a gap,
    rounds finish between scrapes, so (nearly) every scrape renders afresh, as with a real
    Prometheus scraping every 15-30 s. CPU is summed over the scrapes only and the background
    rate times the time spent in them is subtracted ("net").
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    rows = []
    for way, headers in WAYS if not gap else (WAYS[0], WAYS[3]):
        get(conn, "/metrics", headers)  # warm-up (and the first render after a change)
        walls: list[float] = []
        cpu, fresh, previous = 0.0, 0, b""
        body, encoding = b"", ""
        for _ in range(scrapes):
            if gap:
                time.sleep(gap)
            c0, w0 = cpu_seconds(pid), time.perf_counter()
            body, encoding = get(conn, "/metrics", headers)
            walls.append((time.perf_counter() - w0) * 1000)
            cpu += cpu_seconds(pid) - c0
            plain = gzip.decompress(body) if encoding == "gzip" else body
            fresh += plain != previous
            previous = plain
        net = max(0.0, cpu - background * sum(walls) / 1000)
        rows.append(
            Row(
                f"{label} {way}{' spaced' if gap else ''}",
                series_count(previous),
                100 * fresh / scrapes,
                pct(walls, 50),
                pct(walls, 95),
                len(body),
                cpu / scrapes * 1000,
                net / scrapes * 1000,
            )
        )
    conn.close()
    return rows


def idle_rate(pid: int) -> float:
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    time.sleep(IDLE_WINDOW)
    return (cpu_seconds(pid) - c0) / (time.perf_counter() - t0)


class FastTarget:
    """The probed service: answers 200 at once."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def agent_config(workdir: Path, services: int, target_port: int, listen: str) -> Path:
    lines = [
        "agent:",
        "  name: bench-agent",
        f"  data_dir: {workdir / 'data'}",
        f'  listen: "{listen}"',
        "defaults: {interval: 30s, timeout: 5s}",
        "services:",
    ]
    for i in range(services):
        lines += [
            f"  - id: layanan-{i:04d}",
            f"    name: Layanan Daerah {i}",
            "    provider: Dinas Komunikasi dan Informatika",
            "    group: layanan_publik",
            "    classification: esensial",
            "    checks:",
            f'      - {{name: web, type: http, url: "http://127.0.0.1:{target_port}/health"}}',
        ]
    path = workdir / "pantau.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bench_agent(services: int, scrapes: int, spaced: int) -> tuple[list[Row], str]:
    target = FastTarget()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="pantau-bench-") as tmp:
        cfg = agent_config(Path(tmp), services, target.port, f"127.0.0.1:{port}")
        with open(Path(tmp) / "agent.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "-c", str(cfg)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_port(port, proc, 60)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                # Offsets spread the first rounds over one interval (30 s): wait for all.
                deadline = time.monotonic() + 90
                while get(conn, "/metrics", {})[0].count(b"pantau_probe_success{") < services:
                    if time.monotonic() > deadline:
                        raise RuntimeError("not every service had a round within 90 s")
                    time.sleep(1)
                conn.close()
                background = idle_rate(proc.pid)
                label = f"pantau {services} svc"
                rows = measure(proc.pid, port, label, scrapes, background)
                # A round every 30 s / services on average: leave ~2 rounds between scrapes.
                gap = max(0.1, 2 * 30 / services)
                rows += measure(proc.pid, port, label, spaced, background, gap)
                note = (
                    f"pantau {services} svc: background (probing) CPU "
                    f"{background * 100:.1f} % of a core, RSS {rss_mib(proc.pid):.0f} MiB"
                )
            finally:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
                target.close()
    return rows, note


def bench_node_exporter(scrapes: int, spaced: int) -> tuple[list[Row], str]:
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if binary is None:
        return [], "node_exporter not installed (apt-get install prometheus-node-exporter)"
    port = free_port()
    with tempfile.TemporaryDirectory() as textfiles:
        proc = subprocess.Popen(
            [
                binary,
                f"--web.listen-address=127.0.0.1:{port}",
                f"--collector.textfile.directory={textfiles}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port, proc)
            background = idle_rate(proc.pid)
            rows = measure(proc.pid, port, "node_exporter", scrapes, background)
            rows += measure(proc.pid, port, "node_exporter", spaced, background, 0.1)
            note = (
                f"node_exporter: background CPU {background * 100:.1f} % of a core, "
                f"RSS {rss_mib(proc.pid):.0f} MiB"
            )
        finally:
            proc.terminate()
            proc.wait(10)
    return rows, note


def print_table(rows: list[Row]) -> None:
    header = (
        "what",
        "series",
        "fresh %",
        "p50 ms",
        "p95 ms",
        "bytes",
        "CPU ms/scrape raw",
        "CPU ms/scrape net",
        "CPU µs/series net",
    )
    cells = [header] + [
        (
            r.what,
            str(r.series),
            f"{r.fresh_pct:.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p95_ms:.2f}",
            f"{r.bytes:,}",
            f"{r.cpu_raw_ms:.3f}",
            f"{r.cpu_net_ms:.3f}",
            f"{r.net_us_per_series:.3f}",
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for c in cells:
        print(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(c, widths, strict=True))
            )
        )


def verdict(rows: list[Row]) -> list[str]:
    by = {r.what: r for r in rows}
    out = []
    worst = max((r for r in rows if r.what.startswith("pantau 1000 svc")), key=lambda r: r.p95_ms)
    out.append(
        f"p95 at 1,000 services, worst way ({worst.what}): {worst.p95_ms:.2f} ms "
        f"(budget < 50 ms): {'OK' if worst.p95_ms < 50 else 'OVER'}"
    )
    for ours in rows:
        if not ours.what.startswith("pantau 1000 svc "):
            continue
        way = ours.what.removeprefix("pantau 1000 svc ")
        theirs = by.get(f"node_exporter {way}")
        if theirs is None or theirs.net_us_per_series == 0:
            continue
        ratio = ours.net_us_per_series / theirs.net_us_per_series
        out.append(
            f"CPU/series {way}: pantau {ours.net_us_per_series:.3f} µs vs node_exporter "
            f"{theirs.net_us_per_series:.3f} µs = {ratio:.3f}× (budget ≤ 0.25): "
            f"{'OK' if ratio <= 0.25 else 'OVER'}"
        )
    return out


def main() -> None:
    scrapes = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    spaced = max(10, scrapes // 5)
    rows: list[Row] = []
    notes: list[str] = []
    for services in (100, 1000):
        r, note = bench_agent(services, scrapes, spaced)
        rows += r
        notes.append(note)
    r, note = bench_node_exporter(scrapes, spaced)
    rows += r
    notes.append(note)
    print_table(rows)
    print()
    for line in notes + verdict(rows):
        print(line)
    print(
        f"\n{scrapes} scrapes per row on one keep-alive connection; latency is client-side "
        "wall time; 'net' CPU subtracts the process's idle-window CPU rate "
        f"({IDLE_WINDOW:g} s, no scrapes)."
    )


if __name__ == "__main__":
    main()
