"""The writer thread: batching, drop policy, coalescing, rejected ops, drain on close."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.core.errors import StoreError
from agent.core.model import State, Transition
from agent.store.database import Store
from agent.store.queue import OpKind, WriteOp
from agent.store.records import BackupRecord, BackupState, DrillRecord, FsUsage
from agent.store.writer import StoreWriter
from tests.fakes import FakeClock
from tests.store.conftest import at, make_round


@pytest.fixture
def db(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    """The agent's read connection (it also creates the schema, as at start-up)."""
    s = Store.open(tmp_path, clock=clock)
    yield s
    s.close()


def _writer(db: Store, clock: FakeClock, **kw: Any) -> StoreWriter:
    kw.setdefault("batch_interval", 0.05)  # short windows keep the tests quick
    return StoreWriter(db.path, clock=clock, **kw)


def test_every_kind_of_write_lands_after_flush(db: Store, clock: FakeClock) -> None:
    w = _writer(db, clock).start()
    try:
        w.append_rounds([make_round("a", at(i)) for i in range(3)])
        w.append_transitions([Transition("a", at(0), State.UP)])
        w.save_machine_states({"a": {"confirmed": "up"}})
        w.add_host_sample("local", at(0), {"cpu": 0.5}, {"/": FsUsage(1, 2)})
        w.upsert_incident("G-2024-09-0001", "a", at(0), None, "mayor", "open", {"k": "v"})
        w.add_audit("G-2024-09-0001", at(1), "ack", "ok")
        w.record_backup(BackupRecord("a", "push", at(0), "ok", "push"))
        w.save_backup_state(BackupState("a", "push", at(0), "", at(1)))
        w.record_drill(DrillRecord("a", at(0), at(5), at(-60), "manual", True, {}))
        assert w.flush(5.0)
    finally:
        assert w.close(5.0)
    assert len(db.rounds("a", at(0), at(10))) == 3
    assert db.transitions("a", at(0)) == [Transition("a", at(0), State.UP)]
    assert db.load_machine_states() == {"a": {"confirmed": "up"}}
    assert db.hosts.summary("local", "cpu", at(0), at(5)) is not None
    assert len(db.hosts.fs_series("local", "/", at(0), at(5))) == 1
    assert [e.action for e in db.incidents.audit("G-2024-09-0001")] == ["ack"]
    assert db.drp.last_backup("a") is not None
    assert len(db.drp.load_backup_state("a")) == 1
    assert len(db.drp.drills("a")) == 1
    assert (w.written_total, w.storage_errors_total, w.healthy) == (9, 0, True)


def test_a_lone_write_lands_after_the_batch_window_without_flush(
    db: Store, clock: FakeClock
) -> None:
    w = _writer(db, clock, batch_interval=0.2).start()
    try:
        w.append_rounds([make_round("a", at(0))])
        deadline = time.monotonic() + 5.0
        while not db.rounds("a", at(0), at(1)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(db.rounds("a", at(0), at(1))) == 1
    finally:
        w.close(5.0)


def test_a_full_queue_drops_the_oldest_rounds_never_transitions(
    db: Store, clock: FakeClock
) -> None:
    w = _writer(db, clock, max_queue=4)  # not started: nothing drains yet
    w.append_rounds([make_round("a", at(0)), make_round("a", at(1))])  # one op, 2 rows
    w.append_transitions([Transition("a", at(0), State.DOWN)])
    w.add_host_sample("h", at(0), {"cpu": 1.0})
    w.append_rounds([make_round("a", at(2))])  # queue now full: [R0-1, T0, H, R2]
    w.append_rounds([make_round("a", at(3))])  # drops R0-1 (2 rows) → [T0, H, R2, R3]
    w.append_transitions([Transition("a", at(4), State.UP)])  # drops R2 → [T0, H, R3, T4]
    assert w.storage_dropped_total == 3
    w.append_transitions([Transition("a", at(5), State.DOWN)])  # drops R3 → [T0, H, T4, T5]
    w.append_transitions([Transition("a", at(6), State.UP)])  # no rounds left: drops H
    w.append_transitions([Transition("a", at(7), State.DOWN)])  # only must-keep ops: accepted
    assert w.storage_dropped_total == 2 + 1 + 1 + 1  # rows: R0-1, R2, R3, H
    assert [op.kind for op in w._queue] == [OpKind.TRANSITIONS] * 5
    w.start()
    assert w.close(5.0)
    assert db.rounds("a", at(0), at(10)) == []
    assert [t.at for t in db.transitions("a", at(0))] == [at(0), at(4), at(5), at(6), at(7)]
    assert db.hosts.summary("h", "cpu", at(0), at(5)) is None


def test_machine_state_saves_coalesce_behind_earlier_transitions(
    db: Store, clock: FakeClock
) -> None:
    w = _writer(db, clock)
    w.save_machine_states({"a": {"v": 1}})
    w.append_transitions([Transition("a", at(0), State.DOWN)])
    w.save_machine_states({"b": {"v": 2}})
    w.save_machine_states({"a": {"v": 3}})
    assert [op.kind for op in w._queue] == [OpKind.TRANSITIONS, OpKind.MACHINE_STATES]
    assert list(w._queue)[-1].payload == {"a": {"v": 3}, "b": {"v": 2}}
    w.start()
    assert w.flush(5.0)
    w.save_machine_states({"b": {"v": 4}})  # the earlier op was written: a fresh one
    assert w.close(5.0)
    assert db.load_machine_states() == {"a": {"v": 3}, "b": {"v": 4}}


def test_an_op_that_can_never_succeed_is_skipped_and_the_rest_lands(
    db: Store, clock: FakeClock
) -> None:
    def boom(_: Store) -> None:
        raise RuntimeError("bug in an op")

    w = _writer(db, clock, batch_interval=0.5)
    w.append_rounds([make_round("a", at(0))])
    w.add_audit("G-2099-01-0001", at(0), "ack")  # no such incident: foreign key violation
    w.submit(WriteOp(OpKind.OTHER, boom))
    w.append_rounds([make_round("a", at(1))])
    w.start()
    try:
        assert w.flush(5.0)
    finally:
        w.close(5.0)
    assert len(db.rounds("a", at(0), at(10))) == 2
    assert (w.storage_rejected_total, w.written_total, w.healthy) == (2, 2, True)


def test_close_drains_and_later_submits_are_refused(db: Store, clock: FakeClock) -> None:
    w = _writer(db, clock, batch_interval=10.0).start()  # a long window: close must cut it
    for i in range(50):
        w.append_rounds([make_round("a", at(i))])
    started = time.monotonic()
    assert w.close(5.0)
    assert time.monotonic() - started < 5.0
    assert len(db.rounds("a", at(0), at(100))) == 50
    with pytest.raises(StoreError, match="closed"):
        w.append_rounds([make_round("a", at(99))])


def test_close_gives_up_when_writes_keep_failing(db: Store, clock: FakeClock) -> None:
    blocker = sqlite3.connect(db.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    w = _writer(db, clock, busy_timeout=0.1, min_backoff=0.05, max_backoff=0.1).start()
    try:
        w.append_rounds([make_round("a", at(0))])
        assert not w.flush(0.5)
        assert not w.close(1.0)
        assert w.storage_errors_total >= 1
        assert not w.healthy
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
