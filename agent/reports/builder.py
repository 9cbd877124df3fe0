"""Gathers one month's Formulir data from the store and the pure engines (SPEC §8).

The exporters render :class:`exporters.report_model.ReportData`; this module fills it: the
availability engine for the month and its 12-month trend, the gangguan tickets, host
aggregates for utilisation and capacity, backup history for RPO compliance, drills. It reads,
never writes, and takes ``now`` as a parameter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from agent.config.katalog import ServiceSettings, all_settings
from agent.config.models import Config, Host
from agent.core.errors import ReportRequestError
from agent.core.periods import month_bounds
from agent.core.stats import nearest_rank
from agent.engine.availability import intervals_from_transitions, maintenance_windows
from agent.engine.incidents import Gangguan as Ticket
from agent.engine.incidents import overrides_from_tickets
from agent.engine.rpo import max_backup_age, rpo_compliance_pct
from agent.reports.formulir import (
    gangguan_entry,
    month_availability,
    month_gangguan,
    next_maintenance,
    report_data,
    started_month_bounds,
    trend_start,
)
from agent.store.database import Store
from agent.store.records import BACKUP_OK
from exporters import report_model as rm

_LABEL = {"maintenance": "pemeliharaan terencana", "false_positive": "positif palsu"}


def build_report(
    store: Store,
    config: Config,
    year: int,
    month: int,
    now: datetime,
    *,
    services: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> rm.ReportData:
    """The report of calendar month ``year-month`` in the configured zone, as of ``now``."""
    zone = ZoneInfo(config.agent.timezone)
    started_month_bounds(year, month, zone, now)
    settings = all_settings(config)
    unknown = [s for s in services if s not in settings]
    if unknown:
        raise ReportRequestError(f"unknown service(s): {', '.join(unknown)}")
    chosen = [settings[s] for s in (services or list(settings))]
    hosts = {h.id: h for h in config.hosts}
    out = []
    host_cache: dict[str, tuple[rm.Utilisation, list[rm.FilesystemUsage]]] = {}
    for i, st in enumerate(chosen):
        out.append(service_report(store, config, st, hosts, year, month, zone, now, host_cache))
        if progress is not None:
            progress(i + 1, len(chosen))
    return report_data(config, year, month, now, out, (config.agent.name,))


def has_data(store: Store, config: Config, year: int, month: int, now: datetime) -> bool:
    """Whether any service was monitored at all before the end of the period."""
    _, end = month_bounds(year, month, ZoneInfo(config.agent.timezone))
    for svc in config.services:
        first = store.first_round_at(svc.id)
        if first is not None and first < min(end, now):
            return True
    return False


def service_report(
    store: Store,
    config: Config,
    st: ServiceSettings,
    hosts: dict[str, Host],
    year: int,
    month: int,
    zone: ZoneInfo,
    now: datetime,
    host_cache: dict[str, tuple[rm.Utilisation, list[rm.FilesystemUsage]]] | None = None,
) -> rm.ServiceReport:
    """One service's Formulir (``host_cache`` shares host figures between services)."""
    host_cache = {} if host_cache is None else host_cache
    svc = st.service
    start, end = month_bounds(year, month, zone)
    trend_from = trend_start(year, month, zone)
    tickets = [
        Ticket.from_json(r.blob) for r in store.incidents.overlapping(svc.id, trend_from, end)
    ]
    intervals = intervals_from_transitions(
        store.transitions(svc.id, trend_from, end),
        last_round_at=store.last_round_at(svc.id),
        stale_after=st.stale_after,
        now=now,
    )
    first_round = store.first_round_at(svc.id)
    availability, trend = month_availability(
        intervals,
        maintenance_windows(st),
        overrides_from_tickets(tickets, now),
        year=year,
        month=month,
        zone=zone,
        now=now,
        monitored_since=first_round,
        target=st.availability_target,
    )
    host_data = None
    if svc.host in hosts:
        # Several services share a host: read its month once (52k buckets a host-month).
        if svc.host not in host_cache:
            host = hosts[svc.host]
            host_cache[svc.host] = (
                _utilisation(store, host, start, end, zone),
                _filesystems(store, host, start, end),
            )
        host_data = host_cache[svc.host]
    month_tickets = month_gangguan(tickets, start, end)
    return rm.ServiceReport(
        id=svc.id,
        name=svc.name,
        provider=svc.provider,
        group=svc.group,
        classification=svc.classification,
        availability=availability,
        technical_manager=svc.technical_manager,
        url=svc.url,
        contact=svc.contact,
        support_hours=svc.support_hours,
        monitored_since=first_round if first_round is not None and first_round > start else None,
        trend=trend,
        utilisation=host_data[0] if host_data else None,
        filesystems=host_data[1] if host_data else (),
        drp=_drp(store, st, start, end, now, first_round, zone),
        gangguan=[_gangguan(t, now) for t in month_tickets],
        causes=list(dict.fromkeys(t.cause for t in month_tickets if t.cause)),
        planned_maintenance=next_maintenance(st, year, month, zone),
        capacity_plan=[line.strip() for line in svc.capacity_plan.splitlines() if line.strip()],
        reclassifications=[
            rm.Reclassification(
                at=t.reclassification.at,
                gangguan_id=t.id,
                change=f"{t.impact.label} → {_LABEL[t.reclassification.as_]}",
                by=t.reclassification.by,
                reason=t.reclassification.reason,
            )
            for t in month_tickets
            if t.reclassification is not None
        ],
    )


