"""Backups (pushed, marked, observed), backup-source state and restore drills (SPEC §4 RPO/RTO)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from agent.store.base import Connection, where
from agent.store.records import (
    BACKUP_OK,
    BackupRecord,
    BackupState,
    DrillRecord,
    dumps,
    from_ms,
    opt_dt,
    opt_ms,
    to_ms,
)

_BACKUP_COLS = "service, source, finished_at, status, origin, size_bytes, recorded_at"
_DRILL_COLS = "id, service, started_at, restored_at, data_as_of, kind, ok, detail"


def _backup(row: tuple[Any, ...]) -> BackupRecord:
    service, source, finished, status, origin, size, recorded = row
    return BackupRecord(
        service=service,
        source=source,
        finished_at=from_ms(finished),
        status=status,
        origin=origin,
        size_bytes=size,
        recorded_at=from_ms(recorded),
    )


def _drill(row: tuple[Any, ...]) -> DrillRecord:
    did, service, started, restored, as_of, kind, ok, detail = row
    return DrillRecord(
        id=did,
        service=service,
        started_at=from_ms(started),
        restored_at=opt_dt(restored),
        data_as_of=opt_dt(as_of),
        kind=kind,
        ok=bool(ok),
        detail=json.loads(detail),
    )


class DrpTable:
    """``backups``, ``backup_state`` and ``drills``: ``store.drp``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def record_backup(self, backup: BackupRecord) -> None:
        """Store a finished backup; seeing the same (service, source, finished_at) again
        updates its status and size instead of adding a row (sources are polled repeatedly)."""
        recorded = backup.recorded_at or self._db.now()
        self._db.execute(
            f"""INSERT INTO backups ({_BACKUP_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (service, source, finished_at) DO UPDATE SET
                    status = excluded.status,
                    size_bytes = coalesce(excluded.size_bytes, size_bytes)""",
            (
                backup.service,
                backup.source,
                to_ms(backup.finished_at),
                backup.status,
                backup.origin,
                backup.size_bytes,
                to_ms(recorded),
            ),
        )

    def backups(
        self, service: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[BackupRecord]:
        """Backups of ``service`` finished in ``[start, end)``, oldest first."""
        sql, params = where(
            f"SELECT {_BACKUP_COLS} FROM backups WHERE service = ?",
            ("finished_at >= ?", opt_ms(start)),
            ("finished_at < ?", opt_ms(end)),
        )
        rows = self._db.query(sql + " ORDER BY finished_at, source", [service, *params])
        return [_backup(r) for r in rows]

    def last_backup(
        self, service: str, before: datetime | None = None, source: str | None = None
    ) -> BackupRecord | None:
        """The newest successful backup of ``service`` across sources, or of one ``source``
        (finished before ``before`` if given: the backup age at a past moment)."""
        sql, params = where(
            f"SELECT {_BACKUP_COLS} FROM backups WHERE service = ? AND status = ?",
            ("finished_at < ?", opt_ms(before)),
            ("source = ?", source),
        )
        row = self._db.one(
            sql + " ORDER BY finished_at DESC LIMIT 1", [service, BACKUP_OK, *params]
        )
        return None if row is None else _backup(row)

    def save_backup_state(self, state: BackupState) -> None:
        """Remember what the last look at one backup source found."""
        self._db.execute(
            """INSERT INTO backup_state (service, source, last_success_at, last_error, checked_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (service, source) DO UPDATE SET
                   last_success_at = excluded.last_success_at,
                   last_error = excluded.last_error,
                   checked_at = excluded.checked_at""",
            (
                state.service,
                state.source,
                opt_ms(state.last_success_at),
                state.last_error,
                to_ms(state.checked_at),
            ),
        )

    def load_backup_state(self, service: str | None = None) -> list[BackupState]:
        """Saved backup-source states (of one service, or all), by service and source."""
        sql, params = where(
            "SELECT service, source, last_success_at, last_error, checked_at FROM backup_state"
            " WHERE 1",
            ("service = ?", service),
        )
        rows = self._db.query(sql + " ORDER BY service, source", params)
        return [BackupState(s, src, opt_dt(ok), err, from_ms(at)) for s, src, ok, err, at in rows]

    def record_drill(self, drill: DrillRecord) -> int:
        """Store a restore drill; returns its id."""
        cur = self._db.execute(
            """INSERT INTO drills (service, started_at, restored_at, data_as_of, kind, ok, detail)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (
                drill.service,
                to_ms(drill.started_at),
                opt_ms(drill.restored_at),
                opt_ms(drill.data_as_of),
                drill.kind,
                int(drill.ok),
                dumps(drill.detail),
            ),
        )
        assert cur.lastrowid is not None  # an INSERT into a rowid table always sets it
        return cur.lastrowid

    def drills(
        self,
        service: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[DrillRecord]:
        """Drills started in ``[start, end)`` (of one service, or all), oldest first."""
        sql, params = where(
            f"SELECT {_DRILL_COLS} FROM drills WHERE 1",
            ("service = ?", service),
            ("started_at >= ?", opt_ms(start)),
            ("started_at < ?", opt_ms(end)),
        )
        rows = self._db.query(sql + " ORDER BY started_at, id", params)
        return [_drill(r) for r in rows]
