"""``pantau backup mark`` and ``pantau drill run|record`` (operator and script side)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from agent.cli.store import open_store
from agent.config.models import Config, Service
from agent.core.clock import SystemClock
from agent.core.errors import EXIT_FAILED, EXIT_OK, UsageError
from agent.core.model import CLOCK_SKEW
from agent.runtime.drills import drill_record
from agent.store.records import BACKUP_OK, BackupRecord, BackupState
from drp.drills import DrillResult, manual_drill, run_drill
from drp.push import EARLIEST, PushError, parse_mark_time, push_targets


def find_service(config: Config, service_id: str) -> Service:
    """The configured service or a clear usage error."""
    for svc in config.services:
        if svc.id == service_id:
            return svc
    raise UsageError(f"unknown service {service_id!r} (see `pantau check`)")


def push_source(svc: Service, requested: str | None = None) -> str:
    """The push source ``--source`` names, by the rules of a push (:mod:`drp.push`)."""
    targets = push_targets(svc)
    if not targets.push:
        raise UsageError(f"service {svc.id!r} has no `{{type: push}}` backup source to mark")
    try:
        return targets.resolve(requested)
    except PushError as exc:
        raise UsageError(f"--source: {exc.message}") from None


def mark_backup(
    config: Config,
    service_id: str,
    at_text: str | None,
    size: int | None,
    requested: str | None = None,
) -> BackupRecord:
    """Record a finished backup for a script that cannot speak HTTP."""
    svc = find_service(config, service_id)
    source = push_source(svc, requested)
    now = SystemClock().now()
    zone = ZoneInfo(config.agent.timezone)
    at = now if at_text is None else parse_mark_time(at_text, now=now, zone=zone)
    record = BackupRecord(svc.id, source, at, BACKUP_OK, "mark", size)
    with open_store(config, create=True) as store, store.transaction():
        store.drp.record_backup(record)
        previous = {(s.service, s.source): s for s in store.drp.load_backup_state(svc.id)}.get(
            (svc.id, source)
        )
        newest = (
            at
            if previous is None or previous.last_success_at is None
            else max(at, previous.last_success_at)
        )
        store.drp.save_backup_state(BackupState(svc.id, source, newest, "", now))
    return record


def run_drill_now(config: Config, service_id: str) -> DrillResult:
    """Restore the newest snapshot (or run the restore command), verify, record."""
    svc = find_service(config, service_id)
    state_dir = Path(config.agent.data_dir) / "drp"
    result = asyncio.run(run_drill(svc, clock=SystemClock(), state_dir=state_dir))
    with open_store(config, create=True) as store:
        store.drp.record_drill(drill_record(result, "automated"))
    return result


def record_manual_drill(
    config: Config, service_id: str, started: str, restored: str, data_as_of: str | None, note: str
) -> DrillResult:
    """Record a drill done by hand."""
    svc = find_service(config, service_id)
    zone = ZoneInfo(config.agent.timezone)

    now = SystemClock().now()

    def ts(text: str, what: str) -> datetime:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(f"{what}: not an ISO 8601 time: {text!r}") from None
        value = value if value.tzinfo else value.replace(tzinfo=zone)
        try:
            utc: datetime | None = value.astimezone(UTC)
        except (OverflowError, ValueError):  # beyond the calendar once in UTC
            utc = None
        # The range of a pushed or marked backup (FAULTS 40): a drill happened, it is not planned.
        if utc is None or not EARLIEST <= utc <= now + CLOCK_SKEW:
            raise UsageError(f"{what}: {text!r} is out of range (from 1970-01-01 up to now)")
        return value

    try:
        result = manual_drill(
            ts(started, "--started"),
            ts(restored, "--restored"),
            ts(data_as_of, "--data-as-of") if data_as_of else None,
            svc.rto,
            svc.rpo,
            service=svc.id,
            detail=note,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with open_store(config, create=True) as store:
        store.drp.record_drill(drill_record(result, "manual"))
    return result


def print_drill(result: DrillResult) -> int:
    """Summarise a drill on the terminal; the exit status: 1 when it failed or missed RTO/RPO."""

    def verdict(ok: bool | None) -> str:
        return "–" if ok is None else ("memenuhi" if ok else "TIDAK memenuhi")

    click.echo(
        f"drill {result.service} ({result.method}): {'OK' if result.ok else 'GAGAL ' + result.reason}"
    )
    if result.restore_seconds is not None:
        click.echo(
            f"  waktu pemulihan: {result.restore_seconds / 60:.2f} menit — RTO {verdict(result.rto_met)}"
        )
    if result.data_age is not None:
        click.echo(
            f"  umur data: {result.data_age.total_seconds() / 3600:.2f} jam — RPO {verdict(result.rpo_met)}"
        )
    if result.detail:
        click.echo(f"  {result.detail}")
    failed = not result.ok or result.rto_met is False or result.rpo_met is False
    return EXIT_FAILED if failed else EXIT_OK
