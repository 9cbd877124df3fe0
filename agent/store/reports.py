"""Generated monthly reports: the record that keeps the agent from writing a month twice."""

from __future__ import annotations

import json

from agent.store.base import Connection
from agent.store.records import ReportRecord, dumps, from_ms, to_ms


class ReportTable:
    """``reports``: ``store.reports``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def generated(self, period: str) -> ReportRecord | None:
        """The record of the report for ``period`` (``YYYY-MM``), or ``None`` if not yet made."""
        row = self._db.one("SELECT generated_at, files FROM reports WHERE period = ?", (period,))
        if row is None:
            return None
        return ReportRecord(period, from_ms(row[0]), list(json.loads(row[1])))

    def mark(self, period: str, files: list[str]) -> bool:
        """Record that ``period``'s report was written; ``False`` if it already was."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO reports (period, generated_at, files) VALUES (?, ?, ?)",
            (period, to_ms(self._db.now()), dumps(files)),
        )
        return cur.rowcount == 1
