"""Exposition-format building blocks shared by :mod:`exporters.metrics`: the metric families
pantau exports (SPEC §7, with help text and OpenMetrics units), value and label escaping, and
content negotiation between the Prometheus text format 0.0.4 and OpenMetrics 1.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

CONTENT_TYPE_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Key = tuple[str, ...]
Kind = Literal["gauge", "counter", "info"]
Scope = Literal["service", "host", "agent"]
STATES = ("up", "degraded", "down", "maintenance", "unknown")


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: its sample name (``_total`` for counters, ``_info`` for info)."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str
    scope: Scope = "service"

    @property
    def family_name(self) -> str:
        """The OpenMetrics family name (without ``_total`` / ``_info``)."""
        if self.kind == "counter":
            return self.name.removesuffix("_total")
        if self.kind == "info":
            return self.name.removesuffix("_info")
        return self.name

    @property
    def unit(self) -> str:
        """The OpenMetrics unit, read from the base-unit suffix of the name."""
        for unit in ("seconds", "bytes", "ratio"):
            if self.family_name.endswith("_" + unit):
                return unit
        return ""

    def header(self, openmetrics: bool) -> bytes:
        """``# HELP`` / ``# TYPE`` (/ ``# UNIT``) lines for this family."""
        text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        if not openmetrics:
            kind = "gauge" if self.kind == "info" else self.kind
            return f"# HELP {self.name} {text}\n# TYPE {self.name} {kind}\n".encode()
        name = self.family_name
        out = (
            f"# HELP {name} {text.replace(chr(34), chr(92) + chr(34))}\n# TYPE {name} {self.kind}\n"
        )
        if self.unit:
            out += f"# UNIT {name} {self.unit}\n"
        return out.encode()


def _f(name: str, kind: Kind, labels: str, help: str, scope: Scope = "service") -> Family:
    return Family(name, kind, tuple(labels.split()), help, scope)


