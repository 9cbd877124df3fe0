"""Gangguan (incident) engine — pure: no I/O, no clock reads (``now`` is a parameter).

Transitions → :func:`episodes_from_transitions` → :func:`sync_incidents` → :class:`Gangguan`
tickets, which carry the 16 fields of the Pedoman's *Formulir Penanganan Aduan Gangguan*
(4.2.1.2, names in :data:`FORM_FIELDS`; rendered by :mod:`exporters.incidents_csv`) and the
operator's work on them. Operator actions return a new ticket and append to its audit trail.

An **episode** is a stretch of confirmed non-up state: it starts at its first bad transition
(the first bad round), continues across ``unknown`` gaps (agent restart) and down↔degraded
switches, and ends at the next ``up`` transition. Mayor if it was ever down, else Minor.

**Flapping** (after Nagios/Checkmk flap detection, simplified to a count): an episode is
flapping when some window of ``flap_window`` (default 1 h) containing its start or end holds
at least ``flap_threshold`` (default 4) up↔bad changes — two full down/up cycles within an
hour. Bad rounds below ``failure_threshold`` never become transitions, so they never count.

Ticket ids are ``G-YYYY-MM-NNNN``: the month of the episode start in the report zone and a
sequence per month. An episode is identified by ``(service, start)``, its start at the one event
resolution (:func:`~agent.core.model.event_time`, what the store keeps): after a restart during
an open incident the episode read back from the store has the very same start, so
:func:`sync_incidents` updates the same ticket instead of opening a second one. A ticket whose
start lies inside a later-seen episode is the same gangguan seen in parts (a bounce of a
flapping period, or a duplicate opened by an older pantau): it is absorbed into the episode's
ticket with all the operator's work (:func:`absorb`), and its id is remembered
(``merged_ids``) so it is never reused.

Response accounting: response time = ack − start. The Lampiran SLA counts responses in working
hours, so both the Tabel 4.3 target (by priority) and the SLA's 3 hours are added to the start
in working time (:mod:`agent.engine.workhours`); a report outside working hours starts counting at
the next working day. Resolution (Lampiran SLA, by urgency) and RTO are wall-clock durations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from agent.config.katalog import ServiceSettings
from agent.config.models import WorkingHours
from agent.core.errors import PantauError
from agent.core.model import Episode, State
from agent.core.pedoman import SLA_RESOLUTION, SLA_RESPONSE_WORKING_HOURS, Impact, priority
from agent.core.pedoman import response_target as priority_response_target
from agent.core.periods import period_of
from agent.engine.availability import Override, OverrideKind
from agent.engine.workhours import add_working_time

#: Fields of the Formulir Penanganan Aduan Gangguan (Pedoman 4.2.1.2), in form order.
FORM_FIELDS: tuple[str, ...] = (
    "Nomor Tiket",
    "Tanggal/Waktu Laporan",
    "Nama Pelapor",
    "Unit Kerja Pelapor / Kontak",
    "Metode Pelaporan",
    "Nama Layanan",
    "Kategori Gangguan",
    "Deskripsi/Gejala",
    "Komponen Terdampak",
    "Dampak",
    "Urgensi",
    "Prioritas",
    "Target Respons",
    "Pengelola Teknis",
    "Status",
    "Waktu Selesai/Ditutup",
)
REPORTER = "pantau (agen pemantauan)"
METHOD = "Pemantauan otomatis"


class IncidentError(PantauError):
    """An operator action that cannot apply to a ticket (e.g. an ack before the gangguan)."""


class Status(StrEnum):
    """Ticket status: open, being handled (acked), resolved (service up), closed."""

    TERBUKA = "Terbuka"
    DITANGANI = "Ditangani"
    SELESAI = "Selesai"
    DITUTUP = "Ditutup"


# -------------------------------------------------------------------------------- episodes


# --------------------------------------------------------------------------------- tickets
@dataclass(frozen=True)
class Note:
    """An operator's note (Catatan) on a ticket."""

    at: datetime
    text: str
    by: str = ""


