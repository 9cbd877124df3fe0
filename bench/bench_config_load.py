"""Benchmark: load and validate a katalog of N services (default 2,000).

Run: ``.venv/bin/python bench/bench_config_load.py [N]``. Prints the file size, the best and
median of 5 loads, and peak memory of one load.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from agent.config.loader import load_config

SERVICE = """\
  - id: svc-{i}
    name: Layanan nomor {i}
    description: Layanan contoh untuk pengukuran
    provider: Dinas {d}
    technical_manager: Diskominfo
    group: {group}
    classification: {cls}
    url: https://svc-{i}.example.go.id
    host: local
    checks:
      - {{type: http, url: "https://svc-{i}.example.go.id/health", expect_status: [200], degraded_latency: 2s}}
      - {{type: tcp, address: "10.0.{a}.{b}:5432", impact: minor}}
    rpo: 24h
    rto: 4h
    drp: {{document: DRP-{i}.pdf, last_drill: 2026-06-10}}
    backups:
      - {{type: files, path: "/srv/backup/svc-{i}/*.sql.gz"}}
      - {{type: push}}
    maintenance:
      - {{start: 2026-12-12T22:00:00+07:00, end: 2026-12-13T02:00:00+07:00, reason: "Upgrade"}}
"""


def make_config(n: int) -> str:
    head = "agent: {name: bench, data_dir: /tmp/pantau-bench}\nhosts:\n  - id: local\nservices:\n"
    classes = ["kritis", "esensial", "normal"]
    body = "".join(
        SERVICE.format(
            i=i,
            d=i % 40,
            group="administrasi_pemerintahan",
            cls=classes[i % 3],
            a=i // 250,
            b=i % 250,
        )
        for i in range(n)
    )
    return head + body


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pantau.yaml"
        path.write_text(make_config(n), encoding="utf-8")
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            config = load_config(path)
            times.append(time.perf_counter() - t0)
        assert len(config.services) == n
        tracemalloc.start()
        load_config(path)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = path.stat().st_size
    print(f"services={n} file={size / 1024:.0f} KiB")
    print(
        f"load+validate: best {min(times) * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} ms"
    )
    print(f"peak traced memory during one load: {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
