"""FAULTS row 11: the disk fills up under the store, then space returns."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.store.database import Store
from agent.store.writer import StoreWriter
from tests import smalldisk
from tests.fakes import FakeClock
from tests.store.conftest import at, make_round


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB file system (see :func:`tests.smalldisk.small_disk`)."""
    with smalldisk.small_disk(tmp_path) as mnt:
        yield mnt


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_full_disk_degrades_health_buffers_and_recovers(small_disk: Path, clock: FakeClock) -> None:
    assert shutil.disk_usage(small_disk).total <= 4 * 1024 * 1024
    reader = Store.open(small_disk, clock=clock)
    writer = StoreWriter(
        reader.path,
        clock=clock,
        batch_interval=0.05,
        min_backoff=0.05,
        max_backoff=0.3,
    ).start()
    try:
        writer.append_rounds([make_round("a", at(i)) for i in range(10)])
        assert writer.flush(5.0)
        filler = smalldisk.fill(small_disk)

        # ~300 KB of rounds: far more than the WAL has room for
        expected = 10
        for i in range(100):
            writer.append_rounds(
                [make_round("a", at(10 + i * 5 + j), detail="x" * 500) for j in range(5)]
            )
            expected += 5
        assert _wait(lambda: writer.storage_errors_total > 0, 10.0)
        assert not writer.healthy
        assert "full" in (writer.last_error or "")
        # the database stays readable while writes fail
        assert len(reader.rounds("a", at(0), at(10))) == 10
        assert not writer.flush(0.5)  # nothing lands while the disk is full

        filler.unlink()
        assert writer.flush(15.0)
        assert writer.healthy
        assert len(reader.rounds("a", at(0), at(1000))) == expected  # nothing lost
        assert writer.storage_dropped_total == 0
        assert reader.integrity_check() == []
    finally:
        writer.close(5.0)
        reader.close()
