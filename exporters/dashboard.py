"""``pantau dashboard``: a Grafana dashboard for pantau agents (SPEC §9).

Rows: a summary with the katalog table (state, month-to-date availability against target),
availability over time, RPO/RTO (backup age against RPO, outage against RTO, drills), host
utilisation (CPU, RAM, filesystems, bandwidth: the Tabel 4.8 fields) and gangguan (open
incidents by priority, probes, TLS certificates).

The data source is the template variable ``DS_PROMETHEUS`` (type datasource), so the same JSON
works when imported by hand and when provisioned from a file. Every query reads raw pantau
metrics, so the dashboard works without the recording rules of ``pantau rules``. The committed
copy is ``config/grafana/pantau-dashboard.json`` (a test keeps it equal to this output).
"""

from __future__ import annotations

import json
from typing import Any

from agent.config.models import Config

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SVC = 'job=~"$job",service=~"$service"'
HOST = 'job=~"$job",host=~"$host"'
GOOD = f'pantau_service_state{{{SVC},state=~"up|degraded"}}'
VALID = f'pantau_service_state{{{SVC},state=~"up|degraded|down"}}'
STATE_MAPPINGS = [
    ("0", "up", "green"),
    ("1", "degraded", "yellow"),
    ("2", "down", "red"),
    ("3", "maintenance", "blue"),
    ("4", "unknown", "gray"),
]


def _target(expr: str, legend: str = "", ref: str = "A", *, table: bool = False) -> dict[str, Any]:
    target: dict[str, Any] = {"datasource": DS, "expr": expr, "refId": ref}
    if legend:
        target["legendFormat"] = legend
    if table:
        target |= {"format": "table", "instant": True, "range": False}
    return target


def _mappings(entries: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    options = {
        v: {"text": text, "color": color, "index": i} for i, (v, text, color) in enumerate(entries)
    }
    return [{"type": "value", "options": options}]


def _thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


class _Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping into new rows."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.row_h = 0

    def row(self, title: str) -> None:
        self.y += self.row_h
        self.x, self.row_h = 0, 0
        self._add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.y += 1

    def panel(self, kind: str, title: str, w: int, h: int, targets: list[dict[str, Any]],
              description: str = "", unit: str = "", **extra: Any) -> None:  # fmt: skip
        if self.x + w > 24:
            self.y += self.row_h
            self.x, self.row_h = 0, 0
        defaults: dict[str, Any] = {"unit": unit} if unit else {}
        defaults |= extra.pop("defaults", {})
        panel: dict[str, Any] = {
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DS,
            "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": extra.pop("overrides", [])},
            "options": extra.pop("options", {}),
        }
        panel |= extra
        self._add(panel, w, h)

    def _add(self, panel: dict[str, Any], w: int, h: int) -> None:
        panel = {
            "id": len(self.panels) + 1,
            "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
        } | panel
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h) if panel["type"] != "row" else 0


