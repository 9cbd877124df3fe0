"""Store migration 6: one ticket per gangguan episode, repairing what older pantau wrote.

Before this version a ticket kept its episode's start in microseconds while the transitions
were stored in whole milliseconds, and the agent found a ticket by its exact start: every
restart during or after an outage opened a second ticket for the same episode, and the first
stayed open for ever (with the operator's ack on it). Both copies carry the same ``start_at``
(that column was always whole milliseconds). This step, inside the migration's transaction:

- cuts each ticket's ``start`` and ``end`` in its JSON to the columns' milliseconds, so the
  agent finds its tickets again by the start it reads from the transitions;
- merges the tickets of one ``(service, start_at)`` into the oldest (lowest id): the earliest
  ack, every note, the cause set last, the reclassification made last, the closing, both audit
  trails (JSON and ``incident_audit`` rows) and the episode's end as the copy that saw it;
- records each merged id in ``incident_aliases`` (never reused; ``pantau incident`` follows it).

It reads the JSON as older pantau wrote it, not through the engine's classes: a released
migration must keep meaning the same thing whatever the engine becomes later.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from agent.store.records import dumps, from_ms, to_ms

#: Appended to a merged ticket's audit trail.
MERGE_ACTION = "merge"
REPORTER = "pantau (agen pemantauan)"

ALIASES_TABLE = """CREATE TABLE incident_aliases (
        id TEXT PRIMARY KEY,
        into_id TEXT NOT NULL,
        at INTEGER NOT NULL) WITHOUT ROWID"""


def repair_tickets(conn: sqlite3.Connection, now: datetime) -> None:
    """Normalise ticket times and merge duplicate tickets of one episode (see module doc)."""
    rows = conn.execute(
        "SELECT id, service, start_at, end_at, blob FROM incidents ORDER BY service, start_at, id"
    ).fetchall()
    groups: dict[tuple[str, int], list[tuple[str, int | None, dict[str, Any]]]] = {}
    for iid, service, start_at, end_at, blob in rows:
        data = json.loads(blob)
        fixed = _cut_times(data, start_at, end_at)
        groups.setdefault((service, start_at), []).append((iid, end_at, data))
        if fixed:
            conn.execute("UPDATE incidents SET blob = ? WHERE id = ?", (dumps(data), iid))
    for copies in groups.values():
        if len(copies) > 1:
            _merge_group(conn, copies, now)


def _cut_times(data: dict[str, Any], start_at: int, end_at: int | None) -> bool:
    """Set the JSON's start/end to the columns' milliseconds; whether anything changed."""
    changed = False
    for key, ms in (("start", start_at), ("end", end_at)):
        if ms is None or key not in data:
            continue
        text = from_ms(ms).isoformat()
        if data[key] != text:
            data[key], changed = text, True
    return changed


def _merge_group(
    conn: sqlite3.Connection,
    copies: list[tuple[str, int | None, dict[str, Any]]],
    now: datetime,
) -> None:
    copies = sorted(copies, key=lambda c: (_time(c[2].get("reported_at")), c[0]))
    keep_id, _, keep = copies[0]
    others = [c[2] for c in copies[1:]]
    merged = _merged(keep, others, now)
    ends = [e for _, e, _ in copies if e is not None]
    end_at = max(ends) if ends else None
    conn.execute(
        """UPDATE incidents SET end_at = ?, impact = ?, status = ?, blob = ?, updated_at = ?
           WHERE id = ?""",
        (end_at, merged["impact"], merged["status"], dumps(merged), to_ms(now), keep_id),
    )
    for other_id, _, _ in copies[1:]:
        conn.execute(
            "UPDATE incident_audit SET incident_id = ? WHERE incident_id = ?", (keep_id, other_id)
        )
        conn.execute("DELETE FROM incidents WHERE id = ?", (other_id,))
        conn.execute(
            "INSERT OR REPLACE INTO incident_aliases (id, into_id, at) VALUES (?, ?, ?)",
            (other_id, keep_id, to_ms(now)),
        )
    conn.execute(
        "INSERT INTO incident_audit (incident_id, at, action, text) VALUES (?, ?, ?, ?)",
        (keep_id, to_ms(now), MERGE_ACTION, _merge_text(others)),
    )


def _merged(keep: dict[str, Any], others: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    everyone = [keep, *others]
    out = dict(keep)
    ends = [t for t in (_ts(g.get("end")) for g in everyone) if t is not None]
    out["end"] = max(ends).isoformat() if ends else None
    out["reported_at"] = min(g["reported_at"] for g in everyone if g.get("reported_at"))
    major = next((g for g in everyone if g.get("impact") == "major"), keep)
    for key in ("impact", "category", "components", "priority", "response_target"):
        if key in major:
            out[key] = major[key]
    out["symptoms"] = _union(s for g in everyone for s in g.get("symptoms", ()))
    out["flapping"] = any(g.get("flapping") for g in everyone)
    acked = sorted((g for g in everyone if g.get("ack_at")), key=lambda g: _time(g["ack_at"]))
    if acked:
        out["ack_at"], out["ack_by"] = acked[0]["ack_at"], acked[0].get("ack_by", "")
    notes = {(n["at"], n["text"], n.get("by", "")): n for g in everyone for n in g.get("notes", ())}
    out["notes"] = sorted(notes.values(), key=lambda n: _time(n["at"]))
    with_cause = [g for g in everyone if g.get("cause")]
    if with_cause:  # the cause the operator set last
        out["cause"] = max(with_cause, key=lambda g: _last(g, "cause"))["cause"]
    reclassified = [g["reclassification"] for g in everyone if g.get("reclassification")]
    if reclassified:
        out["reclassification"] = max(reclassified, key=lambda r: _time(r["at"]))
    closed = [t for t in (_ts(g.get("closed_at")) for g in everyone) if t is not None]
    if out.get("reclassification") or (out["end"] is not None and closed):
        out["status"] = "Ditutup"
        out["closed_at"] = max(closed).isoformat() if closed else None
    else:
        out["closed_at"] = None
        out["status"] = "Selesai" if out["end"] else "Ditangani" if out.get("ack_at") else "Terbuka"
    audit = {
        (a["at"], a["action"], a.get("by", ""), a.get("detail", "")): a
        for g in everyone
        for a in g.get("audit", ())
    }
    entry = {"at": now.isoformat(), "action": MERGE_ACTION, "by": REPORTER}
    entry["detail"] = _merge_text(others)
    out["audit"] = [*sorted(audit.values(), key=lambda a: _time(a["at"])), entry]
    merged_ids = [*keep.get("merged_ids", ())]
    for g in others:
        merged_ids += [g["id"], *g.get("merged_ids", ())]
    out["merged_ids"] = _union(merged_ids)
    return out


def _merge_text(others: list[dict[str, Any]]) -> str:
    ids = ", ".join(g["id"] for g in others)
    return f"{ids} digabung: tiket ganda dari satu episode (dibuka ulang setelah restart)"


def _union(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _last(g: dict[str, Any], action: str) -> datetime:
    return max(
        (_time(a["at"]) for a in g.get("audit", ()) if a.get("action") == action), default=_NEVER
    )


def _ts(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _time(value: object) -> datetime:
    """A JSON time for sorting; a missing one sorts first."""
    return _ts(value) or _NEVER


_NEVER = from_ms(0)
