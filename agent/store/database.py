"""The durable store: one SQLite file, ``<data_dir>/pantau.db`` (SPEC §4, FAULTS rows 10–14).

Layout of the store package::

    schema.py      connection settings, corruption handling, migrations
    records.py     record types returned by the API; time and JSON encoding
    base.py        the connection, lock and transactions that every part below shares
    database.py    this file: the Store (rounds, transitions, machine state, retention),
                   which holds one object per table family over that connection:
      hosts.py       store.hosts       5-minute host aggregates (avg / p95 / max)
      incidents.py   store.incidents   gangguan tickets and their audit trail
      reports.py     store.reports     the monthly reports already written
      drp.py         store.drp         backups, backup-source state, restore drills
    queue.py       the writer's bounded queue and its drop policy
    writer.py      the single writer thread the agent feeds through that queue
    lock.py        one agent per data directory (``pantau.lock``)

All times are stored as integer epoch milliseconds UTC and come back as aware UTC datetimes.
Raw rounds are kept for ``raw_retention`` (35 days by default); transitions, host aggregates,
incidents, backups and drills for ``long_retention`` (400 days ≥ 13 months), and the newest
transition / successful backup / drill of each service is kept even beyond that, so the state
at any instant and the backup age are always known.

A :class:`Store` serialises its own use with a lock, so it may be shared between threads. The
agent writes through :class:`~agent.store.writer.StoreWriter` (one writer thread, its own
connection), and reads and runs the daily retention through a second :class:`Store`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from agent.core.clock import Clock, SystemClock
from agent.core.errors import NoStoreError, StoreError
from agent.core.model import Round, State, Transition
from agent.store.base import Connection
from agent.store.drp import DrpTable
from agent.store.hosts import HostTable
from agent.store.incidents import IncidentTable
from agent.store.records import RetentionResult, dumps, from_ms, opt_dt, round_row, row_round, to_ms
from agent.store.reports import ReportTable
from agent.store.schema import open_database, rollback_quietly

log = logging.getLogger("pantau.store")

DB_FILENAME = "pantau.db"
RAW_RETENTION = timedelta(days=35)
LONG_RETENTION = timedelta(days=400)


class Store:
    """Typed access to ``pantau.db``. Create with :meth:`open` or :meth:`open_file`.

    Rounds, transitions and machine state are read and written here; the other tables through
    ``hosts``, ``incidents``, ``reports`` and ``drp``, which share this store's connection (and
    so its :meth:`transaction`).
    """

    def __init__(
        self, path: Path, conn: sqlite3.Connection, clock: Clock, moved_aside: Path | None = None
    ) -> None:
        self._db = Connection(conn, clock)
        self.hosts = HostTable(self._db)
        self.incidents = IncidentTable(self._db)
        self.reports = ReportTable(self._db)
        self.drp = DrpTable(self._db)
        self.path = path
        #: where a damaged database found at open was moved (FAULTS row 13), else ``None``.
        self.moved_aside = moved_aside
        #: 1 when this open replaced a damaged file (for ``pantau_storage_corruptions_total``).
        self.corruptions_total = 0 if moved_aside is None else 1

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        busy_timeout: float = 5.0,
        quick_check: bool = True,
        recover_corrupt: bool = True,
        create: bool = True,
        clock: Clock | None = None,
        read_only: bool = False,
    ) -> Store:
        """Open ``<data_dir>/pantau.db``, creating (unless ``create`` is off: then a missing
        file is a :class:`~agent.core.errors.NoStoreError`), checking and migrating it.

        ``quick_check`` runs ``PRAGMA quick_check`` (about 8 ms per MB); ``recover_corrupt``
        moves a damaged file aside and starts afresh — the agent's start-up open sets both,
        CLI commands and secondary connections should pass ``False`` for both.
        ``read_only`` (reading commands) implies neither and no ``create``; it refuses writes
        and still reads on a full disk (see :func:`~agent.store.schema.open_snapshot`).
        """
        path = Path(data_dir) / DB_FILENAME
        if read_only:
            create = quick_check = recover_corrupt = False
        if not create and not path.exists():
            raise NoStoreError(
                f"no store at {path}: has `pantau run` been started with this configuration?"
            )
        return cls.open_file(
            path,
            busy_timeout=busy_timeout,
            quick_check=quick_check,
            recover_corrupt=recover_corrupt,
            clock=clock,
            read_only=read_only,
        )

    @classmethod
    def open_file(
        cls,
        path: Path,
        *,
        busy_timeout: float = 5.0,
        quick_check: bool = True,
        recover_corrupt: bool = True,
        clock: Clock | None = None,
        read_only: bool = False,
    ) -> Store:
        """Open the database file ``path`` (see :meth:`open`)."""
        clock = clock or SystemClock()
        opened = open_database(
            Path(path),
            busy_timeout=busy_timeout,
            quick_check=quick_check,
            recover=recover_corrupt,
            now=clock.now(),
            read_only=read_only,
        )
        return cls(Path(path), opened.conn, clock, opened.moved_aside)

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction over every table (nested calls become savepoints)."""
        return self._db.transaction()

    def close(self) -> None:
        """Close the connection (a last passive checkpoint keeps the WAL small)."""
        with self._db.lock:
            try:
                self._db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:  # closing must not fail on a full disk
                log.debug("checkpoint at close failed: %s", exc)
            self._db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- rounds -------------------------------------------------------------------------------

    def append_rounds(self, rounds: Iterable[Round]) -> None:
        """Append raw rounds (and advance each service's first/last round time)."""
        rows = [round_row(r) for r in rounds]
        if not rows:
            return
        span: dict[str, tuple[int, int]] = {}
        for service, at, *_ in rows:
            lo, hi = span.get(service, (at, at))
            span[service] = (min(lo, at), max(hi, at))
        with self._db.transaction():
            self._db.executemany(
                """INSERT INTO rounds (service, started_at, outcome, reasons, agent_isolated,
                                       checks) VALUES (?, ?, ?, ?, ?, ?)""",
                rows,
            )
            self._db.executemany(
                """INSERT INTO service_meta (service, first_round_at, last_round_at)
                   VALUES (?, ?, ?)
                   ON CONFLICT (service) DO UPDATE SET
                       first_round_at = min(first_round_at, excluded.first_round_at),
                       last_round_at = max(last_round_at, excluded.last_round_at)""",
                [(s, lo, hi) for s, (lo, hi) in span.items()],
            )

    def rounds(self, service: str, start: datetime, end: datetime) -> list[Round]:
        """Raw rounds of ``service`` started in ``[start, end)``, oldest first."""
        rows = self._db.query(
            """SELECT service, started_at, outcome, reasons, agent_isolated, checks
               FROM rounds WHERE service = ? AND started_at >= ? AND started_at < ?
               ORDER BY started_at, id""",
            (service, to_ms(start), to_ms(end)),
        )
        return [row_round(r) for r in rows]

    def first_round_at(self, service: str) -> datetime | None:
        """When ``service`` was first probed: the report's *dipantau sejak* (survives retention)."""
        row = self._db.one("SELECT first_round_at FROM service_meta WHERE service = ?", (service,))
        return None if row is None else from_ms(row[0])

    def last_round_at(self, service: str) -> datetime | None:
        """Start of the newest round of ``service`` ever stored."""
        row = self._db.one("SELECT last_round_at FROM service_meta WHERE service = ?", (service,))
        return None if row is None else from_ms(row[0])

    def last_round_times(self) -> dict[str, datetime]:
        """The newest stored round of every service (the agent stamps no round before it)."""
        rows = self._db.query("SELECT service, last_round_at FROM service_meta")
        return {service: from_ms(at) for service, at in rows}

    def services(self) -> list[str]:
        """Every service that has at least one stored round."""
        return [r[0] for r in self._db.query("SELECT service FROM service_meta ORDER BY service")]

    # -- transitions and machine state --------------------------------------------------------

    def append_transitions(self, transitions: Iterable[Transition]) -> None:
        """Append confirmed-state transitions (stamped when the state changed)."""
        self._db.executemany(
            "INSERT INTO transitions (service, at, state, reason) VALUES (?, ?, ?, ?)",
            [(t.service, to_ms(t.at), t.state.value, t.reason) for t in transitions],
        )

    def transitions(
        self, service: str, start: datetime, end: datetime | None = None
    ) -> list[Transition]:
        """Transitions of ``service`` in ``[start, end)``, preceded by the last one before
        ``start`` (so the state at ``start`` is known), ordered by time then insertion."""
        start_ms = to_ms(start)
        end_ms = to_ms(end) if end is not None else 2**62
        rows = self._db.query(
            """SELECT at, state, reason FROM (
                   SELECT * FROM (
                       SELECT id, at, state, reason FROM transitions
                       WHERE service = ? AND at < ? ORDER BY at DESC, id DESC LIMIT 1)
                   UNION ALL
                   SELECT id, at, state, reason FROM transitions
                   WHERE service = ? AND at >= ? AND at < ?)
               ORDER BY at, id""",
            (service, start_ms, service, start_ms, end_ms),
        )
        return [Transition(service, from_ms(at), State(st), reason) for at, st, reason in rows]

    def last_transition(self, service: str) -> Transition | None:
        """The newest transition of ``service``."""
        row = self._db.one(
            """SELECT at, state, reason FROM transitions WHERE service = ?
               ORDER BY at DESC, id DESC LIMIT 1""",
            (service,),
        )
        return None if row is None else Transition(service, from_ms(row[0]), State(row[1]), row[2])

    def save_machine_states(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        """Persist state-machine snapshots (``MachineState.to_json()``) per service."""
        now = to_ms(self._db.now())
        self._db.executemany(
            """INSERT INTO machine_state (service, state, updated_at) VALUES (?, ?, ?)
               ON CONFLICT (service) DO UPDATE SET
                   state = excluded.state, updated_at = excluded.updated_at""",
            [(service, dumps(dict(state)), now) for service, state in states.items()],
        )

    def load_machine_states(self) -> dict[str, dict[str, Any]]:
        """Every saved snapshot, for ``MachineState.from_json`` at start-up."""
        rows = self._db.query("SELECT service, state FROM machine_state")
        return {service: json.loads(blob) for service, blob in rows}

    def machine_state_updated_at(self, service: str) -> datetime | None:
        """When the snapshot of ``service`` was last saved."""
        row = self._db.one("SELECT updated_at FROM machine_state WHERE service = ?", (service,))
        return None if row is None else opt_dt(row[0])

    # -- maintenance --------------------------------------------------------------------------

    def apply_retention(
        self,
        now: datetime,
        *,
        raw_retention: timedelta = RAW_RETENTION,
        long_retention: timedelta = LONG_RETENTION,
        batch_size: int = 2000,
        pause: float = 0.005,
    ) -> RetentionResult:
        """Delete old data in small transactions, then give freed pages back to the disk.

        Each batch is its own short transaction with a ``pause`` after it, so the writer
        (another connection) gets the lock between batches and probing never stalls. Call it
        from a thread with its own :class:`Store`, never inside :meth:`transaction`.
        """
        if self._db.in_transaction:
            raise StoreError("apply_retention cannot run inside a transaction")
        raw_cut = to_ms(now - raw_retention)
        rounds_deleted = self._delete_batches(
            """DELETE FROM rounds WHERE id IN (
                   SELECT id FROM rounds WHERE started_at < ? ORDER BY started_at LIMIT ?)""",
            raw_cut,
            batch_size,
            pause,
        )
        long_deleted = self._long_retention(to_ms(now - long_retention))
        pages = self._incremental_vacuum(batch_size, pause)
        with self._db.lock:
            # PASSIVE never waits for the writer; the main file shrinks once frames are copied.
            self._db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        result = RetentionResult(rounds_deleted, long_deleted, pages)
        log.info("store retention: %s", result)
        return result

    def integrity_check(self) -> list[str]:
        """Problems found by ``PRAGMA integrity_check`` (empty when the file is sound)."""
        rows = self._db.query("PRAGMA integrity_check")
        return [] if rows == [("ok",)] else [str(r[0]) for r in rows]

    def _delete_batches(self, sql: str, cut: int, batch_size: int, pause: float) -> int:
        total = 0
        while True:
            n = self._db.execute(sql, (cut, batch_size)).rowcount
            total += n
            if n < batch_size:
                return total
            time.sleep(pause)

    def _long_retention(self, cut: int) -> int:
        with self._db.transaction():
            n = 0
            for host in self._hosts():
                for table in ("host_samples", "host_fs"):
                    n += self._db.conn.execute(
                        f"DELETE FROM {table} WHERE host = ? AND bucket < ?", (host, cut)
                    ).rowcount
            # Keep each service's newest transition before the cut: the state there is known.
            n += self._db.conn.execute(
                """DELETE FROM transitions WHERE at < :cut AND id NOT IN (
                       SELECT max(id) FROM transitions t WHERE at = (
                           SELECT max(at) FROM transitions u
                           WHERE u.service = t.service AND u.at < :cut)
                       GROUP BY service)""",
                {"cut": cut},
            ).rowcount
            n += self._db.conn.execute(
                "DELETE FROM incidents WHERE end_at IS NOT NULL AND end_at < ?", (cut,)
            ).rowcount
            # Keep the newest successful backup of each service: the backup age needs it.
            n += self._db.conn.execute(
                """DELETE FROM backups WHERE finished_at < :cut AND id NOT IN (
                       SELECT max(id) FROM backups b WHERE status = 'ok' AND finished_at = (
                           SELECT max(finished_at) FROM backups c
                           WHERE c.service = b.service AND c.status = 'ok')
                       GROUP BY service)""",
                {"cut": cut},
            ).rowcount
            n += self._db.conn.execute(
                """DELETE FROM drills WHERE started_at < :cut AND id NOT IN (
                       SELECT max(id) FROM drills GROUP BY service)""",
                {"cut": cut},
            ).rowcount
        return n

    def _hosts(self) -> list[str]:
        # Skip-scan over the primary key: one index probe per host, not a full table scan.
        hosts: list[str] = []
        row = self._db.conn.execute("SELECT min(host) FROM host_samples").fetchone()
        while row is not None and row[0] is not None:
            hosts.append(row[0])
            row = self._db.conn.execute(
                "SELECT min(host) FROM host_samples WHERE host > ?", (row[0],)
            ).fetchone()
        return hosts

    def _incremental_vacuum(self, pages: int, pause: float) -> int:
        freed = 0
        while True:
            with self._db.lock:
                before = int(self._db.conn.execute("PRAGMA freelist_count").fetchone()[0])
                if before == 0:
                    return freed
                # executescript steps the pragma to completion; execute() would step it once,
                # and each step frees a single page.
                try:
                    self._db.conn.executescript(
                        f"BEGIN IMMEDIATE; PRAGMA incremental_vacuum({int(pages)}); COMMIT;"
                    )
                except BaseException:
                    rollback_quietly(self._db.conn)
                    raise
                after = int(self._db.conn.execute("PRAGMA freelist_count").fetchone()[0])
            freed += before - after
            if after >= before:  # auto_vacuum is off (old file): nothing more to hand back
                return freed
            time.sleep(pause)