def _summary(lay: _Layout) -> None:
    lay.row("Ringkasan layanan")
    stat_opts = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"}
    red_if_any = {"thresholds": _thresholds((None, "green"), (1, "red"))}
    for title, expr, desc in (
        ("Layanan down", f'count(pantau_service_state{{{SVC},state="down"}} == 1) or vector(0)',
         "Layanan dengan status terkonfirmasi down (gangguan Mayor)."),
        ("Di bawah target bulan ini",
         f'count(max by (service) (pantau_service_availability_ratio{{{SVC},period="month"}}) '
         f"< max by (service) (pantau_service_availability_target_ratio{{{SVC}}})) or vector(0)",
         "Layanan yang ketersediaan bulan berjalannya di bawah target."),
        ("Gangguan terbuka", f"sum(pantau_incidents_open{{{SVC}}}) or vector(0)",
         "Tiket gangguan yang belum selesai."),
        ("RPO terlampaui", f"count(pantau_backup_rpo_breached{{{SVC}}} == 1) or vector(0)",
         "Layanan yang backup terbarunya lebih tua dari RPO."),
    ):  # fmt: skip
        lay.panel(
            "stat", title, 6, 4, [_target(expr)], desc, defaults=red_if_any, options=stat_opts
        )
    info = f"max by (service, name, provider, group, classification) (pantau_service_info{{{SVC}}})"
    targets = [
        _target(info, ref="A", table=True),
        _target(f"max by (service, state) (pantau_service_state{{{SVC}}} == 1)", ref="B", table=True),
        _target(f'max by (service) (pantau_service_availability_ratio{{{SVC},period="month"}})',
                ref="C", table=True),
        _target(f"max by (service) (pantau_service_availability_target_ratio{{{SVC}}})",
                ref="D", table=True),
    ]  # fmt: skip
    organize = {
        "excludeByName": {"Time": True, "Value #A": True, "Value #B": True},
        "indexByName": {"service": 0, "name": 1, "classification": 2, "group": 3, "provider": 4,
                        "state": 5, "Value #C": 6, "Value #D": 7},
        "renameByName": {"service": "ID", "name": "Nama Layanan", "classification": "Klasifikasi",
                         "group": "Kelompok", "provider": "Penyedia", "state": "Status",
                         "Value #C": "Ketersediaan bulan ini", "Value #D": "Target"},
    }  # fmt: skip
    overrides = [
        {"matcher": {"id": "byName", "options": name},
         "properties": [{"id": "unit", "value": "percentunit"}, {"id": "decimals", "value": 3}]}
        for name in ("Ketersediaan bulan ini", "Target")
    ] + [
        {"matcher": {"id": "byName", "options": "Status"},
         "properties": [{"id": "mappings", "value": _mappings(
             [(text, text, color) for _, text, color in STATE_MAPPINGS])},
             {"id": "custom.cellOptions", "value": {"type": "color-background"}}]},
    ]  # fmt: skip
    lay.panel(
        "table", "Katalog layanan", 24, 9, targets,
        "Status terkini dan ketersediaan bulan berjalan (realisasi) terhadap target per layanan.",
        overrides=overrides,
        transformations=[{"id": "merge", "options": {}}, {"id": "organize", "options": organize}],
        options={"showHeader": True, "sortBy": [{"displayName": "Ketersediaan bulan ini"}]},
    )  # fmt: skip


