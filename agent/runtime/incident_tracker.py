"""Keeps the agent's gangguan tickets in step with its transitions (the I/O side of incidents).

The engine (:mod:`agent.engine.incidents`, :mod:`agent.engine.episodes`) is pure; this module feeds it the
recent transitions of a service, keeps the tickets it returns in memory and writes them.

Operators change tickets from the command line (``pantau incident ack``) while the agent
runs, so the agent never blindly overwrites a stored ticket: each write is a read-merge-write
inside the writer's transaction (:func:`merge_stored`), where the operator's fields (ack,
notes, cause, reclassification, closing) come from the store and the monitoring fields (end,
impact, symptoms, flapping) from the engine. A ticket the engine absorbed into another (a
bounce of a flapping period) brings its stored operator work along in that same transaction.

At start and at each reload, tickets nobody will update again are settled: an open ticket of a
service no longer in the katalog ends with a note, and an open ticket whose episode the stored
transitions show ended (left open by an older pantau) ends at that episode's first good round.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from agent.config.katalog import ServiceSettings
from agent.core.model import FLAP_THRESHOLD, FLAP_WINDOW, State, Transition
from agent.core.periods import period_of, previous_months
from agent.engine.episodes import episodes_from_transitions, flapping_at, up_bad_changes
from agent.engine.incidents import (
    AuditEntry,
    Gangguan,
    IncidentSettings,
    Note,
    Status,
    absorb,
    resolve,
    retire,
    sync_incidents,
)
from agent.store.database import Store
from agent.store.queue import OpKind, WriteOp
from agent.store.writer import StoreWriter

log = logging.getLogger("pantau.incidents")

#: The note on an open ticket whose service left the katalog (it will never be updated again).
REMOVED_NOTE = "layanan dihapus dari katalog; pemantauan dihentikan"
#: The audit detail of an open ticket whose episode had ended while nobody tracked it.
ENDED_UNSEEN = "episode sudah berakhir (tiket tertinggal terbuka oleh versi sebelumnya)"


def merge_stored(engine: Gangguan, stored: Gangguan | None) -> Gangguan:
    """The engine's view of a ticket with the operator's work from the stored copy kept.

    The operator's closing stands while the gangguan is over (or was reclassified); a ticket
    the engine reopened (a flapping period bounced again) is open again. Notes are the union:
    the operator writes them, pantau adds one when it retires a ticket.
    """
    if stored is None:
        return engine
    audit: dict[tuple[str, str, str, str], AuditEntry] = {}
    for entry in (*stored.audit, *engine.audit):
        audit.setdefault((entry.at.isoformat(), entry.action, entry.by, entry.detail), entry)
    notes: dict[tuple[str, str, str], Note] = {}
    for note in (*stored.notes, *engine.notes):
        notes.setdefault((note.at.isoformat(), note.text, note.by), note)
    status, closed_at = engine.status, engine.closed_at
    if stored.status is Status.DITUTUP and (
        engine.end is not None or stored.reclassification is not None
    ):
        status, closed_at = Status.DITUTUP, stored.closed_at
    elif stored.ack_at is not None and engine.end is None:
        status = Status.DITANGANI
    return replace(
        engine,
        cause=stored.cause,
        notes=tuple(sorted(notes.values(), key=lambda n: n.at)),
        ack_at=stored.ack_at,
        ack_by=stored.ack_by,
        reclassification=stored.reclassification,
        closed_at=closed_at,
        status=status,
        audit=tuple(sorted(audit.values(), key=lambda e: e.at)),
        merged_ids=tuple(dict.fromkeys((*stored.merged_ids, *engine.merged_ids))),
    )


def write_ticket(store: Store, g: Gangguan) -> None:
    """Read-merge-write one ticket (runs inside the writer's transaction).

    Tickets the engine absorbed into ``g`` that are still stored bring their operator work
    (their ack, notes, cause …) into ``g``'s stored copy first, then leave the store.
    """
    record = store.incidents.get(g.id)
    stored = Gangguan.from_json(record.blob) if record is not None else None
    absorbed = []
    at = max((a.at for a in g.audit), default=g.reported_at)  # when the engine merged them
    for other_id in g.merged_ids:
        other = store.incidents.get(other_id)
        if other is not None and other_id != g.id:
            absorbed.append(other_id)
            other_g = Gangguan.from_json(other.blob)
            stored = other_g if stored is None else absorb(stored, other_g, at, "satu episode")
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
    for other_id in absorbed:
        store.incidents.absorb(other_id, merged.id)


class IncidentTracker:
    """Recent transitions and tickets per service; turns new transitions into ticket writes."""

    def __init__(
        self, agent_name: str, zone: ZoneInfo, settings: Mapping[str, ServiceSettings]
    ) -> None:
        self.settings = IncidentSettings(agent_name, zone, dict(settings))
        self.transitions: dict[str, list[Transition]] = {}
        self.tickets: dict[str, list[Gangguan]] = {}
        self.last_ids: set[str] = set()
        #: up↔bad change times per service, for the flap state (``pantau_service_flapping``).
        self._changes: dict[str, list[datetime]] = {}

    def configure(
        self, agent_name: str, zone: ZoneInfo, settings: Mapping[str, ServiceSettings]
    ) -> None:
        """Take a reloaded configuration (new services get tickets, removed ones do not)."""
        self.settings = IncidentSettings(agent_name, zone, dict(settings))

    def _flap(self, service: str) -> tuple[int, timedelta]:
        st = self.settings.services.get(service)
        return (st.flap_threshold, st.flap_window) if st else (FLAP_THRESHOLD, FLAP_WINDOW)

    def _keep(self, service: str | None = None) -> timedelta:
        """How far back transitions and closed tickets are kept: two flap windows, so a
        flapping period's earlier bounces are still at hand when a later one joins them."""
        if service is not None:
            return 2 * self._flap(service)[1]
        windows = [st.flap_window for st in self.settings.services.values()]
        return 2 * max(windows, default=FLAP_WINDOW)

    def load(self, store: Store, now: datetime) -> None:
        """Restore open tickets and recent transitions after a start (FAULTS 23)."""
        for record in store.incidents.overlapping(start=now - self._keep()):
            g = Gangguan.from_json(record.blob)
            self.tickets.setdefault(g.service, []).append(g)
            self.last_ids.add(g.id)
        # Numbering continues after the newest stored ticket of this and the previous month.
        for year, month in previous_months(*period_of(now, self.settings.tz), 2):
            last = store.incidents.last_id(f"G-{year:04d}-{month:02d}-")
            if last is not None:
                self.last_ids.add(last)
        for sid in self.settings.services:
            since = now - self._keep(sid)
            for g in self.tickets.get(sid, []):
                if g.end is None:
                    since = min(since, g.start)
            self.transitions[sid] = list(store.transitions(sid, since))
            self._changes[sid] = up_bad_changes(self.transitions[sid])

    def settle(self, now: datetime) -> list[Gangguan]:
        """Tickets nobody would update again, settled (at start and after a reload): an open
        ticket of a service that left the katalog ends now with a note; one whose episode the
        stored transitions show over ends at its first good round. Returns the changed ones."""
        changed: list[Gangguan] = []
        for service, tickets in self.tickets.items():
            configured = service in self.settings.services
            if not configured:
                # Should it come back, its history starts afresh with its new rounds.
                self.transitions.pop(service, None)
                self._changes.pop(service, None)
            history = self.transitions.get(service, [])
            for i, g in enumerate(tickets):
                if g.end is not None:
                    continue
                if not configured:
                    new = retire(g, now, REMOVED_NOTE)
                    log.warning(
                        "gangguan %s of %s ended: the service left the katalog",
                        g.id,
                        service,
                        extra={"incident": g.id, "service": service},
                    )
                else:
                    up = _first_up_after(history, g.start)
                    if up is None or self._ongoing(service, g):
                        continue
                    new = resolve(g, up, ENDED_UNSEEN)
                    log.info(
                        "gangguan %s had ended at %s",
                        g.id,
                        up.isoformat(timespec="seconds"),
                        extra={"incident": g.id, "service": service},
                    )
                tickets[i] = new
                changed.append(new)
        return changed

    def _ongoing(self, service: str, g: Gangguan) -> bool:
        """Whether an ongoing episode of ``service`` covers the ticket's start."""
        threshold, window = self._flap(service)
        eps = episodes_from_transitions(
            self.transitions.get(service, []), flap_threshold=threshold, flap_window=window
        )
        return any(e.end is None and e.start <= g.start for e in eps)

    def open_tickets(self) -> list[Gangguan]:
        """Tickets whose episode is still ongoing."""
        return [g for ts in self.tickets.values() for g in ts if g.end is None]

    def open_ticket(self, service: str) -> Gangguan | None:
        """The ongoing ticket of ``service``, if any."""
        return next((g for g in self.tickets.get(service, []) if g.end is None), None)

    def is_flapping(self, service: str, now: datetime) -> bool:
        """The flap state now: the flap window holds enough up↔bad changes (also while the
        service is momentarily up between bounces)."""
        threshold, window = self._flap(service)
        changes = self._changes.get(service, [])
        return flapping_at(changes, now, flap_threshold=threshold, flap_window=window)

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
        threshold, window = self._flap(service)
        episodes = [
            e
            for e in episodes_from_transitions(
                history, flap_threshold=threshold, flap_window=window
            )
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
        before = {o.id: o for o in old}
        for g in changed:
            self._log_change(service, g, before.get(g.id))
            self.last_ids.add(g.id)
        self.tickets[service] = updated
        self._changes[service] = up_bad_changes(history)
        self._prune(service, now)
        return changed

    @staticmethod
    def _log_change(service: str, g: Gangguan, was: Gangguan | None) -> None:
        extra = {"incident": g.id, "service": service}
        if was is None:
            log.warning(
                "gangguan %s opened: %s %s (P%d) since %s",
                g.id,
                service,
                g.impact.label,
                g.priority,
                g.start.isoformat(timespec="seconds"),
                extra=extra,
            )
            return
        for other in g.merged_ids:
            if other not in was.merged_ids:
                log.warning(
                    "gangguan %s merged into %s: one episode (flapping)", other, g.id, extra=extra
                )
        if g.end is not None and was.end is None:
            log.info("gangguan %s resolved after %s", g.id, g.end - g.start, extra=extra)
        elif g.end is None and was.end is not None:
            log.warning("gangguan %s continues: %s is flapping", g.id, service, extra=extra)

    def _prune(self, service: str, now: datetime) -> None:
        keep_from = now - self._keep(service)
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


def _first_up_after(history: Sequence[Transition], at: datetime) -> datetime | None:
    return next((t.at for t in history if t.at > at and t.state is State.UP), None)
