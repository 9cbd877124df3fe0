"""Gangguan tickets, their audit trail, and the ids of tickets merged into another."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from agent.store.base import Connection, where
from agent.store.records import (
    AuditEntry,
    IncidentRecord,
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


class IncidentTable:
    """``incidents`` and ``incident_audit``: ``store.incidents``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def upsert(
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
        self._db.execute(
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
                to_ms(self._db.now()),
            ),
        )

    def get(self, id: str) -> IncidentRecord | None:
        """The incident ``id``, or ``None``."""
        row = self._db.one(f"SELECT {_INCIDENT_COLS} FROM incidents WHERE id = ?", (id,))
        return None if row is None else _incident(row)

    def overlapping(
        self,
        service: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[IncidentRecord]:
        """Incidents overlapping ``[start, end)`` (open ones overlap everything after their
        start), oldest first; ``service=None`` means all services."""
        sql, params = where(
            f"SELECT {_INCIDENT_COLS} FROM incidents WHERE 1",
            ("service = ?", service),
            ("start_at < ?", opt_ms(end)),
            ("(end_at IS NULL OR end_at > ?)", opt_ms(start)),
        )
        rows = self._db.query(sql + " ORDER BY start_at, id", params)
        return [_incident(r) for r in rows]

    def last_id(self, prefix: str) -> str | None:
        """The greatest id starting with ``prefix`` (e.g. ``G-2024-09-``), to continue numbering;
        ids merged into another ticket count too, so an id is never given twice."""
        high = prefix + "\U0010ffff"
        row = self._db.one(
            """SELECT max(id) FROM (
                   SELECT id FROM incidents WHERE id >= ? AND id < ?
                   UNION ALL SELECT id FROM incident_aliases WHERE id >= ? AND id < ?)""",
            (prefix, high, prefix, high),
        )
        return None if row is None else row[0]

    def absorb(self, id: str, into: str) -> None:
        """Ticket ``id`` was the same gangguan as ``into`` (whose row already holds its work):
        move its audit trail there, remember where it went, remove it."""
        self._db.execute(
            "UPDATE incident_audit SET incident_id = ? WHERE incident_id = ?", (into, id)
        )
        self._db.execute("DELETE FROM incidents WHERE id = ?", (id,))
        self._db.execute(
            "INSERT OR REPLACE INTO incident_aliases (id, into_id, at) VALUES (?, ?, ?)",
            (id, into, to_ms(self._db.now())),
        )

    def merged_into(self, id: str) -> str | None:
        """The ticket that ``id`` was merged into (following repeated merges), or ``None``."""
        seen: set[str] = set()
        target: str | None = None
        while id not in seen:
            seen.add(id)
            row = self._db.one("SELECT into_id FROM incident_aliases WHERE id = ?", (id,))
            if row is None:
                break
            target = id = row[0]
        return target

    def add_audit(self, incident_id: str, at: datetime, action: str, text: str = "") -> None:
        """Append a line to the audit trail of ``incident_id`` (which must exist)."""
        self._db.execute(
            "INSERT INTO incident_audit (incident_id, at, action, text) VALUES (?, ?, ?, ?)",
            (incident_id, to_ms(at), action, text),
        )

    def audit(self, incident_id: str) -> list[AuditEntry]:
        """The audit trail of ``incident_id``, oldest first."""
        rows = self._db.query(
            """SELECT at, action, text FROM incident_audit WHERE incident_id = ?
               ORDER BY at, id""",
            (incident_id,),
        )
        return [AuditEntry(incident_id, from_ms(a), act, t) for a, act, t in rows]
