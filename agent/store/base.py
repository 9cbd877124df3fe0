"""The connection, lock and transaction handling shared by the store's parts."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from agent.core.clock import Clock
from agent.store.schema import rollback_quietly


class StoreBase:
    """Owns one SQLite connection; every public method of the store goes through here.

    A connection must not run two statements at once, so all access holds ``_lock`` (an RLock:
    a write method called inside :meth:`transaction` re-enters it). Write methods join an
    enclosing :meth:`transaction` as a savepoint, or commit on their own when called alone.
    """

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0

    def _now(self) -> datetime:
        return self._clock.now()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE``); nested calls become savepoints.

        A nested block that raises is undone on its own, leaving the outer transaction usable.
        """
        with self._lock:
            if self._depth:
                name = f"sp{self._depth}"
                self._conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield
                except BaseException:
                    try:
                        self._conn.execute(f"ROLLBACK TO {name}")
                        self._conn.execute(f"RELEASE {name}")
                    except sqlite3.Error:
                        pass  # SQLite already rolled the whole transaction back (FULL/IOERR)
                    raise
                else:
                    self._conn.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(self._conn)
                raise
            finally:
                self._depth = 0

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self.transaction():
            return self._conn.execute(sql, params)

    def _execmany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self.transaction():
            self._conn.executemany(sql, rows)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()
