"""Benchmark of the SQLite store: writer throughput, size on disk, query and maintenance times.

Run: ``.venv/bin/python bench/bench_store.py [--services 1000] [--rounds 100000]``

Figures printed:

- sustained rounds/s through :class:`~agent.store.writer.StoreWriter` (one op per service
  round, as the agent submits them) for ``--services`` services at a 30 s interval;
- bytes on disk per raw round, and per service-month (30 days × 2 880 rounds);
- bytes per transition and per host-month of 5-minute aggregates (6 metric keys);
- time to read one service's month of rounds / transitions and a host metric's month summary;
- time of ``PRAGMA quick_check`` at open and of retention over the generated data.

Everything happens in a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.core.model import CheckOutcome, Outcome, Round, State, Transition
from agent.store.database import Store
from agent.store.records import FsUsage
from agent.store.writer import StoreWriter

T0 = datetime(2024, 9, 1, tzinfo=UTC)
INTERVAL = timedelta(seconds=30)
MONTH_ROUNDS = 30 * 24 * 120  # 30 days at one round per 30 s = 86 400
MONTH_BUCKETS = 30 * 24 * 12  # 5-minute buckets in 30 days = 8 640
HOST_KEYS = ("cpu", "mem", "fs:/", "fs:/var", "rx:eth0", "tx:eth0")


def make_round(service: str, at: datetime, i: int) -> Round:
    """A realistic round: an https check and a tcp check, one failure in 50."""
    bad = i % 50 == 0
    outcome = Outcome.DOWN if bad else Outcome.UP
    return Round(
        service=service,
        started_at=at,
        outcome=outcome,
        reasons=("http-0:http_status:503",) if bad else (),
        checks=(
            CheckOutcome(
                "http-0",
                "http",
                outcome,
                "http_status:503" if bad else "",
                0.0834 + (i % 17) / 1000,
                503 if bad else 200,
                T0 + timedelta(days=60),
            ),
            CheckOutcome("tcp-1", "tcp", Outcome.UP, "", 0.0012),
        ),
    )


def db_bytes(path: Path) -> int:
    """Main file plus WAL."""
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def checkpoint(path: Path) -> None:
    """Fold the WAL into the main file so sizes compare."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def bench_writer(path: Path, services: int, total: int) -> None:
    per_service = max(1, total // services)
    writer = StoreWriter(path).start()
    size0 = db_bytes(path)
    started = time.monotonic()
    n = 0
    for k in range(per_service):
        at = T0 + k * INTERVAL
        for s in range(services):
            writer.append_rounds([make_round(f"svc{s:04d}", at, k)])
            n += 1
        while writer.queue_depth > 5000:  # backpressure instead of letting rounds drop
            time.sleep(0.005)
    writer.flush(600)
    elapsed = time.monotonic() - started
    writer.close()
    checkpoint(path)
    per_round = (db_bytes(path) - size0) / n
    print(
        f"writer: {n} rounds of {services} services in {elapsed:.2f} s = {n / elapsed:,.0f} rounds/s"
    )
    print(f"  needed for {services} services at 30 s: {services / 30:,.1f} rounds/s")
    print(f"  dropped {writer.storage_dropped_total}, errors {writer.storage_errors_total}")
    print(f"raw rounds: {per_round:.0f} B/round (2 checks, with indexes)")
    print(
        f"  = {per_round * MONTH_ROUNDS / 1e6:.1f} MB per service-month; "
        f"{per_round * MONTH_ROUNDS * 35 / 30 * services / 1e9:.1f} GB for {services} services "
        "at 35-day retention"
    )


def bench_month_service(path: Path) -> None:
    """One service with a full month of rounds, transitions and one host's aggregates."""
    with Store.open_file(path) as store:
        batch: list[Round] = []
        for k in range(MONTH_ROUNDS):
            batch.append(make_round("month", T0 + k * INTERVAL, k))
            if len(batch) == 5000:
                store.append_rounds(batch)
                batch = []
        store.append_rounds(batch)

        checkpoint(path)
        size0 = db_bytes(path)
        n_trans = 2000
        states = (State.DOWN, State.UP)
        store.append_transitions(
            Transition("month", T0 + timedelta(minutes=20 * i), states[i % 2], "http-0:timeout")
            for i in range(n_trans)
        )
        checkpoint(path)
        per_transition = (db_bytes(path) - size0) / n_trans

        size0 = db_bytes(path)
        with store.transaction():
            for b in range(MONTH_BUCKETS):
                at = T0 + timedelta(minutes=5 * b)
                values = {key: 0.1 + (b % 97) / 200 for key in HOST_KEYS}
                store.hosts.add_sample("local", at, values, {"/": FsUsage(b * 1000, 10**10)})
        checkpoint(path)
        per_host_month = db_bytes(path) - size0
        print(f"transitions: {per_transition:.0f} B each")
        print(
            f"host aggregates: {per_host_month / 1e6:.2f} MB per host-month "
            f"({len(HOST_KEYS)} keys + 1 filesystem, {MONTH_BUCKETS} buckets)"
        )

        end = T0 + timedelta(days=30)
        for label, call in (
            ("rounds(month)", lambda: len(store.rounds("month", T0, end))),
            ("transitions(month)", lambda: len(store.transitions("month", T0, end))),
            ("host_summary(cpu, month)", lambda: store.hosts.summary("local", "cpu", T0, end)),
            ("host_series(month, all keys)", lambda: len(store.hosts.series("local", T0, end))),
        ):
            started = time.monotonic()
            result = call()
            ms = (time.monotonic() - started) * 1000
            shown = result if isinstance(result, int) else "1 summary"
            print(f"query {label}: {ms:.1f} ms ({shown})")


def bench_maintenance(path: Path) -> None:
    size = db_bytes(path)
    started = time.monotonic()
    Store.open_file(path).close()  # includes PRAGMA quick_check
    print(f"open with quick_check: {time.monotonic() - started:.2f} s for {size / 1e6:.0f} MB")
    with Store.open_file(path, quick_check=False) as store:
        started = time.monotonic()
        result = store.apply_retention(T0 + timedelta(days=50))
        elapsed = time.monotonic() - started
    checkpoint(path)
    print(
        f"retention: deleted {result.rounds_deleted} rounds, freed {result.pages_freed} pages "
        f"in {elapsed:.2f} s; file {size / 1e6:.0f} MB → {db_bytes(path) / 1e6:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pantau-bench-") as tmp:
        path = Path(tmp) / "pantau.db"
        Store.open_file(path).close()
        bench_writer(path, args.services, args.rounds)
        bench_month_service(path)
        bench_maintenance(path)


if __name__ == "__main__":
    main()