def _availability(lay: _Layout) -> None:
    lay.row("Ketersediaan")
    code = " or ".join(
        f'(pantau_service_state{{{SVC},state="{state}"}} * {value})'
        for value, state, _ in STATE_MAPPINGS[1:]
    )
    lay.panel(
        "state-timeline", "Status layanan", 24, 8,
        [_target(f"sum by (service) ({code})", "{{service}}")],
        "Status terkonfirmasi dari waktu ke waktu (maintenance dan unknown tidak dihitung).",
        defaults={"mappings": _mappings(STATE_MAPPINGS), "color": {"mode": "thresholds"}},
        options={"showValue": "never", "mergeValues": True},
    )  # fmt: skip
    rolling = (
        f"sum by (service) (sum_over_time({GOOD}[1h]))\n/\n"
        f"(sum by (service) (sum_over_time({VALID}[1h])) > 0)"
    )
    lay.panel("timeseries", "Ketersediaan bergulir 1 jam", 12, 8, [_target(rolling, "{{service}}")],
              "(up + degraded) / (up + degraded + down) selama 1 jam terakhir.",
              "percentunit", defaults={"min": 0, "max": 1})  # fmt: skip
    targets = [
        _target(f'max by (service) (pantau_service_availability_ratio{{{SVC},period="month"}})',
                "{{service}}"),
        _target(f"max by (service) (pantau_service_availability_target_ratio{{{SVC}}})",
                "target {{service}}", "B"),
    ]  # fmt: skip
    dashed = {"matcher": {"id": "byRegexp", "options": "^target .*"},
              "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]}  # fmt: skip
    lay.panel("timeseries", "Ketersediaan bulan berjalan vs target", 12, 8, targets,
              "Realisasi ketersediaan bulan berjalan (garis penuh) dan target (garis putus).",
              "percentunit", overrides=[dashed])  # fmt: skip


def _drp(lay: _Layout) -> None:
    lay.row("Pemulihan layanan (RPO / RTO)")
    age, rpo = "pantau_backup_age_seconds", "pantau_service_rpo_seconds"
    outage, rto = "pantau_service_outage_duration_seconds", "pantau_service_rto_seconds"
    ratio_steps = {"thresholds": _thresholds((None, "green"), (0.8, "yellow"), (1, "red"))}
    lay.panel("timeseries", "Umur backup vs RPO", 12, 8, [
        _target(f"max by (service) ({age}{{{SVC}}})", "{{service}}"),
        _target(f"max by (service) ({rpo}{{{SVC}}})", "RPO {{service}}", "B"),
    ], "Umur backup terbaru dari semua sumber; garis RPO sebagai batas.", "s")  # fmt: skip
    lay.panel("bargauge", "Umur backup / RPO", 12, 8, [
        _target(f"max by (service) ({age}{{{SVC}}}) / max by (service) ({rpo}{{{SVC}}})",
                "{{service}}"),
    ], "100 % berarti backup terbaru tepat setua RPO.", "percentunit",
        defaults=ratio_steps, options={"displayMode": "gradient", "orientation": "horizontal"})  # fmt: skip
    lay.panel("timeseries", "Durasi gangguan vs RTO", 12, 8, [
        _target(f"max by (service) ({outage}{{{SVC}}})", "{{service}}"),
        _target(f"max by (service) ({rto}{{{SVC}}}) and on (service) "
                f"(max by (service) ({outage}{{{SVC}}}) > 0)", "RTO {{service}}", "B"),
    ], "Durasi gangguan yang sedang berlangsung; garis RTO ditampilkan selama gangguan.", "s")  # fmt: skip
    lay.panel("table", "Uji pemulihan (drill) terakhir", 12, 8, [
        _target(f"max by (service) (time() - pantau_drp_last_drill_timestamp_seconds{{{SVC}}})",
                table=True),
        _target(f"max by (service) (pantau_drp_drill_overdue{{{SVC}}})", ref="B", table=True),
    ], "Waktu sejak uji pemulihan terakhir; 1 pada kolom Terlambat berarti drill terlambat.",
        transformations=[{"id": "merge", "options": {}}, {"id": "organize", "options": {
            "excludeByName": {"Time": True},
            "renameByName": {"service": "ID", "Value #A": "Sejak drill", "Value #B": "Terlambat"}}}],
        overrides=[{"matcher": {"id": "byName", "options": "Sejak drill"},
                    "properties": [{"id": "unit", "value": "s"}]}])  # fmt: skip


def _hosts(lay: _Layout) -> None:
    lay.row("Utilisasi host")
    util = {"min": 0, "max": 1,
            "thresholds": _thresholds((None, "green"), (0.8, "yellow"), (0.9, "red"))}  # fmt: skip
    for title, expr, legend in (
        ("CPU", f"pantau_host_cpu_utilization_ratio{{{HOST}}}", "{{host}}"),
        ("RAM", f"pantau_host_memory_utilization_ratio{{{HOST}}}", "{{host}}"),
        (
            "Storage",
            f"pantau_host_filesystem_utilization_ratio{{{HOST}}}",
            "{{host}} {{mountpoint}}",
        ),
    ):
        lay.panel("timeseries", title, 6, 8, [_target(expr, legend)], "", "percentunit",
                  defaults=util)  # fmt: skip
    rx = f"rate(pantau_host_network_receive_bytes_total{{{HOST}}}[$__rate_interval]) * 8"
    tx = f"rate(pantau_host_network_transmit_bytes_total{{{HOST}}}[$__rate_interval]) * 8"
    lay.panel("timeseries", "Bandwidth", 6, 8,
              [_target(rx, "rx {{host}} {{interface}}"), _target(tx, "tx {{host}} {{interface}}", "B")],
              "Bit per detik yang diterima (rx) dan dikirim (tx).", "bps")  # fmt: skip


def _incidents(lay: _Layout) -> None:
    lay.row("Gangguan dan pemeriksaan")
    lay.panel("bargauge", "Gangguan terbuka per prioritas", 8, 8,
              [_target(f"sum by (priority) (pantau_incidents_open{{{SVC}}})", "{{priority}}")],
              "Prioritas menurut Pedoman Tabel 4.2 (P1 tertinggi).",
              defaults={"thresholds": _thresholds((None, "green"), (1, "red"))},
              options={"displayMode": "basic", "orientation": "horizontal"})  # fmt: skip
    lay.panel("timeseries", "Durasi pemeriksaan", 16, 8,
              [_target(f"pantau_probe_duration_seconds{{{SVC}}}", "{{service}} {{check}}")],
              "Durasi pemeriksaan terakhir per layanan dan pemeriksaan.", "s")  # fmt: skip
    lay.panel("table", "Pemeriksaan dan sertifikat TLS", 24, 8, [
        _target(f"max by (service, check, type) (pantau_probe_success{{{SVC}}})", table=True),
        _target(f"max by (service, check) (pantau_probe_tls_cert_expiry_timestamp_seconds{{{SVC}}})"
                " - time()", ref="B", table=True),
    ], "Hasil pemeriksaan terakhir (1 berhasil) dan sisa masa berlaku sertifikat TLS.",
        transformations=[{"id": "merge", "options": {}}, {"id": "organize", "options": {
            "excludeByName": {"Time": True},
            "renameByName": {"service": "ID", "check": "Pemeriksaan", "type": "Jenis",
                             "Value #A": "Berhasil", "Value #B": "Sertifikat berlaku"}}}],
        overrides=[{"matcher": {"id": "byName", "options": "Sertifikat berlaku"},
                    "properties": [{"id": "unit", "value": "s"}]}])  # fmt: skip


def _query_var(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "type": "query", "name": name, "label": label, "datasource": DS,
        "query": {"query": query, "refId": f"{name}-query"}, "definition": query,
        "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }  # fmt: skip


def build_dashboard(config: Config | None = None) -> dict[str, Any]:
    """The dashboard as data; ``config`` only adds the organisation to the title."""
    lay = _Layout()
    for section in (_summary, _availability, _drp, _hosts, _incidents):
        section(lay)
    title = "pantau — Pemantauan Layanan SPBE"
    if config is not None and config.agent.report.organization:
        title += f" — {config.agent.report.organization}"
    variables = [
        {"type": "datasource", "name": "DS_PROMETHEUS", "label": "Data source",
         "query": "prometheus", "current": {}, "hide": 0, "refresh": 1},
        _query_var("job", "Job", "label_values(pantau_agent_info, job)"),
        _query_var("service", "Layanan", 'label_values(pantau_service_info{job=~"$job"}, service)'),
        _query_var("host", "Host",
                   'label_values(pantau_host_cpu_utilization_ratio{job=~"$job"}, host)'),
    ]  # fmt: skip
    return {
        "annotations": {"list": []},
        "description": "Ketersediaan, RPO/RTO, utilisasi dan gangguan layanan SPBE (pantau).",
        "editable": True,
        "graphTooltip": 1,
        "links": [],
        "panels": lay.panels,
        "refresh": "1m",
        "schemaVersion": 39,
        "tags": ["pantau", "spbe", "uptime"],
        "templating": {"list": variables},
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": "pantau-layanan",
        "version": 1,
    }


def render_dashboard(config: Config | None = None) -> str:
    """The dashboard as JSON text (stable key order, UTF-8, trailing newline)."""
    return json.dumps(build_dashboard(config), indent=2, ensure_ascii=False) + "\n"


def panel_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression in ``dashboard`` (panels and variables), for checks and tests."""
    out = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return out
