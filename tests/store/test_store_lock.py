"""FAULTS row 12: another process holds the write lock; writes wait or buffer, none is lost."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.core.model import State, Transition
from agent.store.database import Store
from agent.store.writer import StoreWriter
from tests.fakes import FakeClock
from tests.store.conftest import at, make_round

HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@contextmanager
def _locked_by_another_process(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.wait(seconds + 10)
        if proc.stdout is not None:
            proc.stdout.close()


def _submit_for(writer: StoreWriter, seconds: float, start: int) -> int:
    """Submit a round every 0.1 s for ``seconds`` (like probing goes on); return how many."""
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        writer.append_rounds([make_round("a", at(start + n))])
        n += 1
        time.sleep(0.1)
    return n


def test_writes_wait_for_a_short_lock_within_busy_timeout(tmp_path: Path, clock: FakeClock) -> None:
    reader = Store.open(tmp_path, clock=clock)
    writer = StoreWriter(reader.path, clock=clock, busy_timeout=5.0, batch_interval=0.05).start()
    try:
        with _locked_by_another_process(reader.path, 2.5):
            n = _submit_for(writer, 1.0, 0)
            assert reader.rounds("a", at(0), at(100)) == []  # still held back by the lock
        assert writer.flush(10.0)
        assert len(reader.rounds("a", at(0), at(100))) == n
        assert writer.storage_errors_total == 0  # busy_timeout covered the wait
        assert writer.healthy
    finally:
        writer.close(5.0)
        reader.close()


def test_a_lock_longer_than_busy_timeout_buffers_and_loses_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    reader = Store.open(tmp_path, clock=clock)
    writer = StoreWriter(
        reader.path,
        clock=clock,
        busy_timeout=0.5,
        batch_interval=0.05,
        min_backoff=0.1,
        max_backoff=0.5,
    ).start()
    try:
        writer.append_transitions([Transition("a", at(0), State.UP)])
        assert writer.flush(5.0)
        with _locked_by_another_process(reader.path, 3.0) as holder:
            n = _submit_for(writer, 2.0, 1)
            writer.append_transitions([Transition("a", at(5), State.DOWN, "timeout")])
            assert writer.storage_errors_total >= 1
            assert not writer.healthy
            assert "locked" in (writer.last_error or "")
            # readers are not blocked by another writer in WAL mode
            assert reader.transitions("a", at(0)) == [Transition("a", at(0), State.UP)]
            holder.wait(10)
        assert writer.flush(10.0)
        assert writer.healthy
        assert len(reader.rounds("a", at(0), at(1000))) == n
        # the store only ever holds what it was given: no invented downtime or unknown
        assert reader.transitions("a", at(0)) == [
            Transition("a", at(0), State.UP),
            Transition("a", at(5), State.DOWN, "timeout"),
        ]
    finally:
        writer.close(5.0)
        reader.close()
