"""The reading commands' open (``read_only``): no writes, and a read on a full disk."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.core.errors import NoStoreError, StoreError
from agent.store.database import DB_FILENAME, Store
from agent.store.lock import DataDirLock
from tests import smalldisk
from tests.fakes import FakeClock
from tests.store.conftest import at, make_round


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with smalldisk.small_disk(tmp_path) as mnt:
        yield mnt


def _write(data_dir: Path, clock: FakeClock, n: int) -> None:
    """``n`` rounds, then a clean close: the WAL is checkpointed and removed."""
    with Store.open(data_dir, clock=clock) as store:
        store.append_rounds([make_round("a", at(i)) for i in range(n)])


def test_a_reading_open_refuses_writes(tmp_path: Path, clock: FakeClock) -> None:
    _write(tmp_path, clock, 3)
    with Store.open(tmp_path, read_only=True, clock=clock) as reader:
        assert len(reader.rounds("a", at(0), at(10))) == 3
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.append_rounds([make_round("a", at(5))])


def test_a_reading_open_never_creates_a_store(tmp_path: Path, clock: FakeClock) -> None:
    with pytest.raises(NoStoreError, match="no store"):
        Store.open(tmp_path, read_only=True, clock=clock)
    assert not (tmp_path / DB_FILENAME).exists()


def test_a_full_disk_is_read_as_a_snapshot_of_the_closed_store(
    small_disk: Path, clock: FakeClock
) -> None:
    data = small_disk / "data"
    _write(data, clock, 50)
    assert not Path(f"{data / DB_FILENAME}-wal").exists()
    smalldisk.fill(small_disk)
    with pytest.raises(StoreError, match=r"disk I/O error|full"):
        Store.open(data, quick_check=False, recover_corrupt=False, create=False, clock=clock)
    with Store.open(data, read_only=True, clock=clock) as reader:
        assert len(reader.rounds("a", at(0), at(100))) == 50
        assert reader.first_round_at("a") == at(0)


def test_a_snapshot_is_refused_while_an_agent_holds_the_data_dir(
    small_disk: Path, clock: FakeClock
) -> None:
    data = small_disk / "data"
    _write(data, clock, 5)
    with DataDirLock.acquire(data):
        smalldisk.fill(small_disk)
        with pytest.raises(StoreError, match="an agent is writing it"):
            Store.open(data, read_only=True, clock=clock)


def test_a_snapshot_is_refused_when_the_wal_holds_transactions(
    tmp_path: Path, small_disk: Path, clock: FakeClock
) -> None:
    """A WAL whose frames are not in the database file (a crash) and no room for the -shm:
    an immutable read would silently miss them, so the command says what to free."""
    src = tmp_path / "src"
    src.mkdir()
    db = src / DB_FILENAME
    _write(src, clock, 5)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute(
        "INSERT INTO rounds (service, started_at, outcome, reasons, checks) "
        "VALUES ('a', 0, 'up', '[]', '[]')"
    )
    data = small_disk / "data"
    data.mkdir()
    shutil.copy(db, data / DB_FILENAME)  # as a crash leaves them, without the -shm
    shutil.copy(f"{db}-wal", f"{data / DB_FILENAME}-wal")
    conn.close()
    smalldisk.fill(small_disk)
    with pytest.raises(StoreError, match=r"write-ahead log .* holds \d+ bytes"):
        Store.open(data, read_only=True, clock=clock)
