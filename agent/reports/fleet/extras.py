"""The rest of the Formulir from Prometheus: katalog labels, objectives, hosts, backups (SPEC §9).

- Labels and objectives (``pantau_service_info``, ``…_availability_target_ratio``,
  ``…_rpo_seconds``, ``…_rto_seconds``, ``pantau_drp_last_drill_timestamp_seconds``): the
  newest value seen in the month, per service.
- Host utilisation: 5-minute means (``avg_over_time(…[5m])``, bandwidth from ``rate()`` of the
  byte counters, receive + transmit of every interface), summarised exactly as the local report
  summarises its 5-minute aggregates (mean, p95 of the 5-minute means, daily series).
- Backups: the distinct values of ``pantau_backup_last_success_timestamp_seconds`` are the
  times of the successful backups, so RPO compliance and the worst backup age come from the
  same :mod:`agent.engine.rpo` functions as in the local report (more precise than sampling
  ``pantau_backup_age_seconds``). Values are read as hourly minimum and maximum, which sees
  every backup unless more than two finish within one hour (irrelevant for an RPO ≥ 1 h).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agent.reports.builder import metric_summary
from agent.reports.fleet.client import Labels, PromClient
from agent.reports.fleet.fetch import service_selector
from exporters import report_model as rm

HOST_STEP = 300  # the local store keeps 5-minute host aggregates: the same buckets here
BACKUP_STEP = 3600
CPU = "pantau_host_cpu_utilization_ratio"
MEM = "pantau_host_memory_utilization_ratio"
RX = "pantau_host_network_receive_bytes_total"
TX = "pantau_host_network_transmit_bytes_total"
BACKUP = "pantau_backup_last_success_timestamp_seconds"


def _agent(labels: dict[str, str], *drop: str) -> Labels:
    skip = {"__name__", "service", *drop}
    return tuple(sorted((k, v) for k, v in labels.items() if k not in skip))


@dataclass(frozen=True)
class Latest:
    """The newest value of a per-service series in the window, and its labels."""

    at: float
    value: float
    labels: dict[str, str]


def latest_by_service(
    client: PromClient, metric: str, services: Sequence[str], start: float, end: float, step: int
) -> dict[str, Latest]:
    """Per service, the newest sample of ``metric`` in ``[start, end]`` (evaluated every step)."""
    sel = service_selector(services)
    out: dict[str, Latest] = {}
    for s in client.query_range(f"last_over_time({metric}{sel}[{step}s])", start, end, step):
        if not s.values:
            continue
        t, v = s.values[-1]
        svc = s.labels.get("service", "")
        if svc and (svc not in out or t >= out[svc].at):
            out[svc] = Latest(t, v, s.labels)
    return out


def _aligned(start: float, end: float, step: int) -> tuple[int, int]:
    first = -(-int(start) // step) * step
    return first, int(end // step) * step


def host_utilisation(
    client: PromClient, start: float, end: float, zone: ZoneInfo
) -> dict[tuple[Labels, str], tuple[rm.Metric | None, rm.Metric | None, rm.Metric | None]]:
    """(agent, host) → (CPU %, RAM %, bandwidth Mbps) summaries of ``[start, end)``."""
    # Each evaluation at t averages (t − 5 min, t]: the bucket that starts 5 minutes earlier.
    first, last = _aligned(start + HOST_STEP, end, HOST_STEP)
    if last < first:
        return {}
    series: dict[tuple[Labels, str], dict[str, list[tuple[datetime, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    # rate() of two metric names at once would give series with equal label sets (an error),
    # so receive and transmit are read apart and added per bucket.
    queries = (
        ("cpu", f"avg_over_time({CPU}[5m])"),
        ("mem", f"avg_over_time({MEM}[5m])"),
        ("bw", f"sum without (interface) (rate({RX}[5m])) * 8 / 1e6"),
        ("bw", f"sum without (interface) (rate({TX}[5m])) * 8 / 1e6"),
    )
    for key, expr in queries:
        for s in client.query_range(expr, first, last, HOST_STEP):
            host = s.labels.get("host", "")
            points = series[(_agent(s.labels, "host", "interface"), host)][key]
            points += [(datetime.fromtimestamp(t - HOST_STEP, tz=UTC), v) for t, v in s.values]
    return {
        k: (
            metric_summary(sorted(v["cpu"]), zone, 100.0),
            metric_summary(sorted(v["mem"]), zone, 100.0),
            metric_summary(_summed(v["bw"]), zone, 1.0),
        )
        for k, v in series.items()
    }


def _summed(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    total: dict[datetime, float] = defaultdict(float)
    for at, v in points:
        total[at] += v
    return sorted(total.items())


def backup_times(
    client: PromClient, services: Sequence[str], start: float, end: float
) -> dict[str, list[datetime]]:
    """Per service, the times of successful backups seen in ``[start − 1 h, end]``.

    The value at the month's start is the last backup before it, as the local report uses.
    """
    first, last = _aligned(start, end, BACKUP_STEP)
    last = max(last, first)
    sel = service_selector(services)
    found: dict[str, set[float]] = defaultdict(set)
    for fn in ("min_over_time", "max_over_time"):
        expr = f"{fn}({BACKUP}{sel}[{BACKUP_STEP}s])"
        for s in client.query_range(expr, first, last, BACKUP_STEP):
            found[s.labels.get("service", "")].update(v for _, v in s.values if v > 0)
    return {
        svc: [datetime.fromtimestamp(v, tz=UTC) for v in sorted(vals)]
        for svc, vals in found.items()
        if svc
    }
