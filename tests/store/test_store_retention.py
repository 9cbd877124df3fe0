"""Retention (SPEC §4) and FAULTS row 14: retention + vacuum while writes go on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from agent.core.model import State, Transition
from agent.store.database import Store
from agent.store.records import BackupRecord, DrillRecord, FsUsage
from agent.store.writer import StoreWriter
from tests.fakes import FakeClock
from tests.store.conftest import at, make_round


def _day(d: float) -> object:
    return at(days=d)


def test_retention_keeps_raw_rounds_35_days_and_history_13_months(store: Store) -> None:
    now = at(days=500)  # raw cut: day 465; long cut (400 days): day 100
    store.append_rounds([make_round("a", at(days=400)), make_round("a", at(days=400.5))])
    store.append_rounds([make_round("a", at(days=470)), make_round("a", at(days=499))])
    store.append_transitions(
        [
            Transition("a", at(days=10), State.UP),
            Transition("a", at(days=50), State.DOWN),
            Transition("a", at(days=60), State.UP),
            Transition("a", at(days=480), State.DOWN),
            Transition("b", at(days=5), State.UP),
        ]
    )
    store.hosts.add_sample("h", at(days=50), {"cpu": 0.1}, {"/": FsUsage(1, 2)})
    store.hosts.add_sample("h", at(days=200), {"cpu": 0.2}, {"/": FsUsage(1, 2)})
    store.incidents.upsert("G-1", "a", at(days=40), at(days=50), "mayor", "closed", {})
    store.incidents.add_audit("G-1", at(days=41), "ack")
    store.incidents.upsert("G-2", "a", at(days=20), None, "minor", "open", {})
    store.incidents.upsert("G-3", "a", at(days=140), at(days=150), "mayor", "closed", {})
    for day, status in ((10, "ok"), (20, "ok"), (30, "failed")):
        store.drp.record_backup(BackupRecord("a", "files", at(days=day), status, "observed"))
    store.drp.record_backup(BackupRecord("b", "push", at(days=50), "failed", "push"))
    store.drp.record_backup(BackupRecord("b", "push", at(days=200), "ok", "push"))
    store.drp.record_drill(DrillRecord("a", at(days=10), None, None, "manual", False, {}))
    store.drp.record_drill(DrillRecord("a", at(days=20), at(days=20), None, "manual", True, {}))

    result = store.apply_retention(now)

    assert result.rounds_deleted == 2  # the two rounds of day 400
    # transitions 2 (days 10, 50) + host 1 + fs 1 + incident 1 + backups 3 + drill 1
    assert result.long_deleted == 9
    assert [r.started_at for r in store.rounds("a", at(0), now)] == [
        at(days=470),
        at(days=499),
    ]
    assert store.first_round_at("a") == at(days=400)  # "dipantau sejak" survives
    # the state at the long cut is still known: UP since day 60
    assert store.transitions("a", at(days=100), now) == [
        Transition("a", at(days=60), State.UP),
        Transition("a", at(days=480), State.DOWN),
    ]
    assert store.transitions("b", at(days=100)) == [Transition("b", at(days=5), State.UP)]
    assert [b.start for b in store.hosts.series("h", at(0), now)] == [at(days=200)]
    assert [p.start for p in store.hosts.fs_series("h", "/", at(0), now)] == [at(days=200)]
    assert [i.id for i in store.incidents.overlapping()] == ["G-2", "G-3"]
    assert store.incidents.audit("G-1") == []  # went with its incident
    assert [(b.finished_at, b.status) for b in store.drp.backups("a")] == [(at(days=20), "ok")]
    assert [b.finished_at for b in store.drp.backups("b")] == [at(days=200)]
    assert [d.started_at for d in store.drp.drills("a")] == [at(days=20)]


def _fill_old_rounds(store: Store, n: int, day: float) -> None:
    for chunk in range(0, n, 1000):
        store.append_rounds(
            [
                make_round(f"s{i % 20}", at(i / 60, days=day), detail="x" * 200)
                for i in range(chunk, min(n, chunk + 1000))
            ]
        )


def _db_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_retention_while_writing_loses_nothing_and_shrinks_the_file(
    tmp_path: Path, clock: FakeClock
) -> None:
    now = at(days=100)
    with Store.open(tmp_path, clock=clock) as seed:
        _fill_old_rounds(seed, 20_000, day=10)  # ~6 MB of rounds 90 days old
    path = tmp_path / "pantau.db"
    before = _db_bytes(path)
    assert before > 5_000_000

    writer = StoreWriter(path, clock=clock, batch_interval=0.02).start()
    submitted = 0

    def probing() -> None:  # 300 rounds over ~1.5 s, while retention runs
        nonlocal submitted
        for i in range(300):
            writer.append_rounds([make_round("live", at(i, days=99))])
            submitted += 1
            time.sleep(0.005)

    prober = threading.Thread(target=probing)
    prober.start()
    with Store.open(tmp_path, clock=clock) as maint:
        result = maint.apply_retention(now, batch_size=500)
    prober.join(30)
    assert writer.flush(10.0)
    assert writer.close(5.0)
    assert result.rounds_deleted == 20_000
    assert result.pages_freed > 1000
    assert (writer.storage_errors_total, writer.storage_dropped_total) == (0, 0)

    with Store.open(tmp_path, clock=clock) as store:
        assert len(store.rounds("live", at(0), now)) == submitted == 300
        assert store.rounds("s0", at(0), now) == []
        assert store.integrity_check() == []
    after = _db_bytes(path)
    assert after < before / 4, (before, after)


def test_file_size_stays_bounded_over_repeated_retention_cycles(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "pantau.db"
    sizes = []
    with Store.open(tmp_path, clock=clock) as store:
        for cycle in range(4):
            # each "month" writes 5 000 rounds; retention then drops the previous month's
            _fill_old_rounds(store, 5_000, day=40 * cycle)
            store.apply_retention(at(days=40 * cycle + 36))
            sizes.append(_db_bytes(path))
    # the file does not grow with the number of cycles: deleted pages are handed back/reused
    assert max(sizes[1:]) <= sizes[0] * 1.25, sizes
