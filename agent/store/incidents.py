"""Gangguan tickets and their audit trail, generated reports, and small key/value metadata."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from agent.store.base import StoreBase
from agent.store.records import (
    AuditEntry,
    IncidentRecord,
    ReportRecord,
    dumps,
    from_ms,
    opt_dt,
    opt_ms,
    to_ms,
)

_INCIDENT_COLS = "id, service, start_at, end_at, impact, status, blob, updated_at"


def _incident(row: tuple[Any, ...]) -> IncidentRecord:
    iid, service, start, end, impact, status, blob, updated = row
    return IncidentRecord(
        id=iid,
        service=service,
        start=from_ms(start),
        end=opt_dt(end),
        impact=impact,
        status=status,
        blob=json.loads(blob),
        updated_at=from_ms(updated),
    )


class IncidentsMixin(StoreBase):
    """``incidents``, ``incident_audit``, ``reports`` and ``meta``."""

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
        """Insert or replace the incident ``id`` (its audit trail is kept)."""
        self._exec(
            f"""INSERT INTO incidents ({_INCIDENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET
                    service = excluded.service, start_at = excluded.start_at,
                    end_at = excluded.end_at, impact = excluded.impact,
                    status = excluded.status, blob = excluded.blob,
                    updated_at = excluded.updated_at""",
            (
                id,
                service,
                to_ms(start),
                opt_ms(end),
                impact,
                status,
                dumps(blob),
                to_ms(self._now()),
            ),
        )

    def get_incident(self, id: str) -> IncidentRecord | None:
        """The incident ``id``, or ``None``."""
        row = self._one(f"SELECT {_INCIDENT_COLS} FROM incidents WHERE id = ?", (id,))
        return None if row is None else _incident(row)

    def incidents(
        self,
        service: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[IncidentRecord]:
        """Incidents overlapping ``[start, end)`` (open ones overlap everything after their
        start), oldest first; ``service=None`` means all services."""
        sql = f"SELECT {_INCIDENT_COLS} FROM incidents WHERE 1"
        params: list[object] = []
        if service is not None:
            sql += " AND service = ?"
            params.append(service)
        if end is not None:
            sql += " AND start_at < ?"
            params.append(to_ms(end))
        if start is not None:
            sql += " AND (end_at IS NULL OR end_at > ?)"
            params.append(to_ms(start))
        rows = self._query(sql + " ORDER BY start_at, id", params)
        return [_incident(r) for r in rows]

    def last_incident_id(self, prefix: str) -> str | None:
        """The greatest id starting with ``prefix`` (e.g. ``G-2024-09-``), to continue numbering."""
        row = self._one(
            "SELECT max(id) FROM incidents WHERE id >= ? AND id < ?",
            (prefix, prefix + "\U0010ffff"),
        )
        return None if row is None else row[0]

    def add_audit(self, incident_id: str, at: datetime, action: str, text: str = "") -> None:
        """Append a line to the audit trail of ``incident_id`` (which must exist)."""
        self._exec(
            "INSERT INTO incident_audit (incident_id, at, action, text) VALUES (?, ?, ?, ?)",
            (incident_id, to_ms(at), action, text),
        )

    def audit(self, incident_id: str) -> list[AuditEntry]:
        """The audit trail of ``incident_id``, oldest first."""
        rows = self._query(
            """SELECT at, action, text FROM incident_audit WHERE incident_id = ?
               ORDER BY at, id""",
            (incident_id,),
        )
        return [AuditEntry(incident_id, from_ms(a), act, t) for a, act, t in rows]

    def report_generated(self, period: str) -> ReportRecord | None:
        """The record of the report for ``period`` (``YYYY-MM``), or ``None`` if not yet made."""
        row = self._one("SELECT generated_at, files FROM reports WHERE period = ?", (period,))
        if row is None:
            return None
        return ReportRecord(period, from_ms(row[0]), list(json.loads(row[1])))

    def mark_report(self, period: str, files: list[str]) -> bool:
        """Record that ``period``'s report was written; ``False`` if it already was."""
        cur = self._exec(
            "INSERT OR IGNORE INTO reports (period, generated_at, files) VALUES (?, ?, ?)",
            (period, to_ms(self._now()), dumps(files)),
        )
        return cur.rowcount == 1

    def get_meta(self, key: str) -> str | None:
        """A value from the ``meta`` table."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the ``meta`` table."""
        self._exec(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
