"""``pantau status``: the status document as Indonesian tables, once or every N seconds.

The tables are drawn from :func:`agent.reports.status.status_document` alone (the same
document ``--json`` prints and ``/api/v1/status`` serves), so both carry the same fields. Words
are those of ``pantau incidents`` and the monthly PDF (normal, degradasi, down, pemeliharaan,
tanpa data; terlampaui); times are in the agent's zone with its abbreviation (WIB, WITA, WIT).
Colour is added only on a terminal (and never with ``NO_COLOR``), and only to a word or number
that already says the same thing.

Exit status (for scripts): 1 when any service is down or any RPO is breached, else 0.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import click

from agent.cli.store import open_store
from agent.config.models import Config
from agent.core.clock import SystemClock
from agent.core.durations import format_duration_words
from agent.core.errors import EXIT_FAILED, EXIT_OK
from agent.core.pedoman import Impact
from agent.reports.status import status_document
from exporters.advice import FULL_WARN_PCT, PRESSURE_PCT

#: Service states as the monthly PDF writes them (Realisasi = (normal + degradasi) / …).
STATE_WORDS = {
    "up": "normal",
    "degraded": "degradasi",
    "down": "down",
    "maintenance": "pemeliharaan",
    "unknown": "tanpa data",
}
RPO_WORDS = {"ok": "ok", "breached": "terlampaui", "unknown": "tanpa data"}
RED, YELLOW, GREEN = "red", "yellow", "green"
STATE_COLORS = {"up": GREEN, "degraded": YELLOW, "down": RED, "unknown": YELLOW}
RPO_COLORS = {"ok": GREEN, "breached": RED, "unknown": YELLOW}
NONE = "–"
CLEAR_SCREEN = "\x1b[H\x1b[2J"

#: A table cell: its text and the colour it gets on a terminal (``None``: plain).
Cell = tuple[str, str | None]


def read_status(config: Config) -> dict[str, Any]:
    """The status document of ``config``'s store, now (the store is closed again at once)."""
    with open_store(config, read_only=True) as store:
        return status_document(store, config, SystemClock().now())


def exit_status(doc: dict[str, Any]) -> int:
    """1 when any service is down or any RPO is breached (for scripts), else 0."""
    for s in doc["services"]:
        if s["state"] == "down" or (s["backup"] or {}).get("state") == "breached":
            return EXIT_FAILED
    return EXIT_OK


def use_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def show_status(config: Config, as_json: bool) -> int:
    """Print the status once (table or JSON); return the exit status."""
    import json

    doc = read_status(config)
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        for line in status_lines(doc, color=use_color(sys.stdout)):
            click.echo(line)
    return exit_status(doc)


def watch_status(config: Config, seconds: int) -> int:
    """Redraw the table every ``seconds`` until Ctrl-C; return the last exit status.

    On a terminal each redraw clears the screen; into a pipe or a file the tables follow one
    another, separated by a blank line. The store is opened for each redraw only, so a
    watching admin never holds it.
    """
    tty = sys.stdout.isatty()
    color = use_color(sys.stdout)
    status, first = EXIT_OK, True
    try:
        while True:
            doc = read_status(config)
            status = exit_status(doc)
            lines = status_lines(doc, color=color)
            lines.append(f"(diperbarui setiap {seconds} detik; Ctrl-C untuk berhenti)")
            if tty:
                click.echo(CLEAR_SCREEN, nl=False)
            elif not first:
                click.echo("")
            click.echo("\n".join(lines))
            first = False
            time.sleep(seconds)
    except KeyboardInterrupt:
        return status


