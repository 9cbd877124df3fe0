"""Keeps the agent's gangguan tickets in step with its transitions (the I/O side of incidents).

The engine (:mod:`agent.engine.incidents`, :mod:`agent.engine.episodes`) is pure; this module feeds it the
recent transitions of a service, keeps the tickets it returns in memory and writes them.

Operators change tickets from the command line (``pantau incident ack``) while the agent
runs, so the agent never blindly overwrites a stored ticket: each write is a read-merge-write
inside the writer's transaction (:func:`merge_stored`), where the operator's fields (ack,
notes, cause, reclassification, closing) come from the store and the monitoring fields (end,
impact, symptoms, flapping) from the engine.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from agent.config.katalog import ServiceSettings
from agent.core.model import Transition
from agent.core.periods import period_of, previous_months
from agent.engine.episodes import episodes_from_transitions
from agent.engine.incidents import AuditEntry, Gangguan, IncidentSettings, Status, sync_incidents
from agent.store.database import Store
from agent.store.queue import OpKind, WriteOp
from agent.store.writer import StoreWriter

log = logging.getLogger("pantau.incidents")

#: Transitions kept for flap detection besides those of the open episode.
FLAP_WINDOW = timedelta(hours=1)
KEEP = 2 * FLAP_WINDOW


def merge_stored(engine: Gangguan, stored: Gangguan | None) -> Gangguan:
    """The engine's view of a ticket with the operator's work from the stored copy kept."""
    if stored is None:
        return engine
    audit: dict[tuple[str, str, str, str], AuditEntry] = {}
    for entry in (*stored.audit, *engine.audit):
        audit.setdefault((entry.at.isoformat(), entry.action, entry.by, entry.detail), entry)
    status = engine.status
    if stored.status is Status.DITUTUP:
        status = Status.DITUTUP
    elif stored.ack_at is not None and engine.end is None:
        status = Status.DITANGANI
    return replace(
        engine,
        cause=stored.cause,
        notes=stored.notes,
        ack_at=stored.ack_at,
        ack_by=stored.ack_by,
        reclassification=stored.reclassification,
        closed_at=stored.closed_at,
        status=status,
        audit=tuple(sorted(audit.values(), key=lambda e: e.at)),
    )


def write_ticket(store: Store, g: Gangguan) -> None:
    """Read-merge-write one ticket (runs inside the writer's transaction)."""
    record = store.incidents.get(g.id)
    stored = Gangguan.from_json(record.blob) if record is not None else None
    merged = merge_stored(g, stored)
    store.incidents.upsert(
        merged.id,
        merged.service,
        merged.start,
        merged.end,
        merged.impact.value,
        merged.status.value,
        merged.to_json(),
    )


class IncidentTracker:
    """Recent transitions and tickets per service; turns new transitions into ticket writes."""

    def __init__(
        self, agent_name: str, zone: ZoneInfo, settings: Mapping[str, ServiceSettings]
    ) -> None:
        self.settings = IncidentSettings(agent_name, zone, dict(settings))
        self.transitions: dict[str, list[Transition]] = {}
        self.tickets: dict[str, list[Gangguan]] = {}
        self.last_ids: set[str] = set()

    def configure(
        self, agent_name: str, zone: ZoneInfo, settings: Mapping[str, ServiceSettings]
    ) -> None:
        """Take a reloaded configuration (new services get tickets, removed ones do not)."""
        self.settings = IncidentSettings(agent_name, zone, dict(settings))

    def load(self, store: Store, now: datetime) -> None:
        """Restore open tickets and recent transitions after a start (FAULTS 23)."""
        for record in store.incidents.overlapping(start=now - KEEP):
            g = Gangguan.from_json(record.blob)
            self.tickets.setdefault(g.service, []).append(g)
            self.last_ids.add(g.id)
        # Numbering continues after the newest stored ticket of this and the previous month.
        for year, month in previous_months(*period_of(now, self.settings.tz), 2):
            last = store.incidents.last_id(f"G-{year:04d}-{month:02d}-")
            if last is not None:
                self.last_ids.add(last)
        for sid in self.settings.services:
            since = now - KEEP
            for g in self.tickets.get(sid, []):
                if g.end is None:
                    since = min(since, g.start)
            self.transitions[sid] = list(store.transitions(sid, since))

    def open_tickets(self) -> list[Gangguan]:
        """Tickets whose episode is still ongoing."""
        return [g for ts in self.tickets.values() for g in ts if g.end is None]

    def open_ticket(self, service: str) -> Gangguan | None:
        """The ongoing ticket of ``service``, if any."""
        return next((g for g in self.tickets.get(service, []) if g.end is None), None)

    def feed(
        self,
        service: str,
        new: Sequence[Transition],
        now: datetime,
        store_last_ids: Sequence[str] = (),
    ) -> list[Gangguan]:
        """Take a service's new transitions; return the tickets that were created or changed."""
        history = self.transitions.setdefault(service, [])
        history.extend(new)
        old = self.tickets.get(service, [])
        episodes = [
            e
            for e in episodes_from_transitions(history, flap_window=FLAP_WINDOW)
            if e.service == service
        ]
        updated = sync_incidents(
            old, episodes, self.settings, now=now, last_ids=(*self.last_ids, *store_last_ids)
        )
        changed = [g for g in updated if g not in old]
        log.debug(
            "incidents of %s: %d transitions, %d episodes, %d tickets, %d changed",
            service,
            len(history),
            len(episodes),
            len(updated),
            len(changed),
        )
        for g in changed:
            if g.id not in self.last_ids:
                log.warning(
                    "gangguan %s opened: %s %s (P%d) since %s",
                    g.id,
                    service,
                    g.impact.label,
                    g.priority,
                    g.start.isoformat(timespec="seconds"),
                    extra={"incident": g.id, "service": service},
                )
            elif g.end is not None and all(o.id != g.id or o.end is None for o in old):
                log.info(
                    "gangguan %s resolved after %s",
                    g.id,
                    g.end - g.start,
                    extra={"incident": g.id, "service": service},
                )
            self.last_ids.add(g.id)
        self.tickets[service] = updated
        self._prune(service, now)
        return changed

    def _prune(self, service: str, now: datetime) -> None:
        keep_from = now - KEEP
        open_ticket = self.open_ticket(service)
        if open_ticket is not None:
            keep_from = min(keep_from, open_ticket.start)
        history = self.transitions.get(service, [])
        # Keep the last transition before the window so the state at its start is known.
        first = next((i for i, t in enumerate(history) if t.at >= keep_from), len(history))
        self.transitions[service] = history[max(0, first - 1) :]
        self.tickets[service] = [
            g for g in self.tickets.get(service, []) if g.end is None or g.end >= keep_from
        ]

    def submit(self, writer: StoreWriter, tickets: Sequence[Gangguan]) -> None:
        """Queue read-merge-writes of ``tickets`` (never dropped)."""
        for g in tickets:
            writer.submit(WriteOp(OpKind.INCIDENT, functools.partial(write_ticket, g=g)))