#: Every family pantau exports, in exposition order.
FAMILIES: tuple[Family, ...] = (
    _f("pantau_service_info", "info", "service name provider group classification",
       "Katalog entry of a service (Nama Layanan, Penyedia Layanan, kelompok, klasifikasi)."),
    _f("pantau_service_up", "gauge", "service",
       "1 when the confirmed state is up or degraded, 0 when down; absent when unknown."),
    _f("pantau_service_state", "gauge", "service state",
       "1 for the current confirmed state (up, degraded, down, maintenance, unknown), else 0."),
    _f("pantau_service_state_since_timestamp_seconds", "gauge", "service",
       "Unix time of the first round of the current confirmed state; absent while unknown."),
    _f("pantau_service_availability_ratio", "gauge", "service period",
       "Month-to-date availability (up+degraded)/(up+degraded+down), maintenance excluded."),
    _f("pantau_service_availability_target_ratio", "gauge", "service",
       "Monthly availability target of the service, 0..1."),
    _f("pantau_service_downtime_seconds_total", "counter", "service",
       "Confirmed down time accumulated by this agent, in seconds."),
    _f("pantau_service_outage_duration_seconds", "gauge", "service",
       "Duration of the ongoing confirmed outage, 0 when the service is not down."),
    _f("pantau_service_rto_seconds", "gauge", "service",
       "Recovery time objective (RTO) of the service."),
    _f("pantau_service_rpo_seconds", "gauge", "service",
       "Recovery point objective (RPO) of the service."),
    _f("pantau_service_rto_breached", "gauge", "service",
       "1 while the ongoing outage is longer than the RTO."),
    _f("pantau_service_flapping", "gauge", "service",
       "1 while the service changes state too often in a short window."),
    _f("pantau_probe_success", "gauge", "service check type",
       "1 when the last run of the check succeeded (up or degraded), else 0."),
    _f("pantau_probe_duration_seconds", "gauge", "service check type",
       "Duration of the last run of the check."),
    _f("pantau_probe_http_status_code", "gauge", "service check",
       "HTTP status code of the last response (0 when none was received)."),
    _f("pantau_probe_tls_cert_expiry_timestamp_seconds", "gauge", "service check",
       "Unix time at which the leaf TLS certificate of the check expires."),
    _f("pantau_probe_errors_total", "counter", "service check",
       "Unexpected errors inside the probe (bugs), not failures of the target."),
    _f("pantau_backup_last_success_timestamp_seconds", "gauge", "service source",
       "Unix time of the newest successful backup seen in this source."),
    _f("pantau_backup_source_up", "gauge", "service source",
       "1 when the backup source could be read at the last check, else 0."),
    _f("pantau_backup_age_seconds", "gauge", "service",
       "Age of the newest successful backup across all sources; absent when unknown."),
    _f("pantau_backup_rpo_breached", "gauge", "service",
       "1 when the newest backup is older than the RPO."),
    _f("pantau_drp_last_drill_timestamp_seconds", "gauge", "service",
       "Unix time of the last recorded restore drill of the DRP."),
    _f("pantau_drp_drill_overdue", "gauge", "service",
       "1 when the last restore drill is older than the allowed drill age."),
    _f("pantau_incidents_open", "gauge", "service priority",
       "Open gangguan tickets by priority (P1..P6, Pedoman Tabel 4.2)."),
    _f("pantau_host_cpu_utilization_ratio", "gauge", "host",
       "CPU utilisation of the host, 0..1.", "host"),
    _f("pantau_host_memory_utilization_ratio", "gauge", "host",
       "Memory (RAM) utilisation of the host, 0..1.", "host"),
    _f("pantau_host_filesystem_utilization_ratio", "gauge", "host mountpoint",
       "Used fraction of a filesystem, 0..1.", "host"),
    _f("pantau_host_network_receive_bytes_total", "counter", "host interface",
       "Bytes received on a network interface.", "host"),
    _f("pantau_host_network_transmit_bytes_total", "counter", "host interface",
       "Bytes transmitted on a network interface.", "host"),
    _f("pantau_agent_info", "info", "version", "Version of the pantau agent.", "agent"),
    _f("pantau_scheduler_lag_seconds", "gauge", "",
       "How late the scheduler started the most recent probe round.", "agent"),
    _f("pantau_config_last_reload_successful", "gauge", "",
       "1 when the last configuration (re)load succeeded, else 0.", "agent"),
    _f("pantau_config_last_reload_success_timestamp_seconds", "gauge", "",
       "Unix time of the last successful configuration load.", "agent"),
    _f("pantau_storage_errors_total", "counter", "",
       "Failed writes or reads of the SQLite store.", "agent"),
    _f("pantau_storage_dropped_total", "counter", "",
       "Records dropped because the store could not keep up.", "agent"),
    _f("pantau_storage_corruptions_total", "counter", "",
       "Damaged store files moved aside at start (the time they covered reads as no data).",
       "agent"),
    _f("pantau_clock_jumps_total", "counter", "",
       "Wall-clock jumps detected (wall and monotonic clocks disagreed).", "agent"),
    _f("pantau_http_refused_total", "counter", "reason",
       "Connections the endpoint closed or requests it refused to protect itself, by reason.",
       "agent"),
)  # fmt: skip
FAMILY_BY_NAME = {f.name: f for f in FAMILIES}


def escape_label_value(value: str) -> str:
    """Escape a label value for both text formats (backslash, double quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_pairs(*pairs: tuple[str, str]) -> str:
    """Render ``k="v",...`` with escaped values."""
    return ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)


def format_value(value: float) -> str:
    """A sample value as Prometheus parses it: integers without ``.0``, ``+Inf``, ``NaN``."""
    if isinstance(value, int):  # bool is an int: True → 1
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def negotiate(accept_header: str | None) -> bool:
    """True when the ``Accept`` header prefers OpenMetrics 1.0 over the Prometheus text format.

    Prometheus sends ``application/openmetrics-text;version=1.0.0,...;q=0.75,text/plain;
    version=0.0.4;q=0.5,*/*;q=0.1``. Unknown OpenMetrics versions are not chosen.
    """
    best_om, best_text = 0.0, 0.0
    for part in (accept_header or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        values = dict(p.partition("=")[::2] for p in params if "=" in p)
        try:
            q = float(values.get("q", "1"))
        except ValueError:
            continue
        media = media.lower()
        if media == "application/openmetrics-text":
            if values.get("version", "1.0.0") in ("1.0.0", "0.0.1"):
                best_om = max(best_om, q)
        elif media in ("text/plain", "text/*", "*/*"):
            best_text = max(best_text, q)
    return best_om > 0 and best_om >= best_text
