"""A month's gangguan tickets as CSV: the Formulir Penanganan Aduan Gangguan, one row each.

Columns: the 16 form fields of Pedoman 4.2.1.2 (:data:`agent.engine.incidents.FORM_FIELDS`, Indonesian
headers), then Penyebab, Catatan, Waktu Respons, Respons Sesuai Target, Reklasifikasi, and —
because a form without them cannot be checked against the availability figures — Waktu Mulai
Gangguan, Durasi (menit) and Melebihi RTO. Times are shown in the report zone with its
abbreviation (``2024-09-14 22:00:00 WIB``); durations on the form read ``1 jam 30 menit``.

A month's list holds every ticket whose gangguan overlaps the month (:func:`month_tickets`),
so an outage crossing midnight of the 1st appears in both months (its id keeps the month it
started in). ``excel=True`` writes the Indonesian Excel dialect (BOM, ``;``, decimal comma,
CRLF) like :mod:`exporters.csv_report`; the file is written to a temporary name and renamed.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.config.models import WorkingHours
from agent.core.durations import format_duration_words
from agent.core.errors import ReportError
from agent.core.pedoman import Impact
from agent.engine.availability import month_bounds
from agent.engine.incidents import (
    FORM_FIELDS,
    Gangguan,
    duration,
    in_period,
    response_met,
    response_time,
    rto_breached,
)

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
# A cell starting with one of these runs as a formula in spreadsheets (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("ya" if value else "tidak")


def rows(
    tickets: Sequence[Gangguan],
    *,
    tz: ZoneInfo,
    working_hours: WorkingHours,
    now: datetime,
    excel: bool = False,
) -> Iterator[list[str]]:
    """The header and one row per ticket as text cells (what :func:`write_incidents_csv` writes)."""

    def text(value: str) -> str:
        return "'" + value if excel and value.startswith(_FORMULA_START) else value

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
            *(text(v) for v in form_fields(g, tz).values()),
            text(g.cause),
            text(notes),
            "" if rt is None else format_duration_words(rt, exact=True),
            _yes_no(response_met(g, working_hours, tz, now)),
            text(reclass),
            format_local(g.start, tz),
            minutes.replace(".", ",") if excel else minutes,
            _yes_no(rto_breached(g, now)),
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
    target = Path(path)
    encoding, delimiter, newline = ("utf-8-sig", ";", "\r\n") if excel else ("utf-8", ",", "\n")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ReportError(
            f"cannot write gangguan CSV {target}: {exc.strerror} (check the directory)"
        ) from exc
    try:
        with open(fd, "w", encoding=encoding, newline="") as fh:
            writer = csv.writer(fh, delimiter=delimiter, lineterminator=newline)
            writer.writerows(
                rows(tickets, tz=tz, working_hours=working_hours, now=now, excel=excel)
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReportError(f"cannot write gangguan CSV {target}: {exc.strerror}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
