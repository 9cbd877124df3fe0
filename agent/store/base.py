"""The one SQLite connection, its lock and its transactions, shared by the store's tables."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from agent.core.clock import Clock
from agent.store.schema import rollback_quietly


class Connection:
    """One SQLite connection; every read and write of a :class:`~agent.store.database.Store`
    and of its table families goes through here.

    A connection must not run two statements at once, so all access holds ``lock`` (an RLock:
    a write called inside :meth:`transaction` re-enters it). Writes join an enclosing
    :meth:`transaction` as a savepoint, or commit on their own when called alone.
    """

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock
        self.lock = threading.RLock()
        self._depth = 0

    @property
    def in_transaction(self) -> bool:
        """Whether a :meth:`transaction` is open on this connection."""
        return self._depth > 0

    def now(self) -> datetime:
        """Wall-clock time for ``updated_at``-style stamps (the injected clock)."""
        return self.clock.now()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE``); nested calls become savepoints.

        A nested block that raises is undone on its own, leaving the outer transaction usable.
        """
        with self.lock:
            if self._depth:
                name = f"sp{self._depth}"
                self.conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield
                except BaseException:
                    try:
                        self.conn.execute(f"ROLLBACK TO {name}")
                        self.conn.execute(f"RELEASE {name}")
                    except sqlite3.Error:
                        pass  # SQLite already rolled the whole transaction back (FULL/IOERR)
                    raise
                else:
                    self.conn.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
                self.conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(self.conn)
                raise
            finally:
                self._depth = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one write statement (in its own transaction unless one is open)."""
        with self.transaction():
            return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one write statement per row, all in one transaction; nothing for no rows."""
        if not rows:
            return
        with self.transaction():
            self.conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a read."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of a read, or ``None``."""
        with self.lock:
            return self.conn.execute(sql, params).fetchone()


def where(sql: str, *filters: tuple[str, object | None]) -> tuple[str, list[object]]:
    """``sql`` (ending in a ``WHERE`` clause) with `` AND <condition>`` for each filter whose
    value is given, and the parameters: the optional service/period filters of the queries."""
    params = [value for _, value in filters if value is not None]
    return sql + "".join(f" AND {cond}" for cond, value in filters if value is not None), params
