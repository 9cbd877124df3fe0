"""Migration 6: the duplicate tickets older versions opened after each restart are merged.

The old store is built as version 5 wrote it: the schema of the first five migrations, and
the tickets an old agent wrote (the original with its start in microseconds, the duplicate
opened after the restart with the start read back from the transitions in milliseconds;
both with the same ``start_at`` column), each with operator work on it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.engine.incidents import Gangguan, Status, ack, add_note, close, resolve, set_cause
from agent.store.database import Store
from agent.store.records import dumps, to_ms
from agent.store.schema import MIGRATIONS, connect, migrate
from tests.engine.katalog import ticket
from tests.fakes import FakeClock

START = datetime(2024, 9, 10, 2, 0, 0, 934_244, tzinfo=UTC)  # as the system clock stamped it
START_MS = START.replace(microsecond=934_000)  # as the transitions table kept it
MIN = timedelta(minutes=1)
NOW = datetime(2024, 9, 12, tzinfo=UTC)


def insert(conn: sqlite3.Connection, g: Gangguan, start_at: datetime) -> None:
    """A row as the old agent's ``IncidentTable.upsert`` wrote it."""
    conn.execute(
        """INSERT INTO incidents (id, service, start_at, end_at, impact, status, blob, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            g.id,
            g.service,
            to_ms(start_at),
            None if g.end is None else to_ms(g.end),
            g.impact.value,
            g.status.value,
            dumps(g.to_json()),
            to_ms(g.reported_at),
        ),
    )


def old_store(path: Path) -> None:
    conn = connect(path / "pantau.db", busy_timeout=1.0)
    assert migrate(conn, MIGRATIONS[:5]) == 5
    # The original: opened, acked and noted; then the agent restarted and never found it again.
    original = replace(ticket(start=START, now=START + 2 * MIN), id="G-2024-09-0001")
    original = add_note(ack(original, START + 5 * MIN, "budi"), START + 6 * MIN, "cek db", "budi")
    # The duplicate: opened after the restart for the same episode, resolved, given a cause
    # and a note, and closed by the operator.
    dup = replace(ticket(start=START_MS, now=START + 12 * MIN), id="G-2024-09-0002")
    dup = set_cause(dup, START + 13 * MIN, "disk penuh", "ani")
    dup = add_note(resolve(dup, START_MS + 40 * MIN), START + 41 * MIN, "disk dibersihkan", "ani")
    dup = close(dup, START + 45 * MIN, "ani")
    # Another episode, later, with one ticket: untouched but for its start's microseconds.
    later = replace(
        resolve(ticket(start=START + 3 * 60 * MIN, now=START + 182 * MIN), START + 200 * MIN),
        id="G-2024-09-0003",
    )
    with conn:
        insert(conn, original, START)
        insert(conn, dup, START_MS)
        insert(conn, later, later.start)
        conn.execute(
            "INSERT INTO incident_audit (incident_id, at, action, text) VALUES (?, ?, ?, ?)",
            ("G-2024-09-0002", to_ms(START + 45 * MIN), "close", "ani"),
        )
    conn.close()


def test_duplicates_of_one_episode_become_the_original_ticket_with_all_operator_work(
    tmp_path: Path,
) -> None:
    old_store(tmp_path)
    with Store.open(tmp_path, clock=FakeClock(NOW)) as store:
        records = store.incidents.overlapping()
        assert [r.id for r in records] == ["G-2024-09-0001", "G-2024-09-0003"]
        g = Gangguan.from_json(records[0].blob)
        # the episode: the one start (milliseconds), the end the duplicate saw
        assert (g.start, g.end) == (START_MS, START_MS + 40 * MIN)
        assert (records[0].start, records[0].end) == (g.start, g.end)
        # the operator's work of both
        assert (g.ack_at, g.ack_by) == (START + 5 * MIN, "budi")
        assert g.cause == "disk penuh"
        assert [n.text for n in g.notes] == ["cek db", "disk dibersihkan"]
        assert (g.status, g.closed_at) == (Status.DITUTUP, START + 45 * MIN)
        assert records[0].status == "Ditutup"
        actions = [a.action for a in g.audit]
        assert actions.count("create") == 2
        assert {"ack", "note", "cause", "resolve", "close"} <= set(actions)
        assert g.audit[-1].action == "merge"
        assert "G-2024-09-0002" in g.audit[-1].detail
        assert records[0].blob["merged_ids"] == ["G-2024-09-0002"]
        # its audit rows moved with it, the id is remembered and never given again
        assert [a.action for a in store.incidents.audit("G-2024-09-0001")] == ["close", "merge"]
        assert store.incidents.merged_into("G-2024-09-0002") == "G-2024-09-0001"
        assert store.incidents.get("G-2024-09-0002") is None
        assert store.incidents.last_id("G-2024-09-") == "G-2024-09-0003"
        # the single ticket keeps everything; its JSON start now equals its column
        later = Gangguan.from_json(records[1].blob)
        assert later.start == records[1].start
        assert later.start.microsecond % 1000 == 0


def test_an_episode_still_ongoing_at_the_upgrade_stays_open_with_its_ack(tmp_path: Path) -> None:
    conn = connect(tmp_path / "pantau.db", busy_timeout=1.0)
    migrate(conn, MIGRATIONS[:5])
    original = ack(replace(ticket(start=START), id="G-2024-09-0007"), START + 5 * MIN, "budi")
    dup = replace(ticket(start=START_MS, now=START + 12 * MIN), id="G-2024-09-0008")
    with conn:
        insert(conn, original, START)
        insert(conn, dup, START_MS)
    conn.close()
    with Store.open(tmp_path, clock=FakeClock(NOW)) as store:
        (record,) = store.incidents.overlapping()
        g = Gangguan.from_json(record.blob)
        assert (g.id, g.start, g.end, g.status) == (
            "G-2024-09-0007",
            START_MS,
            None,
            Status.DITANGANI,
        )
        assert (record.end, record.status) == (None, "Ditangani")
        assert record.blob["merged_ids"] == ["G-2024-09-0008"]
