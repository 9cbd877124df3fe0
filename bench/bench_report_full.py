"""Benchmark: the whole monthly report from a real store — 500 services × 13 months of history.

Run from the repository root::

    .venv/bin/python bench/bench_report_full.py                 # build, then measure
    .venv/bin/python bench/bench_report_full.py --keep DIR      # keep the built store in DIR
    .venv/bin/python bench/bench_report_full.py --reuse DIR     # measure an existing store again
    .venv/bin/python bench/bench_report_full.py --profile       # cProfile of the report phase

**History** (bounded: ``--services``, ``--months``, ``--hosts``), written through the real
``agent.store.database.Store`` API: per service a synthetic episode timeline (about one gangguan every
five days, 30 % Minor, durations log-normal around 12 min, and now and then a flapping burst
of 3–8 short outages within an hour), agent-wide stops (one per month, 5 min – 3 h: an
``unknown`` transition ``stale_after`` after the last round, ``resumed`` at the next), the
gangguan tickets made from those transitions by the real engine
(``episodes_from_transitions`` → ``sync_incidents`` → ``write_ticket``, a third of the Mayor
ones given a cause, 1 % reclassified), daily backups with occasional failures for services
with an RPO, a restore drill per quarter, and host samples for ``--hosts`` hosts every 5 min
(cpu, mem, two filesystems, rx/tx). Raw rounds are not written for every minute (the report
reads only each service's first and last round time, kept in ``service_meta``): one round at
the start and one at the end per service set those. Its time is printed separately.

**Report** (in a child process, so its peak RSS is its own): ``build_report`` for the last
month (which also reads the 12-month trend), then ``write_csv``, then ``write_pdf``.
Budgets (issue "The monthly Formulir"): CSV (build + write) < 10 s, PDF (build + write)
< 60 s, peak RSS < 500 MB. Exits 1 when one is exceeded.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from agent.config.katalog import all_settings
from agent.config.loader import parse_config
from agent.config.models import Config
from agent.core.model import Outcome, Round, State, Transition
from agent.core.periods import month_bounds, previous_months
from agent.engine.episodes import episodes_from_transitions
from agent.engine.incidents import IncidentSettings, reclassify, set_cause, sync_incidents
from agent.reports.builder import build_report
from agent.runtime.incident_tracker import FLAP_WINDOW, write_ticket
from agent.store.database import Store
from agent.store.records import BackupRecord, DrillRecord, FsUsage
from exporters.csv_report import write_csv
from exporters.pdf.report import write_pdf

WIB = ZoneInfo("Asia/Jakarta")
YEAR, MONTH = 2025, 9  # the reported month; history covers the 13 months ending with it
BUDGET_CSV_S, BUDGET_PDF_S, BUDGET_PEAK_MB = 10.0, 60.0, 500.0
STALE = timedelta(seconds=130)  # 2 × 60 s + 10 s
GIB = 1024**3
CLASSES = ("kritis", "esensial", "normal")
GROUPS = ("layanan_publik", "administrasi_pemerintahan")
CAUSES = ("Server aplikasi mati", "Jaringan putus", "Database penuh", "Sertifikat TLS kedaluwarsa")


class FixedClock:
    """The store is opened "at" the end of the generated history."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at

    def monotonic(self) -> float:
        return time.monotonic()


