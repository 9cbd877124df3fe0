"""``pantau report --source prometheus``: the monthly Formulir of the whole fleet (SPEC §9).

Every agent exports its services' confirmed state; a central Prometheus (or Thanos,
VictoriaMetrics, Mimir) scrapes them all. This module reads the month back from that store and
fills the same :class:`exporters.report_model.ReportData` as the local report, through the
same pure engines, so the numbers agree with each agent's own report within the resolution of
the query grid::

    PromClient (fleet.client)      HTTP, auth, chunking, error messages
     └─ TimelineFetcher (fleet.fetch)   per-block aggregates, raw samples where needed,
         │                          on past the month end until its episodes close
         └─ fleet.timeline          samples → StateInterval (edges at the agent's own
                                    first round of each state), episodes
    fleet.extras                    labels, objectives, host utilisation, backups
    build_fleet_report              → agent.reports.formulir (the month's gangguan, the
                                    trend, coverage: as the local report), ReportData

Which services: every service with samples in the month — of all agents, not only those in
the local configuration — plus the services of the local katalog. For a service in the local
katalog its katalog entry is used (names, target, maintenance windows, RPO/RTO, DRP, capacity
plan); for the others the labels of ``pantau_service_info`` and the exported objectives.

What Prometheus does not have, and the report therefore lacks: operator notes, causes,
acknowledgements and reclassifications of gangguan (they live in each agent's store: use
``pantau incidents`` there), restore drills other than the date of the last one, filesystem
sizes (only the used ratio is exported, so no storage figures), and the host of a service
outside the local katalog (``pantau_service_info`` carries no ``host`` label). Gangguan are
derived from the state series (down = Mayor, degraded = Minor, priority per Tabel 4.2).

Options (environment, next to the command-line options)::

    PANTAU_PROM_STEP   resolution of the state series, default 30s; use the scrape interval
                       of the agents' job. Edges the agent stamped (its
                       pantau_service_state_since_timestamp_seconds) are exact; the start
                       of a gap (an agent stopped) is within about one step.
    PANTAU_PROM_USERNAME, PANTAU_PROM_PASSWORD_FILE, PANTAU_PROM_BEARER_TOKEN_FILE,
    PANTAU_PROM_CA_FILE    see :mod:`agent.reports.fleet.client`
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from agent.config.katalog import ServiceSettings, all_settings
from agent.config.models import Config
from agent.core.durations import parse_duration
from agent.core.errors import ReportError, ReportRequestError
from agent.core.pedoman import Classification, Group, priority
from agent.core.periods import month_bounds
from agent.engine.availability import maintenance_windows
from agent.engine.incidents import episode_impact
from agent.engine.rpo import max_backup_age, rpo_compliance_pct
from agent.reports.fleet.client import PromAuth, PromClient, auth_from_env
from agent.reports.fleet.extras import Latest, backup_times, host_utilisation, latest_by_service
from agent.reports.fleet.fetch import ServiceTimeline, TimelineFetcher
from agent.reports.fleet.timeline import Grid, episodes
from agent.reports.formulir import (
    gangguan_entry,
    month_availability,
    month_gangguan,
    next_maintenance,
    no_data,
    report_data,
    started_month_bounds,
    trend_start,
    write_report,
)
from exporters import report_model as rm
from exporters.advice import missed_target_causes

log = logging.getLogger("pantau.report")

ENV_STEP = "PANTAU_PROM_STEP"
DEFAULT_STEP = timedelta(seconds=30)
#: Shown with the causes of a missed target: the operator's causes are not in Prometheus.
NO_CAUSES = (
    "catatan penyebab operator tidak tersedia di Prometheus "
    "(lihat 'pantau incidents' pada agen yang memantau layanan ini)"
)
_LATEST_STEP = 3600


def step_from_env(environ: Mapping[str, str] | None = None) -> timedelta:
    """``PANTAU_PROM_STEP`` (a duration such as ``15s``), default 30 s."""
    text = (os.environ if environ is None else environ).get(ENV_STEP, "").strip()
    if not text:
        return DEFAULT_STEP
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ReportError(f"{ENV_STEP}={text!r}: {exc}") from None


def _grid(step: timedelta) -> Grid:
    seconds = step.total_seconds()
    if seconds != int(seconds) or not 1 <= seconds <= 3600:
        raise ReportError(f"step {seconds:g} s: use whole seconds between 1s and 1h (e.g. 30s)")
    return Grid.for_step(int(seconds))


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


class _Fleet:
    """Everything but the timelines, read from Prometheus for one report."""

    def __init__(
        self, client: PromClient, services: Sequence[str], start: float, hi: float, zone: ZoneInfo
    ) -> None:
        first = hi - ((hi - start) // _LATEST_STEP) * _LATEST_STEP  # points end exactly at hi

        def latest(metric: str) -> dict[str, Latest]:
            return latest_by_service(client, metric, services, first, hi, _LATEST_STEP)

        self.info = latest("pantau_service_info")
        self.target = latest("pantau_service_availability_target_ratio")
        self.rpo = latest("pantau_service_rpo_seconds")
        self.rto = latest("pantau_service_rto_seconds")
        self.drill = latest("pantau_drp_last_drill_timestamp_seconds")
        self.backups = backup_times(client, services, start, hi)
        self.hosts = host_utilisation(client, start, hi, zone)


def build_fleet_report(
    client: PromClient,
    config: Config,
    year: int,
    month: int,
    now: datetime,
    *,
    step: timedelta = DEFAULT_STEP,
    services: Sequence[str] = (),
) -> rm.ReportData:
    """The report of ``year-month`` (configured zone) for every service Prometheus knows."""
    zone = ZoneInfo(config.agent.timezone)
    start, end = started_month_bounds(year, month, zone, now)
    grid = _grid(step)
    hi = min(end, now)
    began = time.monotonic()
    settings = all_settings(config)
    # Read past the month's end as far as needed to close its episodes (an outage across
    # the month end lasts until its real end, not until the report is made).
    holds = {sid: st.stale_after.total_seconds() for sid, st in settings.items()}
    fetcher = TimelineFetcher(client, grid, services, windows_known=settings, holds=holds)
    timelines = fetcher.fetch(
        trend_start(year, month, zone).timestamp(), hi.timestamp(), close_by=now.timestamp()
    )
    seen = {
        sid
        for sid, tl in timelines.items()
        if tl.first_seen is not None
        and tl.last_seen is not None
        and tl.first_seen < hi.timestamp()
        and tl.last_seen > start.timestamp()
    }
    unknown = [s for s in services if s not in seen and s not in settings]
    if unknown:
        raise ReportRequestError(
            f"unknown service(s): {', '.join(unknown)} (not in Prometheus or katalog)"
        )
    if not seen:
        raise no_data(
            year,
            month,
            f"{client.shown_url} has no pantau_service_state samples between "
            f"{start.isoformat()} and {hi.isoformat()} "
            "(does it scrape the pantau agents? is its retention long enough?)",
        )
    chosen = list(services) or [*settings, *sorted(seen - set(settings))]
    fleet = _Fleet(client, list(services), start.timestamp(), hi.timestamp(), zone)
    out = [
        _service(sid, settings.get(sid), timelines.get(sid), fleet, config, year, month, zone, now)
        for sid in chosen
    ]
    full = sum(tl.full_blocks for tl in timelines.values())
    refined = sum(tl.refined_blocks for tl in timelines.values())
    log.info(
        "read %d services from %s in %.1f s: %d requests, %d whole blocks, %d refined",
        len(out), client.shown_url, time.monotonic() - began, client.requests, full, refined,
    )  # fmt: skip
    agents = sorted(
        {
            dict(a).get("instance", ",".join(f"{k}={v}" for k, v in a))
            for sid in chosen
            if sid in timelines
            for a in timelines[sid].agents
        }
    )
    return report_data(config, year, month, now, out, agents)


def _labels(
    sid: str, st: ServiceSettings | None, info: Latest | None
) -> tuple[str, str, Group, Classification]:
    if st is not None:
        svc = st.service
        return svc.name, svc.provider, svc.group, svc.classification
    labels = info.labels if info else {}
    try:
        group = Group(labels.get("group", ""))
        cls = Classification(labels.get("classification", ""))
    except ValueError:
        log.warning("service %s: no valid pantau_service_info labels; taken as normal/RAL.02", sid)
        group, cls = Group.ADMINISTRASI_PEMERINTAHAN, Classification.NORMAL
    return labels.get("name") or sid, labels.get("provider", ""), group, cls


def _service(
    sid: str,
    st: ServiceSettings | None,
    tl: ServiceTimeline | None,
    fleet: _Fleet,
    config: Config,
    year: int,
    month: int,
    zone: ZoneInfo,
    now: datetime,
) -> rm.ServiceReport:
    name, provider, group, cls = _labels(sid, st, fleet.info.get(sid))
    if st is not None:
        target = st.availability_target
    elif sid in fleet.target:
        target = round(fleet.target[sid].value * 100, 6)
    else:
        target = float(getattr(config.availability_targets, cls.value))
    start, end = month_bounds(year, month, zone)
    intervals = tl.intervals if tl else []
    since = _ts(tl.first_seen) if tl and tl.first_seen is not None else None
    availability, trend = month_availability(
        intervals,
        maintenance_windows(st) if st else [],
        [],
        year=year,
        month=month,
        zone=zone,
        now=now,
        monitored_since=since,
        target=target,
    )
    gangguan = [
        gangguan_entry(
            ep,
            id=f"{sid}-{year:04d}{month:02d}-{i:02d}",
            impact=episode_impact(ep),
            priority=priority(episode_impact(ep), group, cls),
            now=now,
            status="open" if ep.end is None else "resolved",
        )
        for i, ep in enumerate(
            month_gangguan(
                episodes(
                    sid,
                    intervals,
                    flap_threshold=config.defaults.flap_threshold,
                    flap_window=config.defaults.flap_window,
                ),
                start,
                end,
            ),
            1,
        )
    ]
    svc = st.service if st else None
    report = rm.ServiceReport(
        id=sid,
        name=name,
        provider=provider,
        group=group,
        classification=cls,
        availability=availability,
        technical_manager=svc.technical_manager if svc else "",
        url=svc.url if svc else "",
        contact=svc.contact if svc else "",
        support_hours=svc.support_hours if svc else "",
        monitored_since=since if since is not None and since > start else None,
        trend=trend,
        utilisation=_utilisation(sid, st, tl, fleet, config),
        drp=_drp(sid, st, fleet, start, end, now, since, zone),
        gangguan=gangguan,
        planned_maintenance=next_maintenance(st, year, month, zone) if st else [],
        capacity_plan=[x.strip() for x in svc.capacity_plan.splitlines() if x.strip()]
        if svc
        else [],
    )
    if report.availability.met is False and gangguan:
        report = replace(report, causes=[*missed_target_causes(report), NO_CAUSES])
    return report


def _utilisation(
    sid: str, st: ServiceSettings | None, tl: ServiceTimeline | None, fleet: _Fleet, config: Config
) -> rm.Utilisation | None:
    info = fleet.info.get(sid)
    host = st.service.host if st else (info.labels.get("host") if info else None)
    if not host:
        return None
    link = next((h.link_capacity_mbps for h in config.hosts if h.id == host), None)
    for agent in sorted(tl.agents if tl else ()):
        found = fleet.hosts.get((agent, host))
        if found is not None:
            cpu, ram, bw = found
            return rm.Utilisation(host, cpu, ram, bw, link)
    return rm.Utilisation(host=host, link_capacity_mbps=link)


def _drp(
    sid: str,
    st: ServiceSettings | None,
    fleet: _Fleet,
    start: datetime,
    end: datetime,
    now: datetime,
    since: datetime | None,
    zone: ZoneInfo,
) -> rm.Drp:
    svc = st.service if st else None
    rpo = svc.rpo if svc else _seconds(fleet.rpo.get(sid))
    rto = svc.rto if svc else _seconds(fleet.rto.get(sid))
    times = fleet.backups.get(sid, [])
    has_backups = bool(svc.backups) if svc else sid in fleet.backups
    last_drill = svc.drp.last_drill if svc and svc.drp else None
    drill = fleet.drill.get(sid)
    if drill is not None and drill.value > 0:
        exported = _ts(drill.value).astimezone(zone).date()
        last_drill = max(exported, last_drill) if last_drill else exported
    return rm.Drp(
        rpo=rpo,
        max_backup_age=max_backup_age(times, start, end, now, since) if has_backups else None,
        rpo_compliance_pct=(
            rpo_compliance_pct(times, rpo, start, end, now, since) if rpo and has_backups else None
        ),
        rto=rto,
        last_drill=last_drill,
        document=svc.drp.document if svc and svc.drp else "",
    )


def _seconds(latest: Latest | None) -> timedelta | None:
    return timedelta(seconds=latest.value) if latest is not None and latest.value > 0 else None


def generate_from_prometheus(
    config: Config,
    prometheus_url: str,
    year: int,
    month: int,
    now: datetime,
    out_dir: Path,
    *,
    formats: Sequence[str] = ("csv", "pdf"),
    excel: bool = False,
    services: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
    step: timedelta | None = None,
    auth: PromAuth | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[Path]:
    """Build the fleet report from ``prometheus_url`` and write it; return the files written.

    ``step`` and ``auth`` default to the environment (module docstring); ``transport`` is for
    tests. Files are named ``pantau-fleet-YYYY-MM.csv`` / ``.pdf``.
    """
    chosen_step = step if step is not None else step_from_env()
    with PromClient(
        prometheus_url, auth if auth is not None else auth_from_env(), transport=transport
    ) as client:
        data = build_fleet_report(
            client, config, year, month, now, step=chosen_step, services=services
        )
    return write_report(data, out_dir, "fleet", formats=formats, excel=excel, progress=progress)
