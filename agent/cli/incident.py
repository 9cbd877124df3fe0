"""``pantau incidents`` and ``pantau incident ack|note|cause|close|reclassify`` (operator side).

Operator actions run as one read-modify-write transaction on the store, so they never race
with the running agent, which merges them into its own updates (:mod:`agent.runtime.incident_tracker`).
"""

from __future__ import annotations

import getpass
import os
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from agent.cli.probe import table
from agent.cli.store import open_store
from agent.config.models import Config
from agent.core.clock import SystemClock
from agent.core.errors import ReportError, UsageError
from agent.core.periods import month_bounds, parse_period
from agent.engine.incidents import (
    Gangguan,
    ack,
    add_note,
    close,
    duration,
    reclassify,
    set_cause,
)


def operator() -> str:
    """Who is acting: the sudo caller, else the login name."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def month_tickets(config: Config, period: str) -> list[Gangguan]:
    """The tickets overlapping a calendar month of the configured zone, oldest first."""
    try:
        year, month = parse_period(period)
    except ReportError as exc:
        raise UsageError(f"--period: {exc}") from None
    start, end = month_bounds(year, month, ZoneInfo(config.agent.timezone))
    with open_store(config, read_only=True) as store:
        return [
            Gangguan.from_json(r.blob) for r in store.incidents.overlapping(start=start, end=end)
        ]


def tickets_table(tickets: list[Gangguan], zone: ZoneInfo, now: datetime) -> list[str]:
    """A readable list of tickets."""
    rows = [("TIKET", "LAYANAN", "MULAI", "DURASI", "DAMPAK", "PRIORITAS", "STATUS", "PENYEBAB")]
    for g in tickets:
        minutes = duration(g, now).total_seconds() / 60
        rows.append(
            (
                g.id,
                g.service,
                g.start.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                f"{minutes:.2f} menit" + ("" if g.end else " (berlangsung)"),
                g.impact.label,
                f"P{g.priority}",
                g.status.value + (" (reklasifikasi)" if g.reclassification else ""),
                g.cause or "–",
            )
        )
    return table(rows)


def apply_action(config: Config, ticket_id: str, action: str, text: str, as_: str = "") -> Gangguan:
    """Apply one operator action to a stored ticket and save it; return the new ticket."""
    now = SystemClock().now()
    by = operator()
    with open_store(config) as store, store.transaction():
        record = store.incidents.get(ticket_id)
        merged_into = store.incidents.merged_into(ticket_id) if record is None else None
        if merged_into is not None:
            # The same gangguan as another ticket (a flapping period's bounce, or a duplicate
            # of an older version): the operator's action belongs to the ticket it became.
            click.echo(f"{ticket_id} was merged into {merged_into} (one gangguan)", err=True)
            record = store.incidents.get(merged_into)
        if record is None:
            raise UsageError(f"no gangguan {ticket_id!r} (see `pantau incidents --period YYYY-MM`)")
        g = Gangguan.from_json(record.blob)
        if action == "ack":
            g = ack(g, now, by)
            if text:
                g = add_note(g, now, text, by)
        elif action == "note":
            g = add_note(g, now, text, by)
        elif action == "cause":
            g = set_cause(g, now, text, by)
        elif action == "close":
            g = close(g, now, by)
        elif action == "reclassify":
            g = reclassify(
                g, now, "false_positive" if as_ == "false-positive" else "maintenance", text, by
            )
        else:  # pragma: no cover - click restricts the choices
            raise UsageError(f"unknown action {action!r}")
        store.incidents.upsert(
            g.id, g.service, g.start, g.end, g.impact.value, g.status.value, g.to_json()
        )
    return g
