"""``pantau incidents`` and ``pantau incident ack|note|cause|close|reclassify`` (operator side).

Operator actions run as one read-modify-write transaction on the store, so they never race
with the running agent, which merges them into its own updates (:mod:`agent.runtime.incident_tracker`).
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from agent.cli.probe import table
from agent.config.models import Config
from agent.core.clock import SystemClock
from agent.core.errors import PantauError
from agent.core.periods import month_bounds, parse_period
from agent.engine.incidents import (
    Gangguan,
    IncidentError,
    ack,
    add_note,
    close,
    duration,
    reclassify,
    set_cause,
)
from agent.store.database import Store


def operator() -> str:
    """Who is acting: the sudo caller, else the login name."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def open_store(config: Config) -> Store:
    """Open the agent's store for a command (never moves a live database aside)."""
    db = Path(config.agent.data_dir) / "pantau.db"
    if not db.exists():
        raise PantauError(
            f"no store at {db}: has `pantau run` been started with this configuration?"
        )
    return Store.open(Path(config.agent.data_dir), quick_check=False, recover_corrupt=False)


def month_tickets(config: Config, period: str) -> list[Gangguan]:
    """The tickets overlapping a calendar month of the configured zone, oldest first."""
    year, month = parse_period(period)
    start, end = month_bounds(year, month, ZoneInfo(config.agent.timezone))
    with open_store(config) as store:
        return [Gangguan.from_json(r.blob) for r in store.incidents(start=start, end=end)]


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
        record = store.get_incident(ticket_id)
        if record is None:
            raise PantauError(
                f"no gangguan {ticket_id!r} (see `pantau incidents --period YYYY-MM`)"
            )
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
            raise PantauError(f"unknown action {action!r}")
        store.upsert_incident(
            g.id, g.service, g.start, g.end, g.impact.value, g.status.value, g.to_json()
        )
    return g


def run_action(config: Config, ticket_id: str, action: str, text: str, as_: str = "") -> None:
    """CLI wrapper: print the result or a clear error (exit 2)."""
    try:
        g = apply_action(config, ticket_id, action, text, as_)
    except (IncidentError, PantauError) as exc:
        click.echo(f"pantau: {exc}", err=True)
        sys.exit(2)
    click.echo(f"{g.id}: {action} recorded — status {g.status.value}")