def _gangguan(t: Ticket, now: datetime) -> rm.Gangguan:
    note = ""
    if t.reclassification is not None:
        rc = t.reclassification
        note = f"direklasifikasi sebagai {_LABEL[rc.as_]}: {rc.reason}"
    return gangguan_entry(
        t,
        id=t.id,
        impact=t.impact,
        priority=t.priority,
        now=now,
        cause=t.cause,
        status=t.status.value,
        reclassification=note,
        reclassified_as=t.reclassification.as_ if t.reclassification is not None else "",
    )


def metric_summary(
    buckets: list[tuple[datetime, float]], zone: ZoneInfo, scale: float
) -> rm.Metric | None:
    """Mean, p95 of 5-minute means, and a daily series; ``None`` without samples."""
    if not buckets:
        return None
    values = [v * scale for _, v in buckets]
    by_day: dict[date, list[float]] = defaultdict(list)
    for at, v in buckets:
        by_day[at.astimezone(zone).date()].append(v * scale)
    daily = [
        rm.DailyPoint(d, sum(vs) / len(vs), nearest_rank(vs, 0.95))
        for d, vs in sorted(by_day.items())
    ]
    return rm.Metric(sum(values) / len(values), nearest_rank(values, 0.95), daily)


def _utilisation(
    store: Store, host: Host, start: datetime, end: datetime, zone: ZoneInfo
) -> rm.Utilisation:
    series: dict[str, dict[datetime, float]] = defaultdict(dict)
    for b in store.hosts.series(host.id, start, end):
        series[b.key][b.start] = b.sum / b.count if b.count else 0.0
    bandwidth: dict[datetime, float] = defaultdict(float)
    for key, points in series.items():
        if key.startswith(("rx:", "tx:")):
            for at, v in points.items():
                bandwidth[at] += v  # Mbps, receive + transmit of every interface
    return rm.Utilisation(
        host=host.id,
        cpu=metric_summary(sorted(series.get("cpu", {}).items()), zone, 100.0),
        ram=metric_summary(sorted(series.get("mem", {}).items()), zone, 100.0),
        bandwidth=metric_summary(sorted(bandwidth.items()), zone, 1.0),
        link_capacity_mbps=host.link_capacity_mbps,
    )


def _filesystems(
    store: Store, host: Host, start: datetime, end: datetime
) -> list[rm.FilesystemUsage]:
    out = []
    for mount in host.filesystems:
        points = store.hosts.fs_series(host.id, mount, start, end)
        if not points:
            continue
        first, last = points[0], points[-1]
        days = (last.start - first.start).total_seconds() / 86400
        growth = (last.used_bytes - first.used_bytes) / days if days >= 1 else 0.0
        out.append(rm.FilesystemUsage(mount, last.used_bytes, last.total_bytes, growth))
    return out


def _drp(
    store: Store,
    st: ServiceSettings,
    start: datetime,
    end: datetime,
    now: datetime,
    since: datetime | None,
    zone: ZoneInfo,
) -> rm.Drp:
    svc = st.service
    before = store.drp.last_backup(svc.id, before=start)
    times = ([before.finished_at] if before else []) + [
        b.finished_at for b in store.drp.backups(svc.id, start, end) if b.status == BACKUP_OK
    ]
    has_backups = bool(svc.backups)
    drills = [
        rm.Drill(
            at=d.started_at,
            success=d.ok,
            recovery_time=(d.restored_at - d.started_at) if d.restored_at else None,
            data_age=(d.started_at - d.data_as_of) if d.data_as_of else None,
            kind="otomatis" if d.kind == "automated" else "manual",
            note=str(d.detail.get("detail", "")),
        )
        for d in store.drp.drills(svc.id, start, end)
    ]
    last_drill = svc.drp.last_drill if svc.drp else None
    all_drills = store.drp.drills(svc.id)
    if all_drills:
        newest = all_drills[-1].started_at.astimezone(zone).date()
        last_drill = max(newest, last_drill) if last_drill else newest
    return rm.Drp(
        rpo=svc.rpo,
        max_backup_age=max_backup_age(times, start, end, now, since) if has_backups else None,
        rpo_compliance_pct=(
            rpo_compliance_pct(times, svc.rpo, start, end, now, since)
            if svc.rpo and has_backups
            else None
        ),
        rto=svc.rto,
        drills=drills,
        last_drill=last_drill,
        document=svc.drp.document if svc.drp else "",
    )
