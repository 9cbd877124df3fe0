"""Opening the store: settings, migrations, and damaged files (FAULTS row 13)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from agent.core.errors import StoreError
from agent.core.model import Outcome, State, Transition
from agent.store.database import Store
from agent.store.records import BackupRecord
from agent.store.schema import MIGRATIONS, SCHEMA_VERSION, connect, migrate
from tests.fakes import FakeClock
from tests.store.conftest import T0, at, make_round

CORRUPT_NAME = "pantau.db.corrupt-20240901T000000Z"  # the fake clock's T0


def test_fresh_database_has_wal_incremental_vacuum_and_current_schema(store: Store) -> None:
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # 2 = INCREMENTAL
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()
    own = store._db.conn
    assert own.execute("PRAGMA synchronous").fetchone()[0] == 1  # 1 = NORMAL
    assert own.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert own.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_an_old_version_database_is_migrated_forward_keeping_its_data(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "pantau.db"
    conn = connect(path, busy_timeout=1.0)
    assert migrate(conn, MIGRATIONS[:1]) == 1  # the first released schema only
    conn.execute(
        "INSERT INTO transitions (service, at, state, reason) VALUES ('a', ?, 'down', 'x')",
        (1_725_148_800_000,),  # 2024-09-01T00:00Z
    )
    conn.close()

    with Store.open(tmp_path, clock=clock) as store:
        assert store._db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.transitions("a", T0) == [Transition("a", T0, State.DOWN, "x")]
        # tables of later migrations exist and work
        store.drp.record_backup(BackupRecord("a", "push", at(1), "ok", "push"))
        store.hosts.add_sample("local", at(1), {"cpu": 0.5})
        store.incidents.upsert("G-2024-09-0001", "a", T0, None, "mayor", "open", {})
        assert store.drp.last_backup("a") is not None


def test_a_version_4_store_loses_its_unused_meta_table_and_keeps_everything_else(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "pantau.db"
    conn = connect(path, busy_timeout=1.0)
    assert migrate(conn, MIGRATIONS[:4]) == 4  # the schema before the meta table was dropped
    conn.execute("INSERT INTO meta (key, value) VALUES ('agent', 'srv-1')")
    conn.execute(
        "INSERT INTO transitions (service, at, state, reason) VALUES ('a', ?, 'down', 'x')",
        (1_725_148_800_000,),  # 2024-09-01T00:00Z
    )
    conn.execute(
        "INSERT INTO reports (period, generated_at, files) VALUES ('2024-08', ?, '[]')",
        (1_725_148_800_000,),
    )
    conn.close()

    with Store.open(tmp_path, clock=clock) as store:
        tables = {r[0] for r in store._db.query("SELECT name FROM sqlite_master")}
        assert store._db.one("PRAGMA user_version")[0] == SCHEMA_VERSION
        assert "meta" not in tables
        assert "service_meta" in tables  # the used one stays
        assert store.transitions("a", T0) == [Transition("a", T0, State.DOWN, "x")]
        assert store.reports.generated("2024-08") is not None


def test_reopening_a_current_database_changes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    with Store.open(tmp_path, clock=clock) as store:
        store.append_rounds([make_round("a", at(0))])
    with Store.open(tmp_path, clock=clock) as store:
        assert len(store.rounds("a", at(0), at(1))) == 1
        assert store.moved_aside is None
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_a_database_from_a_newer_pantau_is_refused_not_moved(tmp_path: Path) -> None:
    path = tmp_path / "pantau.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(tmp_path)
    assert path.exists()
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "pantau.db")
    conn.execute("CREATE TABLE foreign_stuff (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="another program"):
        Store.open(tmp_path)


def test_a_locked_database_needing_migration_is_an_error_not_corruption(tmp_path: Path) -> None:
    path = tmp_path / "pantau.db"
    conn = connect(path, busy_timeout=1.0)
    migrate(conn, MIGRATIONS[:1])
    conn.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            Store.open(tmp_path, busy_timeout=0.2)
    finally:
        conn.execute("COMMIT")
        conn.close()
    assert not list(tmp_path.glob("*.corrupt-*"))
    with Store.open(tmp_path) as store:  # once the lock is gone, the migration runs
        assert store._db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_empty_file_is_a_valid_empty_database(tmp_path: Path) -> None:
    (tmp_path / "pantau.db").write_bytes(b"")
    with Store.open(tmp_path) as store:
        assert store.moved_aside is None


def test_a_garbage_file_is_moved_aside_with_its_wal_and_a_fresh_db_works(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = b"this is not a database\n" * 100
    (tmp_path / "pantau.db").write_bytes(garbage)
    (tmp_path / "pantau.db-wal").write_bytes(b"stale wal")
    with (
        caplog.at_level(logging.ERROR, logger="pantau.store"),
        Store.open(tmp_path, clock=clock) as store,
    ):
        assert store.moved_aside == tmp_path / CORRUPT_NAME
        assert store.corruptions_total == 1
        store.append_rounds([make_round("a", at(0), Outcome.DOWN, "timeout")])
        assert len(store.rounds("a", at(0), at(1))) == 1
        assert store.integrity_check() == []
    assert (tmp_path / CORRUPT_NAME).read_bytes() == garbage
    assert (tmp_path / f"{CORRUPT_NAME}-wal").read_bytes() == b"stale wal"
    assert any("damaged" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    # a second start the same second does not overwrite the first copy
    (tmp_path / "pantau.db").write_bytes(b"garbage again, long enough to have a header......")
    with Store.open(tmp_path, clock=clock) as store:
        assert store.moved_aside == tmp_path / f"{CORRUPT_NAME}-1"


def test_a_truncated_database_is_moved_aside(tmp_path: Path, clock: FakeClock) -> None:
    with Store.open(tmp_path, clock=clock) as store:
        # ~3000 rounds with 200-byte details: well over a hundred 4 KiB pages
        for chunk in range(3):
            store.append_rounds(
                [
                    make_round(f"s{i % 7}", at(chunk * 1000 + i), detail="x" * 200)
                    for i in range(1000)
                ]
            )
    path = tmp_path / "pantau.db"
    assert (
        not (tmp_path / "pantau.db-wal").exists()
        or (tmp_path / "pantau.db-wal").stat().st_size == 0
    )
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)
    with Store.open(tmp_path, clock=clock) as store:
        assert store.moved_aside == tmp_path / CORRUPT_NAME
        assert store.rounds("s0", at(0), at(10_000)) == []  # the gap reads as no data
        store.append_rounds([make_round("s0", at(5000))])
        assert store.integrity_check() == []
    assert (tmp_path / CORRUPT_NAME).stat().st_size == size // 2


def test_a_cli_style_open_refuses_a_damaged_file_and_leaves_it(tmp_path: Path) -> None:
    (tmp_path / "pantau.db").write_bytes(b"not sqlite at all" * 10)
    with pytest.raises(StoreError, match="damaged"):
        Store.open(tmp_path, quick_check=False, recover_corrupt=False)
    assert (tmp_path / "pantau.db").read_bytes() == b"not sqlite at all" * 10
    assert not list(tmp_path.glob("*.corrupt-*"))