@dataclass(frozen=True)
class AuditEntry:
    """One change to a ticket: when, what, by whom, and a short detail."""

    at: datetime
    action: str
    by: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Reclassification:
    """The operator's verdict that a gangguan was planned maintenance or a false positive."""

    as_: OverrideKind
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class Gangguan:
    """One gangguan ticket: the Formulir's fields plus handling, SLA and audit data."""

    id: str  # Nomor Tiket
    service: str
    start: datetime  # first bad round
    end: datetime | None  # first good round; None while ongoing
    reported_at: datetime  # Tanggal/Waktu Laporan: when pantau filed the ticket
    reporter: str  # Nama Pelapor
    reporter_unit: str  # Unit Kerja Pelapor / Kontak
    service_name: str  # Nama Layanan
    category: str  # Kategori Gangguan
    symptoms: tuple[str, ...]  # Deskripsi/Gejala: reasons of the failing checks
    components: tuple[str, ...]  # Komponen Terdampak
    impact: Impact  # Dampak
    urgency: int  # Urgensi (Lampiran SLA 1/2/3)
    priority: int  # Prioritas (Tabel 4.2)
    response_target: timedelta  # Target Respons (Tabel 4.3)
    technical_manager: str  # Pengelola Teknis
    status: Status = Status.TERBUKA
    closed_at: datetime | None = None
    method: str = METHOD  # Metode Pelaporan
    cause: str = ""  # Penyebab
    notes: tuple[Note, ...] = ()
    ack_at: datetime | None = None
    ack_by: str = ""
    rto: timedelta | None = None
    flapping: bool = False
    reclassification: Reclassification | None = None
    audit: tuple[AuditEntry, ...] = field(default=())
    merged_ids: tuple[str, ...] = ()  # tickets absorbed into this one (same gangguan)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times ISO 8601, durations in seconds) for the store."""
        return {k: _enc(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Gangguan:
        """Inverse of :meth:`to_json`; handling fields missing from older blobs get defaults."""
        ts, opt = datetime.fromisoformat, _opt_ts
        rc, rto = data.get("reclassification"), data.get("rto")
        return cls(
            **{k: data[k] for k in ("id", "service", "reporter", "reporter_unit")},
            **{k: data[k] for k in ("service_name", "category", "urgency", "priority")},
            technical_manager=data["technical_manager"],
            start=ts(data["start"]),
            end=opt(data["end"]),
            reported_at=ts(data["reported_at"]),
            symptoms=tuple(data["symptoms"]),
            components=tuple(data["components"]),
            impact=Impact(data["impact"]),
            response_target=timedelta(seconds=data["response_target"]),
            status=Status(data["status"]),
            closed_at=opt(data.get("closed_at")),
            method=data.get("method", METHOD),
            cause=data.get("cause", ""),
            notes=tuple(Note(ts(n["at"]), n["text"], n["by"]) for n in data.get("notes", ())),
            ack_at=opt(data.get("ack_at")),
            ack_by=data.get("ack_by", ""),
            rto=None if rto is None else timedelta(seconds=rto),
            flapping=bool(data.get("flapping", False)),
            reclassification=None
            if rc is None
            else Reclassification(rc["as_"], rc["reason"], rc["by"], ts(rc["at"])),
            audit=tuple(
                AuditEntry(ts(a["at"]), a["action"], a["by"], a["detail"])
                for a in data.get("audit", ())
            ),
            merged_ids=tuple(data.get("merged_ids", ())),
        )


def _enc(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return [_enc(v) for v in value]
    if isinstance(value, Note | AuditEntry | Reclassification):
        return {k: _enc(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def _opt_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _log(g: Gangguan, at: datetime, action: str, by: str = "", detail: str = "") -> Gangguan:
    return replace(g, audit=(*g.audit, AuditEntry(at, action, by, detail)))


# ---------------------------------------------------------------------- operator actions
def ack(g: Gangguan, at: datetime, by: str) -> Gangguan:
    """Acknowledge (respond to) the gangguan; the first ack sets the response time."""
    if at < g.start:
        raise IncidentError(f"{g.id}: ack at {at.isoformat()} is before the gangguan started")
    if g.ack_at is not None:
        return _log(g, at, "ack", by, "sudah direspons sebelumnya")
    status = Status.DITANGANI if g.status is Status.TERBUKA else g.status
    return _log(replace(g, ack_at=at, ack_by=by, status=status), at, "ack", by)


def add_note(g: Gangguan, at: datetime, text: str, by: str = "") -> Gangguan:
    """Append a note (Catatan)."""
    return _log(replace(g, notes=(*g.notes, Note(at, text, by))), at, "note", by, text)


def set_cause(g: Gangguan, at: datetime, text: str, by: str = "") -> Gangguan:
    """Record the cause (Penyebab); the previous one stays in the audit trail."""
    return _log(replace(g, cause=text), at, "cause", by, f"{g.cause!r} → {text!r}")


def reclassify(g: Gangguan, at: datetime, as_: OverrideKind, reason: str, by: str = "") -> Gangguan:
    """Mark the gangguan as planned maintenance or a false positive and close it.

    Availability then counts its time as maintenance or up (:func:`overrides_from_tickets`).
    """
    if as_ not in ("maintenance", "false_positive"):
        raise IncidentError(f"{g.id}: reclassify as 'maintenance' or 'false_positive', not {as_!r}")
    g = replace(
        g,
        reclassification=Reclassification(as_, reason, by, at),
        status=Status.DITUTUP,
        closed_at=at,
    )
    return _log(g, at, "reclassify", by, f"{as_}: {reason}")


def resolve(g: Gangguan, end: datetime, why: str = "") -> Gangguan:
    """The service is up again at ``end`` (the first good round): status Selesai."""
    status = g.status if g.status is Status.DITUTUP else Status.SELESAI
    return _log(replace(g, end=end, status=status), end, "resolve", REPORTER, why)


def reopen(g: Gangguan, at: datetime, why: str) -> Gangguan:
    """The gangguan came back before it was over (a flapping period bounced down again)."""
    status = Status.DITANGANI if g.ack_at is not None else Status.TERBUKA
    if g.reclassification is not None:
        status = Status.DITUTUP  # the operator's verdict covers the whole gangguan
    g = replace(g, end=None, status=status, closed_at=g.closed_at if g.reclassification else None)
    return _log(g, at, "reopen", REPORTER, why)


def retire(g: Gangguan, at: datetime, why: str) -> Gangguan:
    """Nothing more will be known of an open gangguan (its service left the katalog): it ends
    at ``at``, is closed by pantau, and a note says why."""
    g = replace(
        g,
        end=at,
        status=Status.DITUTUP,
        closed_at=at,
        notes=(*g.notes, Note(at, why, REPORTER)),
    )
    return _log(g, at, "retire", REPORTER, why)


def absorb(keep: Gangguan, other: Gangguan, at: datetime, why: str) -> Gangguan:
    """``keep`` with ``other`` merged in: one gangguan that was seen as two tickets.

    Nothing the operator did is lost: the earliest ack, every note, the cause set last, the
    reclassification made last, and both audit trails. The monitoring fields cover both (the
    caller sets the end from the episode); impact only escalates.
    """
    major = other if other.impact is Impact.MAJOR and keep.impact is not Impact.MAJOR else keep
    acks = sorted((g.ack_at, g.ack_by) for g in (keep, other) if g.ack_at is not None)
    ack_at, ack_by = acks[0] if acks else (None, "")
    notes = {(n.at, n.text, n.by): n for n in (*keep.notes, *other.notes)}
    cause = keep.cause
    if other.cause and (not cause or _last(other, "cause") > _last(keep, "cause")):
        cause = other.cause
    reclass = [g.reclassification for g in (keep, other) if g.reclassification is not None]
    reclassification = max(reclass, key=lambda r: r.at) if reclass else None
    end = None if keep.end is None or other.end is None else max(keep.end, other.end)
    closed = [g.closed_at for g in (keep, other) if g.closed_at is not None]
    closed_at = max(closed, default=None)  # a reclassification closes its ticket too
    if reclassification is not None or (end is not None and closed_at is not None):
        status = Status.DITUTUP
    else:
        closed_at = None
        status = Status.SELESAI if end else Status.DITANGANI if ack_at else Status.TERBUKA
    audit = {(a.at, a.action, a.by, a.detail): a for a in (*keep.audit, *other.audit)}
    merged = replace(
        keep,
        start=min(keep.start, other.start),
        end=end,
        reported_at=min(keep.reported_at, other.reported_at),
        impact=major.impact,
        category=major.category,
        components=major.components,
        priority=major.priority,
        response_target=major.response_target,
        symptoms=tuple(dict.fromkeys((*keep.symptoms, *other.symptoms))),
        flapping=keep.flapping or other.flapping,
        ack_at=ack_at,
        ack_by=ack_by,
        notes=tuple(sorted(notes.values(), key=lambda n: n.at)),
        cause=cause,
        reclassification=reclassification,
        status=status,
        closed_at=closed_at,
        audit=tuple(sorted(audit.values(), key=lambda a: a.at)),
        merged_ids=tuple(dict.fromkeys((*keep.merged_ids, other.id, *other.merged_ids))),
    )
    return _log(merged, at, "merge", REPORTER, f"{other.id} digabung: {why}")


def _last(g: Gangguan, action: str) -> datetime:
    """When ``action`` was last done on ``g`` (the earliest time if never)."""
    return max(
        (a.at for a in g.audit if a.action == action), default=datetime.min.replace(tzinfo=UTC)
    )


def close(g: Gangguan, at: datetime, by: str) -> Gangguan:
    """Close the ticket (Ditutup) after the operator has verified the resolution."""
    if g.end is None:
        raise IncidentError(
            f"{g.id}: the gangguan is still ongoing; close it after recovery, or reclassify it"
        )
    return _log(replace(g, status=Status.DITUTUP, closed_at=at), at, "close", by)


# ------------------------------------------------------------------------------ measures
class Spell(Protocol):
    """Anything with a start and an end (``None`` while ongoing): a ticket or an episode."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime | None: ...


def duration(g: Spell, now: datetime) -> timedelta:
    """How long the gangguan lasted (until ``now`` while ongoing), not clipped to a period."""
    return max((g.end or now) - g.start, timedelta())


def episode_impact(ep: Episode) -> Impact:
    """Mayor when the episode was ever down, else Minor (Tabel 4.2 notes)."""
    return Impact.MAJOR if ep.state is State.DOWN else Impact.MINOR


def response_time(g: Gangguan) -> timedelta | None:
    """ack − start, ``None`` before the ack."""
    return None if g.ack_at is None else g.ack_at - g.start


def response_deadline(g: Gangguan, wh: WorkingHours, tz: ZoneInfo) -> datetime:
    """Start + the Tabel 4.3 target counted in working hours (Lampiran SLA)."""
    return add_working_time(g.start, g.response_target, wh, tz)


def sla_response_deadline(g: Gangguan, wh: WorkingHours, tz: ZoneInfo) -> datetime:
    """Start + 3 working hours (Lampiran SLA), rolling over to the next working day."""
    return add_working_time(g.start, SLA_RESPONSE_WORKING_HOURS, wh, tz)


def response_met(g: Gangguan, wh: WorkingHours, tz: ZoneInfo, now: datetime) -> bool | None:
    """Acked by the deadline; ``False`` once it passed unacked, ``None`` while still open."""
    deadline = response_deadline(g, wh, tz)
    if g.ack_at is not None:
        return g.ack_at <= deadline
    return False if now > deadline else None


def resolution_breached(g: Gangguan, now: datetime) -> bool:
    """Duration beyond the Lampiran SLA resolution time of its urgency (48/72/120 h)."""
    return duration(g, now) > SLA_RESOLUTION[g.urgency]


def rto_breached(g: Gangguan, now: datetime) -> bool | None:
    """A Mayor episode longer than the service's RTO (ongoing: now − start > rto).

    ``None`` without an RTO; a Minor or reclassified gangguan never breaches it.
    """
    if g.rto is None:
        return None
    if g.impact is not Impact.MAJOR or g.reclassification is not None:
        return False
    return duration(g, now) > g.rto


def detection_latency(first_bad_round_at: datetime, ticket_created_at: datetime) -> timedelta:
    """Time from the first bad round to the ticket (Gambar 4.4 wants ≤ 10 minutes)."""
    return ticket_created_at - first_bad_round_at


def overrides_from_tickets(tickets: Sequence[Gangguan], now: datetime) -> list[Override]:
    """Availability overrides of reclassified tickets (an ongoing one up to ``now``)."""
    return [
        Override(g.start, g.end or now, g.reclassification.as_, g.reclassification.reason)
        for g in tickets
        if g.reclassification is not None
    ]


def in_period(g: Spell, start: datetime, end: datetime) -> bool:
    """Whether the gangguan overlaps ``[start, end)`` (a month's list shows it there)."""
    return g.start < end and (g.end is None or g.end > start)


# ---------------------------------------------------------------------------------- sync
@dataclass(frozen=True)
class IncidentSettings:
    """What ticket creation needs besides the episode."""

    agent_name: str
    tz: ZoneInfo
    services: Mapping[str, ServiceSettings]


def _components(s: ServiceSettings, impact: Impact) -> tuple[str, ...]:
    out: list[str] = []
    for check in s.service.checks:
        if impact is Impact.MAJOR and check.impact is not Impact.MAJOR:
            continue  # a Mayor episode comes from the major checks
        out.append(check.component)
    if s.service.host:
        out.append(f"host {s.service.host}")
    return tuple(out)


def _category(impact: Impact, reasons: Sequence[str]) -> str:
    if impact is Impact.MAJOR:
        return "Ketersediaan"
    if reasons and all(r.rsplit(":", 1)[-1] == "slow" for r in reasons):
        return "Kinerja"
    return "Fungsi"  # one function (a minor check) failing while the service is up


def _classified(g: Gangguan, s: ServiceSettings, impact: Impact) -> Gangguan:
    prio = priority(impact, s.service.group, s.service.classification)
    return replace(
        g,
        impact=impact,
        category=_category(impact, g.symptoms),
        components=_components(s, impact),
        priority=prio,
        response_target=priority_response_target(prio),
    )


def _new_ticket(
    ep: Episode, s: ServiceSettings, ticket_id: str, now: datetime, agent: str
) -> Gangguan:
    svc = s.service
    unit = " / ".join(x for x in (svc.technical_manager or svc.provider, svc.contact) if x)
    g = Gangguan(
        id=ticket_id,
        service=ep.service,
        start=ep.start,
        end=ep.end,
        reported_at=now,
        reporter=f"{REPORTER} {agent}".strip(),
        reporter_unit=unit,
        service_name=svc.name,
        category="",
        symptoms=ep.reasons,
        components=(),
        impact=Impact.MINOR,
        urgency=s.urgency,
        priority=0,
        response_target=timedelta(),
        technical_manager=svc.technical_manager,
        status=Status.TERBUKA if ep.end is None else Status.SELESAI,
        rto=svc.rto,
        flapping=ep.flapping,
    )
    return _log(_classified(g, s, episode_impact(ep)), now, "create", REPORTER)


def _updated(g: Gangguan, ep: Episode, s: ServiceSettings | None, now: datetime) -> Gangguan:
    if ep.end is None and g.end is not None:
        g = reopen(g, now, "naik-turun berulang (flapping): gangguan berlanjut")
    elif ep.end is not None and ep.end != g.end:
        g = resolve(g, ep.end)
    symptoms = tuple(dict.fromkeys((*g.symptoms, *ep.reasons)))
    if symptoms != g.symptoms or ep.flapping != g.flapping:
        g = replace(g, symptoms=symptoms, flapping=g.flapping or ep.flapping)
    if ep.state is State.DOWN and g.impact is Impact.MINOR and s is not None:
        g = _log(_classified(g, s, Impact.MAJOR), now, "impact", REPORTER, "Minor → Mayor")
    return g


def sync_incidents(
    existing: Sequence[Gangguan],
    episodes: Sequence[Episode],
    settings: IncidentSettings,
    *,
    now: datetime,
    last_ids: Sequence[str] = (),
) -> list[Gangguan]:
    """Tickets after seeing ``episodes``: existing ones updated, new episodes ticketed.

    ``existing`` must hold every ticket whose episode may be in ``episodes`` and every ticket
    of the months those episodes start in; ``last_ids`` adds ids known only to the store
    (e.g. ``Store.incidents.last_id("G-2024-09-")``) so numbering continues after them.
    Returns ``existing`` in its order, updated (end, status, impact, symptoms, flapping;
    impact only escalates), then the new tickets oldest first. An episode's ticket is the one
    with its start, else one whose span holds its start (the episode seen from a shortened
    history); other tickets of the service starting inside the episode are absorbed into it
    and leave the list (:func:`absorb`). Episodes of services no longer configured get no new
    ticket.
    """
    out: list[Gangguan | None] = list(existing)
    seq: dict[str, int] = {}
    for known in (*(g.id for g in existing), *last_ids):
        prefix, _, n = known.rpartition("-")
        if n.isdigit():
            seq[prefix] = max(seq.get(prefix, 0), int(n))
    for ep in sorted(episodes, key=lambda e: (e.start, e.service)):
        s = settings.services.get(ep.service)
        owner, inside = _tickets_of(out, ep)
        if owner is None and inside:
            owner = inside.pop(0)
            g = out[owner]
            assert g is not None
            out[owner] = _log(replace(g, start=ep.start), now, "start", REPORTER, "awal episode")
        if owner is not None:
            g = out[owner]
            assert g is not None
            for i in inside:
                other = out[i]
                assert other is not None
                g = absorb(g, other, now, "satu episode (naik-turun berulang atau duplikat)")
                out[i] = None
            out[owner] = _updated(g, ep, s, now)
            continue
        if s is None:
            continue
        year, month = period_of(ep.start, settings.tz)
        prefix = f"G-{year:04d}-{month:02d}"
        seq[prefix] = seq.get(prefix, 0) + 1
        out.append(_new_ticket(ep, s, f"{prefix}-{seq[prefix]:04d}", now, settings.agent_name))
    return [g for g in out if g is not None]


def _tickets_of(tickets: Sequence[Gangguan | None], ep: Episode) -> tuple[int | None, list[int]]:
    """The index of ``ep``'s own ticket (``None`` if it has none), and of the other tickets of
    its service that start inside it (to be absorbed), oldest first."""
    exact: int | None = None
    holding: int | None = None
    inside: list[tuple[datetime, str, int]] = []
    for i, g in enumerate(tickets):
        if g is None or g.service != ep.service:
            continue
        if g.start == ep.start and exact is None:
            exact = i
        elif ep.start <= g.start and (ep.end is None or g.start < ep.end):
            inside.append((g.start, g.id, i))
        elif g.start < ep.start and g.end is not None and ep.start < g.end:
            holding = i  # a closed ticket whose span holds the episode's start
    owner = exact if exact is not None else holding
    return owner, [i for _, _, i in sorted(inside)]
