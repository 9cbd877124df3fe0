"""Prometheus / OpenMetrics exposition of pantau's live state (SPEC §7), rendered at update time.

A scrape must never wait for probe work (FAULTS 27) and must stay cheap at 1,000 services, so
the agent pushes state into a :class:`MetricsCache` when it changes and the cache renders that
entity's sample lines at once. A scrape only concatenates what is already rendered::

    FAMILIES (fixed order) ─► {entity key ─► b"sample lines"} ─► joined per family, cached
                                                                 until that family changes

Blocks are grouped by family, not by entity, so all samples of a family stay contiguous (the
text format requires it) without sorting anything at scrape time. Sample lines are the same in
both formats: a text-format counter is ``# TYPE x_total counter`` with samples ``x_total``, an
OpenMetrics counter is family ``x`` whose samples are still ``x_total``; an info metric is a
gauge ``x_info`` in text and family ``x`` of type ``info`` in OpenMetrics. Only header lines and
the ``# EOF`` terminator differ, so one cache serves both.

Optional values given as ``None`` (no RPO configured, backup age unknown, no TLS) remove the
sample instead of exporting a made-up number: unknown is never "fresh" (FAULTS 25).
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict, Unpack

from agent.config.katalog import all_settings, source_name
from agent.config.models import Config
from agent.core.pedoman import Classification, Group, Impact, priority
from exporters.exposition import (
    CONTENT_TYPE_OPENMETRICS,
    CONTENT_TYPE_TEXT,
    FAMILIES,
    FAMILY_BY_NAME,
    STATES,
    Key,
    Scope,
    escape_label_value,
    format_value,
    label_pairs,
    negotiate,
)

__all__ = [
    "CONTENT_TYPE_OPENMETRICS",
    "CONTENT_TYPE_TEXT",
    "HTTP_REFUSED_REASONS",
    "MetricsCache",
    "ServiceFields",
    "negotiate",
]


class ServiceFields(TypedDict, total=False):
    """Service-level values for :meth:`MetricsCache.update_service`; omitted keys keep their value.

    ``None`` removes the sample (not configured / unknown).
    """

    up: bool | None  # default: derived from state (up/degraded → 1, down → 0)
    state: str
    state_since: float | None  # unix time the confirmed state began (its first round)
    availability_ratio: float | None
    target_ratio: float | None
    downtime_seconds_total: float
    outage_seconds: float
    rto_seconds: float | None
    rpo_seconds: float | None
    rto_breached: bool | None
    rpo_breached: bool | None
    backup_age_seconds: float | None
    flapping: bool
    last_drill_timestamp_seconds: float | None
    drill_overdue: bool | None


#: Why the endpoint closed a connection or refused a request (``pantau_http_refused_total``).
HTTP_REFUSED_REASONS = (
    "header_timeout",  # the request head did not arrive in agent.http.header_timeout
    "idle_timeout",  # a kept-alive connection stayed idle for agent.http.idle_timeout
    "request_timeout",  # body and handling took longer than agent.http.request_timeout
    "write_stall",  # the client stopped reading its response for agent.http.request_timeout
    "evicted",  # at the connection cap, the oldest idle connection made room for a new one
    "over_capacity",  # at the cap with every connection busy: the new one was closed
    "accept_error",  # accept() failed (out of file descriptors)
    "auth_throttled",  # a client out of failed basic-auth attempts got 429
    "auth_busy",  # too many bcrypt checks waiting: 429
)

# Service-scope families whose one sample comes straight from a ServiceFields key.
_SIMPLE_SERVICE_FIELDS: tuple[tuple[str, str], ...] = (
    ("pantau_service_state_since_timestamp_seconds", "state_since"),
    ("pantau_service_availability_target_ratio", "target_ratio"),
    ("pantau_service_downtime_seconds_total", "downtime_seconds_total"),
    ("pantau_service_outage_duration_seconds", "outage_seconds"),
    ("pantau_service_rto_seconds", "rto_seconds"),
    ("pantau_service_rpo_seconds", "rpo_seconds"),
    ("pantau_service_rto_breached", "rto_breached"),
    ("pantau_service_flapping", "flapping"),
    ("pantau_backup_age_seconds", "backup_age_seconds"),
    ("pantau_backup_rpo_breached", "rpo_breached"),
    ("pantau_drp_last_drill_timestamp_seconds", "last_drill_timestamp_seconds"),
    ("pantau_drp_drill_overdue", "drill_overdue"),
)


class MetricsCache:
    """Holds pre-rendered sample lines per family and entity; see the module docstring.

    Thread-safe: updates may come from the event loop while a scrape renders in another thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: dict[str, dict[Key, bytes]] = {f.name: {} for f in FAMILIES}
        self._joined: dict[str, bytes] = {}
        self._rendered: dict[tuple[bool, bool], bytes] = {}
        self._generation = 0
        self._services: dict[str, dict[str, Any]] = {}
        self._priorities: dict[str, tuple[int, ...]] = {}  # possible priorities per service
        self._incidents: dict[tuple[str, str], int] = {}
        self._counters: dict[tuple[str, Key], float] = {}

    # -- low level ---------------------------------------------------------------------------

    def _put(self, family: str, key: Key, block: bytes | None) -> None:
        """Store (or with ``None`` remove) one entity's lines; must hold the lock."""
        blocks = self._blocks[family]
        if block is None:
            if blocks.pop(key, None) is None:
                return
        elif blocks.get(key) == block:
            return
        else:
            blocks[key] = block
        self._joined.pop(family, None)
        self._rendered.clear()
        self._generation += 1

    def _put_value(self, family: str, key: Key, labels: str, value: float | None) -> None:
        if value is None:
            self._put(family, key, None)
        elif labels:
            self._put(family, key, f"{family}{{{labels}}} {format_value(value)}\n".encode())
        else:
            self._put(family, key, f"{family} {format_value(value)}\n".encode())

    def _remove_where(self, scope: Scope, match: Iterable[str]) -> None:
        prefix = tuple(match)
        for fam in FAMILIES:
            if fam.scope == scope:
                for key in [k for k in self._blocks[fam.name] if k[: len(prefix)] == prefix]:
                    self._put(fam.name, key, None)
        for ckey in [c for c in self._counters if c[1][: len(prefix)] == prefix]:
            if FAMILY_BY_NAME[ckey[0]].scope == scope:
                del self._counters[ckey]

    # -- services ----------------------------------------------------------------------------

    def set_service_info(
        self, service: str, *, name: str, provider: str, group: str, classification: str
    ) -> None:
        """Katalog labels of a service (``pantau_service_info``)."""
        labels = label_pairs(
            ("service", service),
            ("name", name),
            ("provider", provider),
            ("group", group),
            ("classification", classification),
        )
        try:
            g, c = Group(group), Classification(classification)
            prios = tuple(sorted({priority(i, g, c) for i in Impact}))
        except ValueError:
            prios = ()
        with self._lock:
            self._put_value("pantau_service_info", (service,), labels, 1)
            self._priorities[service] = prios
            self._render_incidents(service)

    def update_service(self, service: str, **fields: Unpack[ServiceFields]) -> None:
        """Merge ``fields`` into the service's values and re-render the lines that changed."""
        with self._lock:
            values = self._services.setdefault(service, {})
            # Only fields whose value changed are re-rendered: a round usually moves a few.
            changed = {k for k, v in fields.items() if k not in values or values[k] != v}
            values.update(fields)
            if not changed:
                return
            key, svc = (service,), label_pairs(("service", service))
            if changed & {"state", "up"}:
                state = values.get("state")
                up = values.get("up")
                if up is None and state in ("up", "degraded", "down"):
                    up = state != "down"
                self._put_value("pantau_service_up", key, svc, up)
                block = None
                if state is not None:
                    block = "".join(
                        f'pantau_service_state{{{svc},state="{s}"}} {int(s == state)}\n'
                        for s in STATES
                    ).encode()
                self._put("pantau_service_state", key, block)
            if "availability_ratio" in changed:
                self._put_value(
                    "pantau_service_availability_ratio",
                    key,
                    f'{svc},period="month"',
                    values.get("availability_ratio"),
                )
            for family, field in _SIMPLE_SERVICE_FIELDS:
                if field in changed:
                    self._put_value(family, key, svc, values.get(field))

    def update_probe(
        self,
        service: str,
        check: str,
        type: str,
        *,
        success: bool,
        duration_seconds: float,
        http_status_code: int | None = None,
        tls_expiry_ts: float | None = None,
    ) -> None:
        """The last run of one check (like blackbox_exporter's ``probe_*``)."""
        key = (service, check)
        sc = label_pairs(("service", service), ("check", check))
        sct = f"{sc},{label_pairs(('type', type))}"
        with self._lock:
            self._put_value("pantau_probe_success", key, sct, success)
            self._put_value("pantau_probe_duration_seconds", key, sct, duration_seconds)
            self._put_value("pantau_probe_http_status_code", key, sc, http_status_code)
            self._put_value(
                "pantau_probe_tls_cert_expiry_timestamp_seconds", key, sc, tls_expiry_ts
            )
            # Counters start at 0 so that increase() sees the first error (no missing series).
            self._add("pantau_probe_errors_total", key, sc, 0)

    def inc_probe_errors(self, service: str, check: str, amount: int = 1) -> None:
        """Count an unexpected error inside a probe (a bug, logged by the runner)."""
        sc = label_pairs(("service", service), ("check", check))
        with self._lock:
            self._add("pantau_probe_errors_total", (service, check), sc, amount)

    def update_backup(
        self, service: str, source: str, last_success_ts: float | None, *, source_up: bool = True
    ) -> None:
        """Newest successful backup of one source; ``None`` when it is not known."""
        labels = label_pairs(("service", service), ("source", source))
        with self._lock:
            key = (service, source)
            self._put_value(
                "pantau_backup_last_success_timestamp_seconds", key, labels, last_success_ts
            )
            self._put_value("pantau_backup_source_up", key, labels, source_up)

    def set_incidents_open(self, counts: Mapping[tuple[str, int | str], int]) -> None:
        """Replace all open-incident counts; priorities are ints (1 → ``P1``) or labels.

        Every known service also exports 0 for the two priorities it can have (Mayor and Minor),
        so sums and alerts see 0 rather than no data.
        """
        new = {(s, p if isinstance(p, str) else f"P{p}"): n for (s, p), n in counts.items()}
        with self._lock:
            touched = {s for s, _ in self._incidents} | {s for s, _ in new}
            self._incidents = new
            for service in touched | set(self._priorities):
                self._render_incidents(service)

    def _render_incidents(self, service: str) -> None:
        per = {f"P{p}": 0 for p in self._priorities.get(service, ())}
        per |= {p: n for (s, p), n in self._incidents.items() if s == service}
        svc = label_pairs(("service", service))
        block = "".join(
            f'pantau_incidents_open{{{svc},priority="{escape_label_value(p)}"}} {n}\n'
            for p, n in sorted(per.items())
        )
        self._put("pantau_incidents_open", (service,), block.encode() or None)

    def remove_service(self, service: str) -> None:
        """Forget every sample of a service (it left the katalog)."""
        with self._lock:
            self._remove_where("service", (service,))
            self._services.pop(service, None)
            self._priorities.pop(service, None)
            self._incidents = {k: v for k, v in self._incidents.items() if k[0] != service}

    def remove_check(self, service: str, check: str) -> None:
        """Forget the samples of one check (removed from the configuration)."""
        with self._lock:
            for fam in FAMILIES:
                if fam.name.startswith("pantau_probe_"):
                    self._put(fam.name, (service, check), None)
            self._counters.pop(("pantau_probe_errors_total", (service, check)), None)

    def remove_backup_source(self, service: str, source: str) -> None:
        """Forget the samples of one backup source."""
        with self._lock:
            self._put("pantau_backup_last_success_timestamp_seconds", (service, source), None)
            self._put("pantau_backup_source_up", (service, source), None)

    # -- hosts -------------------------------------------------------------------------------

    def update_host(
        self,
        host: str,
        *,
        cpu_ratio: float | None,
        memory_ratio: float | None,
        filesystems: Mapping[str, float],
        receive_bytes_total: Mapping[str, float],
        transmit_bytes_total: Mapping[str, float],
    ) -> None:
        """One host sample; a mountpoint missing from ``filesystems`` (e.g. stuck) is dropped."""
        h = label_pairs(("host", host))
        key = (host,)

        def block(family: str, label: str, values: Mapping[str, float]) -> bytes | None:
            text = "".join(
                f'{family}{{{h},{label}="{escape_label_value(k)}"}} {format_value(v)}\n'
                for k, v in values.items()
            )
            return text.encode() or None

        with self._lock:
            self._put_value("pantau_host_cpu_utilization_ratio", key, h, cpu_ratio)
            self._put_value("pantau_host_memory_utilization_ratio", key, h, memory_ratio)
            fs = block("pantau_host_filesystem_utilization_ratio", "mountpoint", filesystems)
            self._put("pantau_host_filesystem_utilization_ratio", key, fs)
            rx = block("pantau_host_network_receive_bytes_total", "interface", receive_bytes_total)
            self._put("pantau_host_network_receive_bytes_total", key, rx)
            tx = block(
                "pantau_host_network_transmit_bytes_total", "interface", transmit_bytes_total
            )
            self._put("pantau_host_network_transmit_bytes_total", key, tx)

    def remove_host(self, host: str) -> None:
        """Forget every sample of a host."""
        with self._lock:
            self._remove_where("host", (host,))

    # -- agent -------------------------------------------------------------------------------

    def set_agent(
        self,
        *,
        version: str | None = None,
        scheduler_lag_seconds: float | None = None,
        config_reload_successful: bool | None = None,
        config_reload_success_timestamp: float | None = None,
    ) -> None:
        """Agent-level gauges; arguments left ``None`` keep their current value."""
        with self._lock:
            if version is not None:
                labels = label_pairs(("version", version))
                self._put_value("pantau_agent_info", (), labels, 1)
            for family, value in (
                ("pantau_scheduler_lag_seconds", scheduler_lag_seconds),
                ("pantau_config_last_reload_successful", config_reload_successful),
                (
                    "pantau_config_last_reload_success_timestamp_seconds",
                    config_reload_success_timestamp,
                ),
            ):
                if value is not None:
                    self._put_value(family, (), "", value)
            for counter in ("pantau_storage_errors_total", "pantau_storage_dropped_total",
                            "pantau_storage_corruptions_total",
                            "pantau_clock_jumps_total"):  # fmt: skip
                self._add(counter, (), "", 0)
            for reason in HTTP_REFUSED_REASONS:  # known label values start at 0
                self._add(
                    "pantau_http_refused_total", (reason,), label_pairs(("reason", reason)), 0
                )

    def inc_storage_errors(self, amount: int = 1) -> None:
        """Count failed store reads/writes (FAULTS 11, 13)."""
        with self._lock:
            self._add("pantau_storage_errors_total", (), "", amount)

    def inc_storage_dropped(self, amount: int = 1) -> None:
        """Count records dropped because the store could not keep up (FAULTS 12)."""
        with self._lock:
            self._add("pantau_storage_dropped_total", (), "", amount)

    def inc_storage_corruptions(self, amount: int = 1) -> None:
        """Count damaged store files moved aside at start (FAULTS 13)."""
        with self._lock:
            self._add("pantau_storage_corruptions_total", (), "", amount)

    def inc_clock_jumps(self, amount: int = 1) -> None:
        """Count detected wall-clock jumps (FAULTS 20, 21)."""
        with self._lock:
            self._add("pantau_clock_jumps_total", (), "", amount)

    def inc_http_refused(self, reason: str, amount: int = 1) -> None:
        """Count connections closed / requests refused by the endpoint's defences (FAULTS 32,
        33); ``reason`` is one of :data:`HTTP_REFUSED_REASONS`."""
        with self._lock:
            self._add(
                "pantau_http_refused_total", (reason,), label_pairs(("reason", reason)), amount
            )

    def _add(self, family: str, key: Key, labels: str, amount: float) -> None:
        total = self._counters.get((family, key), 0) + amount
        self._counters[(family, key)] = total
        self._put_value(family, key, labels, total)

    # -- configuration -----------------------------------------------------------------------

    def apply_config(self, config: Config) -> None:
        """Export katalog labels and objectives of ``config``; forget what it no longer has."""
        settings = all_settings(config)
        for sid, s in settings.items():
            svc = s.service
            self.set_service_info(
                sid,
                name=svc.name,
                provider=svc.provider,
                group=svc.group.value,
                classification=svc.classification.value,
            )
            self.update_service(
                sid,
                target_ratio=s.availability_target / 100,
                rto_seconds=svc.rto.total_seconds() if svc.rto else None,
                rpo_seconds=svc.rpo.total_seconds() if svc.rpo else None,
            )
        with self._lock:
            service_keys = [
                k for f in FAMILIES if f.scope == "service" for k in self._blocks[f.name]
            ]
            host_keys = [k for f in FAMILIES if f.scope == "host" for k in self._blocks[f.name]]
        for sid in {k[0] for k in service_keys} - set(settings):
            self.remove_service(sid)
        for hid in {k[0] for k in host_keys} - {h.id for h in config.hosts}:
            self.remove_host(hid)
        for sid, sub in {k for k in service_keys if len(k) == 2}:
            st = settings.get(sid)
            if st is None:
                continue
            if sub not in st.check_names:
                self.remove_check(sid, sub)
            if sub not in {source_name(b, i) for i, b in enumerate(st.service.backups)}:
                self.remove_backup_source(sid, sub)

    # -- scraping ----------------------------------------------------------------------------

    def render(self, openmetrics: bool = False, *, compress: bool = False) -> bytes:
        """The whole exposition; with ``compress`` gzip-encoded (cached until the next change)."""
        with self._lock:
            cached = self._rendered.get((openmetrics, compress))
            if cached is not None:
                return cached
            plain = self._rendered.get((openmetrics, False))
            if plain is None:
                parts: list[bytes] = []
                for fam in FAMILIES:
                    blocks = self._blocks[fam.name]
                    if not blocks:
                        continue
                    joined = self._joined.get(fam.name)
                    if joined is None:
                        joined = self._joined[fam.name] = b"".join(blocks.values())
                    parts.append(fam.header(openmetrics))
                    parts.append(joined)
                if openmetrics:
                    parts.append(b"# EOF\n")
                plain = self._rendered[(openmetrics, False)] = b"".join(parts)
            if not compress:
                return plain
            generation = self._generation
        # Compress outside the lock so updates are not held up by a scrape; level 1 costs a
        # fraction of level 6 for text this repetitive and still shrinks it about 20 times.
        packed = gzip.compress(plain, compresslevel=1, mtime=0)
        with self._lock:
            if self._generation == generation:
                self._rendered[(openmetrics, True)] = packed
        return packed