def katalog(n: int, hosts: int) -> Config:
    """``n`` services on ``hosts`` hosts (every tenth without one), parsed by the loader."""
    services = []
    for i in range(n):
        cls, group = CLASSES[i % 3], GROUPS[(i // 3) % 2]
        svc: dict[str, Any] = {
            "id": f"svc-{i:04d}",
            "name": f"Layanan Elektronik Nomor {i}",
            "provider": f"Dinas {i % 40}",
            "technical_manager": "Diskominfo",
            "group": group,
            "classification": cls,
            "url": f"https://svc-{i}.magelangkota.go.id",
            "checks": [{"type": "http", "url": f"https://svc-{i}.magelangkota.go.id/health"}],
            "capacity_plan": "Penambahan disk pada Triwulan IV" if i % 7 == 0 else "",
        }
        if i % 10 != 9:
            svc["host"] = f"srv-{i % hosts}"
        if cls == "kritis" or i % 4 == 0:
            svc |= {"rpo": "24h", "rto": "4h", "drp": {"document": f"DRP-{i}.pdf"}}
            svc["backups"] = [{"type": "push"}]
        if i % 10 == 0:
            svc["maintenance"] = [
                {"start": "2025-09-13T22:00:00", "end": "2025-09-14T02:00:00", "reason": "Patch"},
                {"start": "2025-10-11T22:00:00", "end": "2025-10-12T01:00:00", "reason": "OS"},
            ]
        services.append(svc)
    doc = {
        "agent": {"name": "srv-bench", "timezone": "Asia/Jakarta", "data_dir": "/nonexistent"},
        "defaults": {"interval": "60s", "timeout": "10s"},
        "fulfilment_targets": {"layanan_publik": {"normal": "96h"}},
        "hosts": [
            {"id": f"srv-{h}", "filesystems": ["/", "/var"], "interfaces": ["eth0"]}
            | {"link_capacity_mbps": 100}
            for h in range(hosts)
        ],
        "services": services,
    }
    return parse_config(yaml.safe_dump(doc, sort_keys=False), "bench.yaml")


def episode_timeline(
    rng: random.Random, start: datetime, end: datetime
) -> list[tuple[datetime, State, str]]:
    """Bad/up changes of one service: episodes about every 5 days, some flapping bursts."""
    out: list[tuple[datetime, State, str]] = []
    t = start + timedelta(days=rng.expovariate(1 / 5))
    while t < end:
        if rng.random() < 0.1:  # flapping: 3–8 short outages within the hour
            for _ in range(rng.randint(3, 8)):
                out.append((t, State.DOWN, "http-0:connection_refused"))
                t += timedelta(minutes=rng.randint(1, 3))
                out.append((t, State.UP, ""))
                t += timedelta(minutes=rng.randint(1, 5))
        else:
            minor = rng.random() < 0.3
            minutes = min(max(rng.lognormvariate(math.log(12), 1.2), 2), 480)
            state = State.DEGRADED if minor else State.DOWN
            out.append((t, state, "http-0:slow" if minor else "http-0:http_status:503"))
            t += timedelta(minutes=round(minutes))
            out.append((t, State.UP, ""))
        t += timedelta(days=rng.expovariate(1 / 5))
    return [e for e in out if e[0] < end]


def with_gaps(
    service: str,
    changes: list[tuple[datetime, State, str]],
    start: datetime,
    gaps: list[tuple[datetime, datetime]],
) -> list[Transition]:
    """The machine's transitions: ``unknown`` during agent stops, ``resumed`` after them."""
    out = [Transition(service, start, State.UP, "")]
    state, k = State.UP, 0
    for g0, g1 in gaps:
        while k < len(changes) and changes[k][0] <= g0:
            at, state, why = changes[k]
            out.append(Transition(service, at, state, why))
            k += 1
        out.append(Transition(service, g0 + STALE, State.UNKNOWN, "no_data"))
        while k < len(changes) and changes[k][0] < g1:
            state = changes[k][1]  # what happened while nobody was looking
            k += 1
        out.append(Transition(service, g1, state, "resumed"))
    out += [Transition(service, at, st, why) for at, st, why in changes[k:]]
    return out


def build(data_dir: Path, config: Config, seed: int) -> dict[str, float]:
    """Write the history; return counts and the time each part took."""
    rng = random.Random(seed)
    start, _ = month_bounds(*previous_months(YEAR, MONTH, 13)[0], WIB)
    _, end = month_bounds(YEAR, MONTH, WIB)
    gaps = []
    for y, m in previous_months(YEAR, MONTH, 13):
        m0, _ = month_bounds(y, m, WIB)
        g0 = m0 + timedelta(days=rng.uniform(1, 27))
        gaps.append((g0, g0 + timedelta(minutes=rng.randint(5, 180))))
    settings = all_settings(config)
    incident_settings = IncidentSettings(config.agent.name, WIB, settings)
    figures: dict[str, float] = {}
    clock = FixedClock(end)
    with Store.open(data_dir, clock=clock) as store:
        t0 = time.monotonic()
        last_ids: dict[str, str] = {}
        n_tr = n_tickets = 0
        for sid in settings:
            transitions = with_gaps(sid, episode_timeline(rng, start, end), start, gaps)
            tickets = sync_incidents(
                [],
                episodes_from_transitions(transitions, flap_window=FLAP_WINDOW),
                incident_settings,
                now=end,
                last_ids=list(last_ids.values()),
            )
            with store.transaction():
                store.append_rounds(
                    Round(sid, at, Outcome.UP, ()) for at in (start, end - timedelta(minutes=1))
                )
                store.append_transitions(transitions)
                for g in tickets:
                    if g.impact.value == "major" and rng.random() < 0.33:
                        g = set_cause(g, g.start + timedelta(hours=2), rng.choice(CAUSES), "ops")
                    elif rng.random() < 0.01:
                        g = reclassify(g, g.start + timedelta(hours=1), "false_positive", "probe")
                    write_ticket(store, g)
                    prefix = g.id.rpartition("-")[0]
                    last_ids[prefix] = max(last_ids.get(prefix, g.id), g.id)
            n_tr += len(transitions)
            n_tickets += len(tickets)
        figures |= {"transitions": n_tr, "tickets": n_tickets, "t_services": time.monotonic() - t0}

        t0, n_backups = time.monotonic(), 0
        with store.transaction():
            for sid, st in settings.items():
                if not st.service.backups:
                    continue
                day = start + timedelta(hours=19, minutes=rng.randint(0, 59))  # ~02:00 WIB
                while day < end:
                    status = "failed" if rng.random() < 0.02 else "ok"
                    store.drp.record_backup(BackupRecord(sid, "push-0", day, status, "push"))
                    day += timedelta(days=1)
                    n_backups += 1
                for q in range(0, 13, 3):
                    at = start + timedelta(days=30 * q + rng.uniform(0, 25))
                    restored = at + timedelta(minutes=rng.randint(30, 300))
                    store.drp.record_drill(
                        DrillRecord(sid, at, restored, at - timedelta(hours=6), "manual", True, {})
                    )
        figures |= {"backups": n_backups, "t_backups": time.monotonic() - t0}

        t0, n_samples = time.monotonic(), 0
        for host in config.hosts:
            at, used = start, [40 * GIB, 200 * GIB]
            while at < end:
                with store.transaction():  # a day at a time, as the writer batches
                    day_end = min(at + timedelta(days=1), end)
                    while at < day_end:
                        if any(g0 < at < g1 for g0, g1 in gaps):
                            at += timedelta(minutes=5)
                            continue
                        hour = at.astimezone(WIB).hour
                        busy = 0.35 if 8 <= hour < 16 else 0.0
                        used = [used[0] + rng.randint(0, 2_000_000), used[1] + 4_000_000]
                        store.hosts.add_sample(
                            host.id,
                            at,
                            {
                                "cpu": min(1.0, 0.15 + busy + rng.random() * 0.3),
                                "mem": 0.5 + busy / 2 + rng.random() * 0.1,
                                "fs:/": used[0] / (100 * GIB),
                                "fs:/var": used[1] / (1000 * GIB),
                                "rx:eth0": 5 + busy * 60 + rng.random() * 10,
                                "tx:eth0": 2 + busy * 20 + rng.random() * 5,
                            },
                            {
                                "/": FsUsage(used[0], 100 * GIB),
                                "/var": FsUsage(used[1], 1000 * GIB),
                            },
                        )
                        n_samples += 1
                        at += timedelta(minutes=5)
        figures |= {"host_samples": n_samples, "t_hosts": time.monotonic() - t0}
    return figures


def measure(data_dir: Path, config: Config, profile: bool) -> dict[str, Any]:
    """The report phase: build_report, CSV, PDF; times, sizes and this process's peak RSS."""
    _, end = month_bounds(YEAR, MONTH, WIB)
    now = end + timedelta(hours=1)  # 1 Oct 01:00 WIB: when the agent writes it
    profiler = cProfile.Profile() if profile else None
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with (
        Store.open(data_dir, quick_check=False, recover_corrupt=False) as store,
        tempfile.TemporaryDirectory() as tmp,
    ):
        if profiler:
            profiler.enable()
        t0, c0 = time.monotonic(), time.process_time()
        report = build_report(store, config, YEAR, MONTH, now)
        t_build, c_build = time.monotonic() - t0, time.process_time() - c0
        t0 = time.monotonic()
        csv_path = write_csv(report, Path(tmp) / "r.csv")
        t_csv = time.monotonic() - t0
        t0, c0 = time.monotonic(), time.process_time()
        pdf_path = write_pdf(report, Path(tmp) / "r.pdf")
        t_pdf, c_pdf = time.monotonic() - t0, time.process_time() - c0
        if profiler:
            profiler.disable()
        pdf = pdf_path.read_bytes()
        result = {
            "t_build": t_build,
            "cpu_build": c_build,
            "t_csv": t_csv,
            "t_pdf": t_pdf,
            "cpu_pdf": c_pdf,
            "csv_kb": csv_path.stat().st_size / 1e3,
            "pdf_mb": len(pdf) / 1e6,
            "pages": pdf.count(b"/Type /Page\n"),
            "gangguan": sum(s.incident_count for s in report.services),
            "rss_before_mb": rss_before,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=500)
    ap.add_argument("--hosts", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20250930)
    ap.add_argument("--keep", type=Path, help="build the store in this (new) directory, keep it")
    ap.add_argument("--reuse", type=Path, help="measure the store already built in this directory")
    ap.add_argument("--profile", action="store_true", help="cProfile the report phase (stderr)")
    ap.add_argument("--measure-only", type=Path, help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    config = katalog(args.services, args.hosts)
    if args.measure_only:
        print(json.dumps(measure(args.measure_only, config, args.profile)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.reuse or args.keep or Path(tmp)
        if args.reuse is None:
            data_dir.mkdir(parents=True, exist_ok=True)
            t0 = time.monotonic()
            built = build(data_dir, config, args.seed)
            size = (data_dir / "pantau.db").stat().st_size / 1e6
            print(
                f"history: {args.services} services × 13 months, {built['transitions']:.0f} "
                f"transitions, {built['tickets']:.0f} tickets, {built['backups']:.0f} backups, "
                f"{built['host_samples']:.0f} host samples ({args.hosts} hosts); db {size:.0f} MB"
            )
            print(
                f"  built in {time.monotonic() - t0:.1f} s (services+tickets "
                f"{built['t_services']:.1f} s, backups {built['t_backups']:.1f} s, "
                f"hosts {built['t_hosts']:.1f} s)"
            )
        child = subprocess.run(
            [sys.executable, __file__, "--services", str(args.services), "--hosts",
             str(args.hosts), "--measure-only", str(data_dir)]
            + (["--profile"] if args.profile else []),
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        if args.profile:
            print(child.stderr)
    r = json.loads(child.stdout)
    csv_total, pdf_total = r["t_build"] + r["t_csv"], r["t_build"] + r["t_pdf"]
    print(f"report {YEAR}-{MONTH:02d}: {args.services} services, {r['gangguan']} gangguan")
    print(f"  build_report {r['t_build']:6.2f} s wall ({r['cpu_build']:.2f} s CPU)")
    print(f"  write_csv    {r['t_csv']:6.2f} s ({r['csv_kb']:.0f} kB)")
    print(
        f"  write_pdf    {r['t_pdf']:6.2f} s wall ({r['cpu_pdf']:.2f} s CPU, {r['pages']} pages, "
        f"{r['pdf_mb']:.1f} MB)"
    )
    print(f"  CSV total    {csv_total:6.2f} s   budget {BUDGET_CSV_S:.0f} s")
    print(f"  PDF total    {pdf_total:6.2f} s   budget {BUDGET_PDF_S:.0f} s")
    print(
        f"  peak RSS     {r['peak_rss_mb']:6.1f} MB (at start {r['rss_before_mb']:.1f} MB)   "
        f"budget {BUDGET_PEAK_MB:.0f} MB"
    )
    over = csv_total > BUDGET_CSV_S or pdf_total > BUDGET_PDF_S or r["peak_rss_mb"] > BUDGET_PEAK_MB
    print("OVER BUDGET" if over else "within budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
