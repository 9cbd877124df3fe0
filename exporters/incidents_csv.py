"""A month's gangguan tickets as CSV: the Formulir Penanganan Aduan Gangguan, one row each.

Columns: the 16 form fields of Pedoman 4.2.1.2 (:data:`agent.engine.incidents.FORM_FIELDS`, Indonesian
headers), then Penyebab, Catatan, Waktu Respons, Respons Sesuai Target, Reklasifikasi, and —
because a form without them cannot be checked against the availability figures — Waktu Mulai
Gangguan, Durasi (menit) and Melebihi RTO. Times are shown in the report zone with its
abbreviation (``2024-09-14 22:00:00 WIB``); durations on the form read ``1 jam 30 menit``.

A month's list holds every ticket whose gangguan overlaps the month (:func:`month_tickets`),
so an outage crossing midnight of the 1st appears in both months (its id keeps the month it
started in). ``excel=True`` writes the Indonesian Excel dialect of :mod:`exporters.csvio`,
like :mod:`exporters.csv_report`; the file is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.config.models import WorkingHours
from agent.core.durations import format_duration_words
from agent.core.pedoman import Impact
from agent.core.periods import month_bounds
from agent.engine.incidents import (
    FORM_FIELDS,
    Gangguan,
    duration,
    in_period,
    response_met,
    response_time,
    rto_breached,
)
from exporters.csvio import dialect, write_rows, yes_no

EXTRA_COLUMNS: tuple[str, ...] = (
    "Penyebab",
    "Catatan",
    "Waktu Respons",
    "Respons Sesuai Target",
    "Reklasifikasi",
    "Waktu Mulai Gangguan",
    "Durasi (menit)",
    "Melebihi RTO",
)
COLUMNS: tuple[str, ...] = FORM_FIELDS + EXTRA_COLUMNS
_RECLASS = {"maintenance": "Pemeliharaan terencana", "false_positive": "Positif palsu"}


def format_local(ts: datetime | None, tz: ZoneInfo) -> str:
    """``2024-09-14 22:00:00 WIB`` (empty for ``None``)."""
    if ts is None:
        return ""
    local = ts.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


def form_fields(g: Gangguan, tz: ZoneInfo) -> dict[str, str]:
    """The 16 Formulir fields of a ticket as text, keyed by their Indonesian names."""
    what = "Layanan tidak dapat diakses" if g.impact is Impact.MAJOR else "Layanan terganggu"
    symptoms = f"{what} ({'; '.join(g.symptoms)})" if g.symptoms else what
    if g.flapping:
        symptoms += "; naik-turun berulang (flapping)"
    values = (
        g.id,
        format_local(g.reported_at, tz),
        g.reporter,
        g.reporter_unit,
        g.method,
        g.service_name,
        g.category,
        symptoms,
        "; ".join(g.components),
        g.impact.label,
        str(g.urgency),
        f"P{g.priority}",
        format_duration_words(g.response_target, exact=True),
        g.technical_manager,
        g.status.value,
        format_local(g.closed_at or g.end, tz),
    )
    return dict(zip(FORM_FIELDS, values, strict=True))


def month_tickets(
    tickets: Sequence[Gangguan], year: int, month: int, tz: ZoneInfo
) -> list[Gangguan]:
    """Tickets whose gangguan overlaps the calendar month in ``tz``, oldest first."""
    start, end = month_bounds(year, month, tz)
    return sorted((g for g in tickets if in_period(g, start, end)), key=lambda g: (g.start, g.id))


def rows(
    tickets: Sequence[Gangguan],
    *,
    tz: ZoneInfo,
    working_hours: WorkingHours,
    now: datetime,
    excel: bool = False,
) -> Iterator[list[str]]:
    """The header and one row per ticket as text cells (what :func:`write_incidents_csv` writes)."""
    d = dialect(excel)
    yield list(COLUMNS)
    for g in tickets:
        rt = response_time(g)
        notes = "; ".join(f"{format_local(n.at, tz)} {n.by}: {n.text}".strip() for n in g.notes)
        rc = g.reclassification
        reclass = ""
        if rc is not None:
            reclass = f"{_RECLASS[rc.as_]}: {rc.reason} ({rc.by}, {format_local(rc.at, tz)})"
        minutes = f"{duration(g, now).total_seconds() / 60:.2f}"
        yield [
            *(d.text(v) for v in form_fields(g, tz).values()),
            d.text(g.cause),
            d.text(notes),
            "" if rt is None else format_duration_words(rt, exact=True),
            yes_no(response_met(g, working_hours, tz, now)),
            d.text(reclass),
            format_local(g.start, tz),
            minutes.replace(".", d.decimal_mark),
            yes_no(rto_breached(g, now)),
        ]


def write_incidents_csv(
    tickets: Sequence[Gangguan],
    path: str | os.PathLike[str],
    *,
    tz: ZoneInfo,
    working_hours: WorkingHours,
    now: datetime,
    excel: bool = False,
) -> Path:
    """Write ``tickets`` (e.g. :func:`month_tickets`) to ``path`` atomically; return the path.

    Raises :class:`~agent.core.errors.ReportError` when the file cannot be written.
    """
    return write_rows(
        path,
        rows(tickets, tz=tz, working_hours=working_hours, now=now, excel=excel),
        dialect(excel),
        what="gangguan CSV",
        hint="check the directory",
    )