def local_time(iso: str | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """``2026-12-08 08:52 WIB``: a UTC ISO time of the document in the agent's zone."""
    if iso is None:
        return NONE
    local = datetime.fromisoformat(iso).astimezone(zone)
    text = f"{local:%Y-%m-%d %H:%M:%S}" if seconds else f"{local:%Y-%m-%d %H:%M}"
    return f"{text} {local.tzname()}"


def _hours(hours: float | None, places: int | None = None) -> str:
    """Hours as admins write RPO and RTO (``24 jam``); an age with ``places`` decimals."""
    if hours is None:
        return NONE
    return f"{hours:.{places}f} jam" if places is not None else f"{hours:g} jam"


def _minutes_words(minutes: float | None) -> str:
    return NONE if minutes is None else format_duration_words(timedelta(minutes=minutes))


def _pct(value: float | None, places: int = 3) -> str:
    return NONE if value is None else f"{value:.{places}f}%"


def render(rows: Sequence[Sequence[Cell]], color: bool) -> list[str]:
    """Left-aligned columns two spaces apart; a cell is padded first and coloured after, so
    escape codes never shift a column."""
    widths = [max(len(r[i][0]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = []
        for (text, fg), width in zip(row, widths, strict=True):
            padded = text.ljust(width)
            cells.append(click.style(padded, fg=fg) if color and fg else padded)
        lines.append("  ".join(cells).rstrip())
    return lines


def section(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Cell]], color: bool
) -> list[str]:
    """A titled table, or the title saying there is nothing to show."""
    if not rows:
        return ["", f"{title}: tidak ada"]
    return ["", title, *render([[(c, None) for c in columns], *rows], color)]


def status_lines(doc: dict[str, Any], *, color: bool = False) -> list[str]:
    """``pantau status`` as text: services, backups, drills, open gangguan, hosts."""
    zone = ZoneInfo(doc["timezone"])
    services = doc["services"]
    generated = local_time(doc["generated_at"], zone, seconds=True)
    out = [f"agen {doc['agent']} — {generated} — periode {doc['period']}"]
    out += section(
        "Layanan (bulan berjalan)",
        SERVICE_COLUMNS,
        [_service_row(s, zone) for s in services],
        color,
    )
    out += section(
        "Backup (RPO)",
        BACKUP_COLUMNS,
        [_backup_row(s, zone) for s in services if s["backup"] is not None],
        color,
    )
    out += section(
        "Uji pemulihan (RTO)",
        DRILL_COLUMNS,
        [_drill_row(s, zone) for s in services if s["drp"] is not None],
        color,
    )
    out += section(
        "Gangguan terbuka",
        TICKET_COLUMNS,
        [_ticket_row(s["id"], t, zone) for s in services for t in s["open_incidents"]],
        color,
    )
    if doc["hosts"]:
        out += section("Host", HOST_COLUMNS, [_host_row(h, zone) for h in doc["hosts"]], color)
    return out


SERVICE_COLUMNS = (
    "LAYANAN", "STATUS", "SEJAK", "KETERSEDIAAN", "TARGET", "DOWN", "CAKUPAN", "GANGGUAN",
)  # fmt: skip


def _service_row(s: dict[str, Any], zone: ZoneInfo) -> list[Cell]:
    m = s["month_to_date"]
    tickets = ", ".join(f"{t['id']} P{t['priority']}" for t in s["open_incidents"])
    return [
        (s["id"], None),
        (STATE_WORDS.get(s["state"], s["state"]), STATE_COLORS.get(s["state"])),
        (local_time(s["since"], zone), None),
        (_pct(m["availability_pct"]), RED if m["met"] is False else None),
        (f"{m['target_pct']}%", None),
        (f"{m['down_minutes']:.2f} menit", None),
        (_pct(m["coverage_pct"]), None),
        (tickets or NONE, RED if tickets else None),
    ]


BACKUP_COLUMNS = ("LAYANAN", "BACKUP TERBARU", "UMUR", "RPO", "STATUS")


def _backup_row(s: dict[str, Any], zone: ZoneInfo) -> list[Cell]:
    b = s["backup"]
    state = b["state"]
    return [
        (s["id"], None),
        (local_time(b["newest_at"], zone), None),
        (_hours(b["age_hours"], 1), None),
        (_hours(b["rpo_hours"]), None),
        (NONE, None) if state is None else (RPO_WORDS[state], RPO_COLORS[state]),
    ]


DRILL_COLUMNS = ("LAYANAN", "UJI TERAKHIR", "HASIL", "RTO", "STATUS")


def _drill_row(s: dict[str, Any], zone: ZoneInfo) -> list[Cell]:
    """When the DRP was last drilled, how that went against the RTO, and what is wrong."""
    d = s["drp"]["last_drill"]
    if d["ok"] is None:
        result = NONE  # only the katalog's date is known, not how it went
    elif d["ok"]:
        result = "berhasil, pulih dalam " + _minutes_words(d["restore_minutes"])
    else:
        result = "gagal"
    problems = []
    if d["overdue"]:
        problems.append(f"terlambat (> {d['max_age_days']:g} hari)")
    if d["ok"] is False:
        problems.append("gagal")
    elif d["within_rto"] is False:
        problems.append("melebihi RTO")
    return [
        (s["id"], None),
        (local_time(d["at"], zone) if d["at"] else "belum pernah", None),
        (result, None),
        (_hours(s["rto_hours"]), None),
        (", ".join(problems), RED) if problems else ("ok", GREEN),
    ]


TICKET_COLUMNS = (
    "TIKET", "LAYANAN", "PRIORITAS", "DAMPAK", "MULAI", "BERLANGSUNG",
    "TARGET RESPONS", "BATAS RESPONS", "RESPONS",
)  # fmt: skip

#: (response verdict, acked) → words and colour.
_RESPONSE: dict[tuple[str, bool], Cell] = {
    ("met", True): ("ditanggapi tepat waktu", GREEN),
    ("missed", True): ("ditanggapi terlambat", RED),
    ("missed", False): ("terlambat, belum ditanggapi", RED),
    ("pending", False): ("belum ditanggapi", YELLOW),
}


def _ticket_row(service: str, t: dict[str, Any], zone: ZoneInfo) -> list[Cell]:
    return [
        (t["id"], None),
        (service, None),
        (f"P{t['priority']}", RED if t["priority"] <= 2 else None),
        (Impact(t["impact"]).label, None),
        (local_time(t["start"], zone), None),
        (_minutes_words(t["open_minutes"]), None),
        (_minutes_words(t["response_target_minutes"]), None),
        (local_time(t["response_deadline"], zone), None),
        _RESPONSE.get((t["response"], t["acked_at"] is not None), (t["response"], None)),
    ]


HOST_COLUMNS = ("HOST", "CPU", "RAM", "FILESYSTEM TERPENUH", "BANDWIDTH MASUK / KELUAR", "DIUKUR")


def _load(ratio: float | None) -> Cell:
    """CPU or RAM; over the PDF's pressure threshold (80 %) it says so."""
    if ratio is None:
        return NONE, None
    if 100 * ratio > PRESSURE_PCT:
        return f"{100 * ratio:.1f}% (tinggi)", YELLOW
    return f"{100 * ratio:.1f}%", None


def _filesystem(fs: dict[str, Any] | None) -> Cell:
    """The fullest filesystem; from the PDF's warning level (90 %) it says so."""
    if fs is None:
        return NONE, None
    pct = 100 * fs["ratio"]
    text = f"{fs['mountpoint']} {pct:.1f}%"
    if pct >= 99.95:  # shown as 100.0%
        return f"{text} (penuh)", RED
    if pct >= FULL_WARN_PCT:
        return f"{text} (hampir penuh)", RED
    return text, None


def _bandwidth(h: dict[str, Any]) -> Cell:
    """Received / sent Mbps over the configured interfaces, and the share of the link."""
    rx = [n["receive_mbps"] for n in h["network"] if n["receive_mbps"] is not None]
    tx = [n["transmit_mbps"] for n in h["network"] if n["transmit_mbps"] is not None]
    if not rx and not tx:
        return NONE, None
    text = f"{sum(rx):.1f} / {sum(tx):.1f} Mbps"
    capacity, share = h["link_capacity_mbps"], h["bandwidth_utilization_ratio"]
    if capacity is None or share is None:
        return text, None
    text += f", {100 * share:.1f}% dari {capacity:g} Mbps"
    if 100 * share > PRESSURE_PCT:
        return text + " (tinggi)", YELLOW
    return text, None


def _host_row(h: dict[str, Any], zone: ZoneInfo) -> list[Cell]:
    if h["sampled_at"] is None:
        measured: Cell = ("tanpa data", YELLOW)
    elif h["stale"]:
        measured = (local_time(h["sampled_at"], zone) + " (data lama)", YELLOW)
    else:
        measured = (local_time(h["sampled_at"], zone), None)
    return [
        (h["id"], None),
        _load(h["cpu_ratio"]),
        _load(h["memory_ratio"]),
        _filesystem(h["fullest_filesystem"]),
        _bandwidth(h),
        measured,
    ]
