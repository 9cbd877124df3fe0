"""Round-trips of every Store API on a real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.core.model import CheckOutcome, Outcome, Round, State, Transition
from agent.engine.statemachine import MachineState, StateMachine
from agent.store.database import Store
from agent.store.hosts import bucket_start
from agent.store.records import BackupRecord, BackupState, DrillRecord, FsUsage, from_ms, to_ms
from tests.fakes import FakeClock
from tests.store.conftest import T0, at, make_round


def test_times_are_epoch_milliseconds_and_come_back_aware_utc() -> None:
    jakarta = datetime(2024, 9, 1, 7, 0, 0, 123456, tzinfo=ZoneInfo("Asia/Jakarta"))
    # 2024-09-01T00:00:00.123 UTC = 1_725_148_800 s after the epoch, plus 123 ms
    assert to_ms(jakarta) == 1_725_148_800_123
    back = from_ms(to_ms(jakarta))
    assert back == jakarta.replace(microsecond=123000)
    assert back.tzinfo is UTC


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.append_rounds([make_round("a", datetime(2024, 9, 1))])  # noqa: DTZ001


def test_rounds_round_trip_with_all_fields(store: Store) -> None:
    expiry = datetime(2025, 1, 1, tzinfo=UTC)
    full = Round(
        service="sipd",
        started_at=at(1),
        outcome=Outcome.DOWN,
        reasons=("http-0:http_status:503", "tcp-1:timeout"),
        checks=(
            CheckOutcome("http-0", "http", Outcome.DOWN, "http_status:503", 0.25, 503, expiry, "x"),
            CheckOutcome("tcp-1", "tcp", Outcome.DOWN, "timeout", 10.0),
        ),
        agent_isolated=True,
    )
    store.append_rounds([make_round("sipd", at(0)), full, make_round("sipd", at(2))])
    store.append_rounds([make_round("other", at(1))])
    # [start, end): the round at minute 2 is excluded, minute 0 included
    assert store.rounds("sipd", at(0), at(2)) == [make_round("sipd", at(0)), full]
    assert store.rounds("sipd", at(3), at(10)) == []


def test_first_and_last_round_are_kept_per_service(store: Store) -> None:
    assert store.first_round_at("a") is None
    store.append_rounds([make_round("a", at(5)), make_round("b", at(7))])
    store.append_rounds([make_round("a", at(1)), make_round("a", at(9))])
    assert store.first_round_at("a") == at(1)
    assert store.last_round_at("a") == at(9)
    assert store.last_round_at("b") == at(7)
    assert store.services() == ["a", "b"]


def test_transitions_include_the_last_one_before_start(store: Store) -> None:
    ts = [
        Transition("a", at(0), State.UP),
        Transition("a", at(10), State.DOWN, "timeout"),
        Transition("a", at(20), State.UNKNOWN, "no_data"),
        Transition("a", at(20), State.DOWN, "resumed"),  # same instant: insertion order counts
        Transition("a", at(30), State.UP),
    ]
    store.append_transitions(ts)
    store.append_transitions([Transition("b", at(15), State.DOWN)])
    # state at minute 15 is the DOWN from minute 10; minute 30 is outside [15, 30)
    assert store.transitions("a", at(15), at(30)) == ts[1:4]
    # start exactly on a transition: it is in range, and the one before it is prepended
    assert store.transitions("a", at(10), at(11)) == ts[0:2]
    assert store.transitions("a", at(-5), at(1)) == ts[0:1]
    assert store.transitions("a", at(25)) == [ts[3], ts[4]]
    assert store.last_transition("a") == ts[4]
    assert store.last_transition("zzz") is None


def test_machine_states_round_trip_through_the_state_machine(store: Store) -> None:
    machine = StateMachine("a", 2, 1, timedelta(seconds=70))
    machine.feed(make_round("a", at(0)))
    machine.feed(make_round("a", at(0.5), Outcome.DOWN, "timeout"))
    store.save_machine_states({"a": machine.state.to_json(), "b": MachineState().to_json()})
    store.save_machine_states({"b": {"confirmed": "up", "since": None}})
    loaded = store.load_machine_states()
    assert MachineState.from_json(loaded["a"]) == machine.state
    assert loaded["b"] == {"confirmed": "up", "since": None}
    assert store.machine_state_updated_at("a") == T0  # the fake clock's now


def test_host_samples_fold_into_five_minute_buckets(store: Store) -> None:
    store.hosts.add_sample("local", at(0) + timedelta(seconds=10), {"cpu": 0.5, "mem": 0.25})
    store.hosts.add_sample("local", at(4.9), {"cpu": 0.1})
    store.hosts.add_sample("local", at(2), {"cpu": 0.9, "bad": float("nan")})  # older than 4.9
    store.hosts.add_sample("local", at(5), {"cpu": 0.3})  # next bucket starts at minute 5
    series = store.hosts.series("local", at(0), at(10))
    assert [(b.key, b.start) for b in series] == [
        ("cpu", at(0)),
        ("mem", at(0)),
        ("cpu", at(5)),
    ]
    cpu0 = series[0]
    assert (cpu0.count, cpu0.min, cpu0.max) == (3, 0.1, 0.9)
    assert cpu0.sum == pytest.approx(1.5)  # 0.5 + 0.1 + 0.9
    assert cpu0.avg == pytest.approx(0.5)  # 1.5 / 3
    assert cpu0.last == 0.1  # the newest sample by time (minute 4.9), not the last written
    assert store.hosts.series("local", at(0), at(10), key="mem")[0].sum == 0.25
    assert store.hosts.keys("local") == ["cpu", "mem"]  # NaN was skipped
    assert bucket_start(at(7.5)) == at(5)


def test_host_summary_average_p95_and_max_by_hand(store: Store) -> None:
    # 20 buckets i = 0..19, each with samples i and i+2 (bucket mean i+1); bucket 0 also
    # gets a sample of 100, so its mean is (0 + 2 + 100) / 3 = 34.
    for i in range(20):
        base = at(5 * i)
        store.hosts.add_sample("h", base, {"cpu": float(i)})
        store.hosts.add_sample("h", base + timedelta(minutes=1), {"cpu": float(i + 2)})
    store.hosts.add_sample("h", at(2), {"cpu": 100.0})
    summary = store.hosts.summary("h", "cpu", at(0), at(100))
    assert summary is not None
    # samples: sum = Σ(i + i+2) + 100 = 2·190 + 40 + 100 = 520 over 41 samples
    assert summary.avg == pytest.approx(520 / 41)
    # bucket means sorted: 2, 3, ..., 20, 34; nearest rank ⌈0.95·20⌉ = 19 → 20
    assert summary.p95 == 20.0
    assert summary.max == 100.0
    assert (summary.buckets, summary.samples) == (20, 41)
    # [start, end) in buckets: minutes 50..95 are buckets 10..19, means 11..20 → rank 10 → 20
    later = store.hosts.summary("h", "cpu", at(50), at(100))
    assert later is not None
    assert later.p95 == 20.0
    assert later.avg == pytest.approx(sum(2 * i + 2 for i in range(10, 20)) / 20)
    assert store.hosts.summary("h", "cpu", at(200), at(300)) is None


def test_filesystem_usage_keeps_the_latest_reading_per_bucket(store: Store) -> None:
    store.hosts.add_sample("h", at(1), {"fs:/var": 0.5}, {"/var": FsUsage(50, 100)})
    store.hosts.add_sample("h", at(3), {"fs:/var": 0.6}, {"/var": FsUsage(60, 100)})
    store.hosts.add_sample("h", at(2), {"fs:/var": 0.55}, {"/var": FsUsage(55, 100)})  # late
    store.hosts.add_sample("h", at(6), {}, {"/var": FsUsage(70, 100)})
    points = store.hosts.fs_series("h", "/var", at(0), at(10))
    assert [(p.start, p.used_bytes, p.total_bytes) for p in points] == [
        (at(0), 60, 100),
        (at(5), 70, 100),
    ]


def test_incidents_upsert_query_overlap_and_audit(store: Store, clock: FakeClock) -> None:
    store.incidents.upsert("G-2024-09-0001", "a", at(0), at(30), "mayor", "closed", {"n": 1})
    store.incidents.upsert("G-2024-09-0002", "a", at(100), None, "minor", "open", {"n": 2})
    store.incidents.upsert("G-2024-09-0003", "b", at(50), at(60), "mayor", "closed", {})
    clock.advance(60)
    store.incidents.upsert("G-2024-09-0002", "a", at(100), at(200), "mayor", "resolved", {"n": 3})
    got = store.incidents.get("G-2024-09-0002")
    assert got is not None
    assert (got.end, got.impact, got.status, got.blob) == (at(200), "mayor", "resolved", {"n": 3})
    assert got.updated_at == T0 + timedelta(seconds=60)
    assert store.incidents.get("nope") is None
    # [20, 55): #1 ends at 30 (overlaps), #3 starts at 50 (overlaps), #2 starts at 100 (no)
    assert [i.id for i in store.incidents.overlapping(start=at(20), end=at(55))] == [
        "G-2024-09-0001",
        "G-2024-09-0003",
    ]
    # an incident ending exactly at start does not overlap
    assert [i.id for i in store.incidents.overlapping("a", at(30), at(99))] == []
    assert [i.id for i in store.incidents.overlapping("a")] == ["G-2024-09-0001", "G-2024-09-0002"]
    store.incidents.upsert("G-2024-09-0004", "c", at(300), None, "minor", "open", {})
    assert [i.id for i in store.incidents.overlapping(start=at(1000), end=at(2000))] == [
        "G-2024-09-0004"
    ]
    assert store.incidents.last_id("G-2024-09-") == "G-2024-09-0004"
    assert store.incidents.last_id("G-2024-10-") is None

    store.incidents.add_audit("G-2024-09-0001", at(5), "ack", "operator budi")
    store.incidents.add_audit("G-2024-09-0001", at(2), "note", "first")
    assert [(e.at, e.action) for e in store.incidents.audit("G-2024-09-0001")] == [
        (at(2), "note"),
        (at(5), "ack"),
    ]
    with pytest.raises(sqlite3.IntegrityError):
        store.incidents.add_audit("G-1999-01-0001", at(0), "ack")  # foreign key: no such incident


def test_backups_dedupe_and_newest_success_across_sources(store: Store) -> None:
    store.drp.record_backup(BackupRecord("a", "files", at(0), "ok", "observed", 100))
    store.drp.record_backup(BackupRecord("a", "files", at(0), "ok", "observed", None))  # seen again
    store.drp.record_backup(BackupRecord("a", "restic", at(60), "ok", "observed", 200))
    store.drp.record_backup(BackupRecord("a", "push", at(90), "failed", "push"))
    store.drp.record_backup(BackupRecord("b", "push", at(120), "ok", "push"))
    rows = store.drp.backups("a")
    assert [(b.source, b.finished_at, b.size_bytes) for b in rows] == [
        ("files", at(0), 100),  # the repeat kept the known size
        ("restic", at(60), 200),
        ("push", at(90), None),
    ]
    assert rows[0].recorded_at == T0
    assert [b.source for b in store.drp.backups("a", at(1), at(90))] == ["restic"]
    last = store.drp.last_backup("a")
    assert last is not None
    assert (last.source, last.finished_at, last.ok) == ("restic", at(60), True)  # failed skipped
    before = store.drp.last_backup("a", before=at(60))
    assert before is not None
    assert before.source == "files"
    assert store.drp.last_backup("zzz") is None
    one = store.drp.last_backup("a", source="files")  # one source: `pantau status` per source
    assert one is not None
    assert one.finished_at == at(0)
    assert store.drp.last_backup("a", source="push") is None  # its only backup failed


def test_latest_host_readings_are_the_newest_sample_of_each_recent_key(store: Store) -> None:
    assert store.hosts.latest("h") == []
    store.hosts.add_sample("h", at(0), {"cpu": 0.1, "fs:/old": 0.9})
    store.hosts.add_sample("h", at(100), {"cpu": 0.2, "fs:/": 0.5, "rx:eth0": 3.0})
    store.hosts.add_sample("h", at(101), {"cpu": 0.3})
    store.hosts.add_sample("h", at(100.5), {"cpu": 0.25})  # late: not the newest
    store.hosts.add_sample("other", at(200), {"cpu": 0.99})
    got = {r.key: (r.value, r.at) for r in store.hosts.latest("h")}
    # /old was last sampled 100 minutes before the newest bucket: older than the 1 h window
    assert got == {"cpu": (0.3, at(101)), "fs:/": (0.5, at(100)), "rx:eth0": (3.0, at(100))}
    wide = store.hosts.latest("h", window=timedelta(hours=2))
    assert {r.key for r in wide} == {"cpu", "fs:/", "fs:/old", "rx:eth0"}


def test_backup_state_round_trip(store: Store) -> None:
    s1 = BackupState("a", "restic", at(0), "", at(1))
    s2 = BackupState("a", "files", None, "no file matches", at(2))
    store.drp.save_backup_state(s1)
    store.drp.save_backup_state(s2)
    store.drp.save_backup_state(BackupState("a", "restic", at(3), "", at(4)))
    assert store.drp.load_backup_state("a") == [s2, BackupState("a", "restic", at(3), "", at(4))]
    assert store.drp.load_backup_state("b") == []


def test_drills_round_trip(store: Store) -> None:
    d = DrillRecord("a", at(0), at(42), at(-600), "automated", True, {"snapshot": "ab12"})
    failed = DrillRecord("a", at(100), None, None, "manual", False, {})
    first = store.drp.record_drill(d)
    second = store.drp.record_drill(failed)
    assert second > first
    got = store.drp.drills("a")
    assert got == [
        DrillRecord("a", at(0), at(42), at(-600), "automated", True, {"snapshot": "ab12"}, first),
        DrillRecord("a", at(100), None, None, "manual", False, {}, second),
    ]
    assert store.drp.drills(start=at(50)) == got[1:]
    with pytest.raises(sqlite3.IntegrityError):
        store.drp.record_drill(DrillRecord("a", at(0), None, None, "guess", False, {}))


def test_a_report_is_marked_only_once(store: Store) -> None:
    assert store.reports.generated("2024-09") is None
    assert store.reports.mark("2024-09", ["sipd.pdf", "rekap.csv"]) is True
    assert store.reports.mark("2024-09", ["again.pdf"]) is False
    rec = store.reports.generated("2024-09")
    assert rec is not None
    assert (rec.generated_at, rec.files) == (T0, ["sipd.pdf", "rekap.csv"])


def test_nested_transaction_failure_undoes_only_its_part(store: Store) -> None:
    def rounds_then_violation() -> None:
        with store.transaction():
            store.append_rounds([make_round("a", at(1))])
            store.incidents.add_audit("missing", at(1), "ack")

    with store.transaction():
        store.append_rounds([make_round("a", at(0))])
        with pytest.raises(sqlite3.IntegrityError):
            rounds_then_violation()
        store.append_rounds([make_round("a", at(2))])
    assert [r.started_at for r in store.rounds("a", at(0), at(10))] == [at(0), at(2)]


def test_a_second_connection_reads_what_the_first_committed(store: Store, tmp_path: object) -> None:
    store.append_transitions([Transition("a", at(0), State.UP)])
    with Store.open_file(store.path) as reader:
        assert reader.transitions("a", at(0)) == [Transition("a", at(0), State.UP)]
        assert reader.integrity_check() == []


def test_the_table_families_share_the_stores_connection_and_transaction(store: Store) -> None:
    """``store.hosts``, ``.incidents``, ``.reports`` and ``.drp`` write through the store's own
    connection: a failure anywhere in one :meth:`Store.transaction` undoes all of them."""

    def every_family_then_fail() -> None:
        with store.transaction():
            store.append_rounds([make_round("a", at(0))])
            store.hosts.add_sample("local", at(0), {"cpu": 0.5})
            store.incidents.upsert("G-2024-09-0001", "a", at(0), None, "mayor", "open", {})
            store.reports.mark("2024-09", ["a.pdf"])
            store.drp.record_backup(BackupRecord("a", "push", at(0), "ok", "push"))
            raise RuntimeError("the batch fails after every family wrote")

    with pytest.raises(RuntimeError):
        every_family_then_fail()
    assert store.rounds("a", at(0), at(1)) == []
    assert store.hosts.keys("local") == []
    assert store.incidents.overlapping() == []
    assert store.reports.generated("2024-09") is None
    assert store.drp.backups("a") == []
    with store.transaction():
        store.hosts.add_sample("local", at(0), {"cpu": 0.5})
        store.drp.record_backup(BackupRecord("a", "push", at(0), "ok", "push"))
    assert store.hosts.keys("local") == ["cpu"]
    assert [b.finished_at for b in store.drp.backups("a")] == [at(0)]
