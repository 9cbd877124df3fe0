"""The single writer thread between the asyncio agent and SQLite (FAULTS rows 10–12, 14).

::

    event loop ── submit(op) ──► bounded deque ──► writer thread ──► one transaction per batch
                  (never blocks)   (10 000 ops)     (own connection)  (~0.5 s or max_batch ops)

- A batch is one ``BEGIN IMMEDIATE … COMMIT``; each operation runs in a savepoint, so one bad
  operation (a bug, a constraint violation) is logged, counted in ``storage_rejected_total``
  and skipped without losing the rest.
- When the database cannot be written (``SQLITE_FULL``, an I/O error, locked past
  ``busy_timeout``) the batch is kept and retried with exponential backoff;
  ``storage_errors_total`` rises and ``healthy`` is ``False`` until a batch commits again —
  recovery needs no restart.
- When the queue is full the **oldest raw rounds** are dropped first, then the oldest host
  samples (``storage_dropped_total`` counts the rows). Transitions, machine state, incidents,
  backups and drills are never dropped; machine-state saves coalesce into one pending op.
- :meth:`StoreWriter.flush` and :meth:`StoreWriter.close` drain the queue (SIGTERM).

Counters are plain attributes; the agent reads them every few seconds and adds what they
grew by to its metrics (:mod:`agent.runtime.views`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.core.clock import Clock
from agent.core.errors import StoreError
from agent.core.model import Round, Transition
from agent.store.database import Store
from agent.store.queue import OpKind, WriteOp, WriteQueue, states_op
from agent.store.records import BackupRecord, BackupState, DrillRecord, FsUsage

log = logging.getLogger("pantau.store")

#: Errors that are the operation's own fault: retrying cannot help.
_PERMANENT = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.DataError, ValueError)


class StoreWriter:
    """Owns the write connection in a thread; fed through :meth:`submit` (never blocks)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock | None = None,
        busy_timeout: float = 5.0,
        max_queue: int = 10_000,
        batch_interval: float = 0.5,
        max_batch: int = 1000,
        min_backoff: float = 0.5,
        max_backoff: float = 10.0,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._batch_interval = batch_interval
        self._max_batch = max_batch
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._queue = WriteQueue(max_queue)
        self._cond = threading.Condition()
        self._inflight = 0
        self._flush_waiters = 0
        self._stopping = False
        self._abandon = False
        self._thread: threading.Thread | None = None
        #: batches that failed to commit (each retry counts): pantau_storage_errors_total.
        self.storage_errors_total = 0
        #: rows dropped because the queue was full: pantau_storage_dropped_total.
        self.storage_dropped_total = 0
        #: operations skipped because they can never succeed (bug, constraint violation).
        self.storage_rejected_total = 0
        #: operations committed.
        self.written_total = 0
        #: ``False`` while writes are failing (health = degraded).
        self.healthy = True
        self.last_error: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> StoreWriter:
        """Start the writer thread (it opens its own connection)."""
        if self._thread is not None:
            raise StoreError("store writer already started")
        self._thread = threading.Thread(target=self._run, name="pantau-store-writer", daemon=True)
        self._thread.start()
        return self

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is committed; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flush_waiters += 1
            self._cond.notify_all()
            try:
                while self._queue or self._inflight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float = 10.0) -> bool:
        """Drain the queue and stop; ``False`` if writes were still failing at ``timeout``
        (what is left is lost and logged)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread = self._thread
        if thread is None:
            return not self._queue
        thread.join(timeout)
        if thread.is_alive():
            with self._cond:
                self._abandon = True
                lost = self._queue.rows() + self._inflight
                self._cond.notify_all()
            log.error("store writer stopped with %d unwritten rows: %s", lost, self.last_error)
            thread.join(self._busy_timeout + 1.0)
            return False
        return True

    @property
    def queue_depth(self) -> int:
        """Operations waiting to be written."""
        return len(self._queue)

    # -- submitting ---------------------------------------------------------------------------

    def submit(self, op: WriteOp) -> None:
        """Queue ``op``; never blocks. A full queue drops the oldest raw rounds first."""
        with self._cond:
            if self._stopping:
                raise StoreError("store writer is closed: nothing can be submitted")
            rows, kind = self._queue.push(op)
            if rows:
                self.storage_dropped_total += rows
                if self.storage_dropped_total == rows:  # the first drop: say why, once
                    log.warning(
                        "store queue full (%d ops): dropping the oldest %s",
                        self._queue.max_ops,
                        kind,
                    )
            if len(self._queue) >= self._max_batch or self._flush_waiters:
                self._cond.notify_all()
            elif len(self._queue) == 1:
                self._cond.notify_all()  # wake the thread to start a batch window

    def append_rounds(self, rounds: Iterable[Round]) -> None:
        """Queue raw rounds (droppable under pressure)."""
        batch = list(rounds)
        if batch:
            self.submit(WriteOp(OpKind.ROUNDS, lambda s: s.append_rounds(batch), len(batch)))

    def append_transitions(self, transitions: Iterable[Transition]) -> None:
        """Queue transitions (never dropped)."""
        batch = list(transitions)
        if batch:
            self.submit(
                WriteOp(OpKind.TRANSITIONS, lambda s: s.append_transitions(batch), len(batch))
            )

    def save_machine_states(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        """Queue state-machine snapshots; a pending save is merged with this one."""
        data = {k: dict(v) for k, v in states.items()}
        self.submit(states_op(data))

    def add_host_sample(
        self,
        host: str,
        at: datetime,
        values: Mapping[str, float],
        filesystems: Mapping[str, FsUsage] | None = None,
    ) -> None:
        """Queue one host reading (droppable under pressure)."""
        vals, fs = dict(values), dict(filesystems or {})
        self.submit(WriteOp(OpKind.HOST_SAMPLE, lambda s: s.hosts.add_sample(host, at, vals, fs)))

    def upsert_incident(
        self,
        id: str,
        service: str,
        start: datetime,
        end: datetime | None,
        impact: str,
        status: str,
        blob: dict[str, Any],
    ) -> None:
        """Queue an incident insert/update."""
        data = dict(blob)
        self.submit(
            WriteOp(
                OpKind.INCIDENT,
                lambda s: s.incidents.upsert(id, service, start, end, impact, status, data),
            )
        )

    def add_audit(self, incident_id: str, at: datetime, action: str, text: str = "") -> None:
        """Queue an audit line (after the incident's own upsert)."""
        self.submit(
            WriteOp(OpKind.AUDIT, lambda s: s.incidents.add_audit(incident_id, at, action, text))
        )

    def record_backup(self, backup: BackupRecord) -> None:
        """Queue a finished backup."""
        self.submit(WriteOp(OpKind.BACKUP, lambda s: s.drp.record_backup(backup)))

    def save_backup_state(self, state: BackupState) -> None:
        """Queue a backup-source state."""
        self.submit(WriteOp(OpKind.BACKUP_STATE, lambda s: s.drp.save_backup_state(state)))

    def record_drill(self, drill: DrillRecord) -> None:
        """Queue a restore drill."""
        self.submit(WriteOp(OpKind.DRILL, lambda s: s.drp.record_drill(drill)))

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        store: Store | None = None
        batch: list[WriteOp] = []
        backoff = self._min_backoff
        try:
            while True:
                if not batch:
                    batch = self._next_batch()
                    if not batch:
                        return
                try:
                    if store is None:
                        store = Store.open_file(
                            self.path,
                            busy_timeout=self._busy_timeout,
                            quick_check=False,  # the agent's start-up open checked it
                            recover_corrupt=False,  # never pull the file from under readers
                            clock=self._clock,
                        )
                    self._commit(store, batch)
                except (sqlite3.Error, StoreError) as exc:
                    self._failed(exc)
                    if store is not None and _needs_reopen(exc):
                        _close_quietly(store)
                        store = None
                    if not self._sleep(backoff):
                        return
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                with self._cond:
                    self.written_total += len(batch)
                    self._inflight = 0
                    if not self.healthy:
                        log.warning("store writes recovered after %s", self.last_error)
                    self.healthy = True
                    self._cond.notify_all()
                batch = []
                backoff = self._min_backoff
        finally:
            with self._cond:
                self._inflight = 0
                self._cond.notify_all()
            if store is not None:
                _close_quietly(store)

    def _next_batch(self) -> list[WriteOp]:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if not self._queue:
                return []
            deadline = time.monotonic() + self._batch_interval
            while (
                len(self._queue) < self._max_batch
                and not self._stopping
                and not self._flush_waiters
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch = self._queue.take(self._max_batch)
            self._inflight = len(batch)
            return batch

    def _commit(self, store: Store, batch: list[WriteOp]) -> None:
        """Write ``batch`` in one transaction. Ops that can never succeed are removed from
        ``batch`` (even when the transaction then fails and the rest is retried)."""
        rejected: list[tuple[WriteOp, BaseException]] = []
        try:
            with store.transaction():
                for op in batch:
                    try:
                        with store.transaction():  # a savepoint: a rejected op leaves no trace
                            op.apply(store)
                    except _PERMANENT as exc:
                        rejected.append((op, exc))
                    except sqlite3.Error:
                        raise  # FULL, IOERR, BUSY...: the whole batch is retried
                    except Exception as exc:  # one buggy op must not stop all writes
                        rejected.append((op, exc))
        finally:
            for op, err in rejected:
                batch.remove(op)
                with self._cond:
                    self.storage_rejected_total += 1
                    self._inflight -= 1
                log.error("store dropped a %s write that cannot succeed: %r", op.kind.value, err)

    def _failed(self, exc: BaseException) -> None:
        with self._cond:
            self.storage_errors_total += 1
            first = self.healthy
            self.healthy = False
            self.last_error = str(exc)
        if first:
            log.error(
                "store %s cannot be written (%s); %d ops buffered, retrying",
                self.path,
                exc,
                len(self._queue) + self._inflight,
            )

    def _sleep(self, seconds: float) -> bool:
        """Back off; ``False`` when :meth:`close` gave up on the remaining writes."""
        with self._cond:
            if self._stopping:
                seconds = min(seconds, self._min_backoff)  # draining for close(): keep trying
            deadline = time.monotonic() + seconds
            while not self._abandon:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True
                self._cond.wait(remaining)
            return False


def _needs_reopen(exc: BaseException) -> bool:
    # After an I/O error or a vanished file, a fresh connection is the safe way back.
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, StoreError) or (code is not None and code & 0xFF in {10, 14})


def _close_quietly(store: Store) -> None:
    try:
        store.close()
    except sqlite3.Error as exc:
        log.debug("closing the writer connection failed: %s", exc)
