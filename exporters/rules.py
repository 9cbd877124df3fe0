"""``pantau rules``: Prometheus recording and alerting rules for a fleet of pantau agents.

Recording rules (group ``pantau-recording``, evaluated every minute)::

    service:pantau_service_{good,valid}_samples:sum5m   samples up|degraded / up|degraded|down
    service:pantau_service_availability:ratio_<w>       w = 5m 30m 1h 2h (from raw samples),
                                                         6h 1d 3d (from the 5m sums), month
    service:pantau_service_error_budget:burn_rate_<w>   (1 − availability) / (1 − target)
    service:pantau_service_error_budget:remaining_ratio_month
    service:pantau_service_priority_{mayor,minor}:info  pantau_service_info + a Tabel 4.2
                                                         ``priority`` label per impact

The availability ratios follow SPEC §4: degraded counts as available, maintenance and unknown
count on neither side. Windows of 6 hours and more are built from the 5-minute sums so that a
3-day window does not read 3 days of raw samples of every service on every evaluation.

Alerts (group ``pantau-alerts``) carry ``severity``, ``impact``, ``classification``,
``priority``, ``group`` and ``name`` labels (joined from ``pantau_service_info``; an alert still
fires without them if the join finds nothing), an English ``summary`` and a Bahasa Indonesia
``description``. The burn-rate alerts are the multi-window, multi-burn-rate alerts of the Google
SRE workbook (ch. 5) on a monthly budget: 2 % of it in 1 h, 5 % in 6 h (page), 10 % in 3 days
(ticket); the budget comes from ``pantau_service_availability_target_ratio``, so one rule set
serves every target.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import yaml

from agent.config.models import Config
from agent.core.durations import format_duration
from agent.core.pedoman import Classification, Group, Impact, priority

GOOD = 'pantau_service_state{state=~"up|degraded"}'
VALID = 'pantau_service_state{state=~"up|degraded|down"}'
RAW_WINDOWS = ("5m", "30m", "1h", "2h")
LONG_WINDOWS = ("6h", "1d", "3d")
#: (name, long window, short window, burn-rate factor, severity, for) — SRE workbook table 5-8.
BURN_ALERTS = (
    ("Fast", "1h", "5m", 14.4, "critical", "2m"),
    ("Medium", "6h", "30m", 6.0, "critical", "15m"),
    ("Slow", "3d", "6h", 1.0, "warning", "1h"),
)
ON = "on (job, instance, service)"
LABELS_JOINED = "name, group, classification, priority"
IMPACT_LABEL = {Impact.MAJOR: "mayor", Impact.MINOR: "minor"}


def service_down_for(config: Config) -> timedelta:
    """``for`` of the down alert: failure_threshold × interval of the defaults, at least 1 minute.

    The agent already confirms a state over ``failure_threshold`` rounds before exporting it;
    the ``for`` guards against one bad scrape and keeps the alert in step with confirmation.
    """
    d = config.defaults
    return max(timedelta(minutes=1), d.failure_threshold * d.interval)


def _rec(record: str, expr: str) -> dict[str, Any]:
    return {"record": record, "expr": expr}


def _priority_info(impact: Impact) -> str:
    terms = [
        f'label_replace(pantau_service_info{{group="{g.value}",classification="{c.value}"}}, '
        f'"priority", "P{priority(impact, g, c)}", "", "")'
        for g in Group
        for c in Classification
    ]
    return "\n  or\n".join(terms)


def recording_rules() -> list[dict[str, Any]]:
    """The recording rules, in evaluation order (later rules read earlier ones)."""
    rules = [
        _rec("service:pantau_service_good_samples:sum5m",
             f"sum without (state) (sum_over_time({GOOD}[5m]))"),
        _rec("service:pantau_service_valid_samples:sum5m",
             f"sum without (state) (sum_over_time({VALID}[5m]))"),
    ]  # fmt: skip
    for w in RAW_WINDOWS:
        expr = (
            f"sum without (state) (sum_over_time({GOOD}[{w}]))\n/\n"
            f"(sum without (state) (sum_over_time({VALID}[{w}])) > 0)"
        )
        rules.append(_rec(f"service:pantau_service_availability:ratio_{w}", expr))
    for w in LONG_WINDOWS:
        expr = (
            f"sum_over_time(service:pantau_service_good_samples:sum5m[{w}])\n/\n"
            f"(sum_over_time(service:pantau_service_valid_samples:sum5m[{w}]) > 0)"
        )
        rules.append(_rec(f"service:pantau_service_availability:ratio_{w}", expr))
    rules.append(
        _rec(
            "service:pantau_service_availability:ratio_month",
            'max without (period) (pantau_service_availability_ratio{period="month"})',
        )
    )
    budget = "(1 - pantau_service_availability_target_ratio)"
    for w in sorted({b[1] for b in BURN_ALERTS} | {b[2] for b in BURN_ALERTS}, key=_seconds):
        expr = f"(1 - service:pantau_service_availability:ratio_{w})\n/ {budget}"
        rules.append(_rec(f"service:pantau_service_error_budget:burn_rate_{w}", expr))
    rules.append(
        _rec(
            "service:pantau_service_error_budget:remaining_ratio_month",
            f"1 - (1 - service:pantau_service_availability:ratio_month) / {budget}",
        )
    )
    for impact in Impact:
        name = f"service:pantau_service_priority_{IMPACT_LABEL[impact]}:info"
        rules.append(_rec(name, _priority_info(impact)))
    return rules


def _seconds(window: str) -> float:
    units = {"m": 60, "h": 3600, "d": 86400}
    return float(window[:-1]) * units[window[-1]]


def _joined(expr: str, impact: Impact) -> str:
    """``expr`` with katalog labels and the Tabel 4.2 priority for ``impact``; if the join finds
    no info series the alert still fires, without those labels."""
    info = f"service:pantau_service_priority_{IMPACT_LABEL[impact]}:info"
    return f"(\n  {expr}\n)\n* {ON} group_left ({LABELS_JOINED})\n  {info}\nor {ON}\n(\n  {expr}\n)"


def _alert(
    name: str,
    expr: str,
    for_: str,
    severity: str,
    summary: str,
    description: str,
    impact: Impact | None = None,
) -> dict[str, Any]:
    labels = {"severity": severity}
    if impact is not None:
        labels["impact"] = IMPACT_LABEL[impact]
        expr = _joined(expr, impact)
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": labels,
        "annotations": {"summary": summary, "description": description},
    }


SVC = "{{ $labels.service }}"
NAME = "{{ with $labels.name }}{{ . }}{{ else }}{{ $labels.service }}{{ end }}"


def alerting_rules(config: Config, job: str = "pantau") -> list[dict[str, Any]]:
    """The alerting rules; ``job`` is the scrape job of the agents (for absence alerts)."""
    down_for = format_duration(service_down_for(config))
    mayor, minor = Impact.MAJOR, Impact.MINOR
    alerts = [
        _alert("PantauServiceDown", 'pantau_service_state{state="down"} == 1', down_for,
               "critical", f"Service {SVC} is down",
               f"Layanan {NAME} tidak dapat diakses (gangguan Mayor, prioritas "
               "{{ $labels.priority }}) menurut agen {{ $labels.instance }}.", mayor),
        _alert("PantauServiceDegraded", 'pantau_service_state{state="degraded"} == 1', "5m",
               "warning", f"Service {SVC} is degraded",
               f"Layanan {NAME} masih berjalan tetapi menurun (lambat atau sebagian fungsi gagal; "
               "gangguan Minor, prioritas {{ $labels.priority }}).", minor),
    ]  # fmt: skip
    for speed, long_w, short_w, factor, severity, for_ in BURN_ALERTS:
        expr = (
            f"service:pantau_service_error_budget:burn_rate_{long_w} > {factor}\n"
            f"  and\n  service:pantau_service_error_budget:burn_rate_{short_w} > {factor}"
        )
        share = {"Fast": "2 %", "Medium": "5 %", "Slow": "10 %"}[speed]
        alerts.append(
            _alert(
                f"PantauErrorBudgetBurn{speed}", expr, for_, severity,
                f"Service {SVC} burns its monthly availability budget {factor:g}x too fast "
                f"({long_w}/{short_w} windows)",
                f"Layanan {NAME} menghabiskan anggaran ketidaktersediaan bulanan {factor:g} kali "
                f"lebih cepat dari batas (jendela {long_w} dan {short_w}); {share} anggaran "
                f"terpakai dalam {long_w}. Target ketersediaan bulanan terancam tidak tercapai.",
                mayor,
            )
        )  # fmt: skip
    outage, rto = "pantau_service_outage_duration_seconds", "pantau_service_rto_seconds"
    alerts += [
        _alert("PantauOutageExceedsRTO", f"{outage} > {rto}", "0s", "critical",
               f"Outage of {SVC} has lasted longer than its RTO",
               f"Gangguan layanan {NAME} sudah berlangsung {{{{ $value | humanizeDuration }}}}, "
               "melebihi RTO. Jalankan rencana pemulihan (DRP).", mayor),
        _alert("PantauOutageNearRTO", f"({outage} > 0.5 * {rto}) unless {ON} ({outage} > {rto})",
               "0s", "warning", f"Outage of {SVC} has used half of its RTO",
               f"Gangguan layanan {NAME} sudah berlangsung {{{{ $value | humanizeDuration }}}}, "
               "lebih dari separuh RTO. Siapkan langkah pemulihan.", mayor),
        _alert("PantauBackupRPOBreached", "pantau_backup_rpo_breached == 1", "5m", "warning",
               f"Newest backup of {SVC} is older than its RPO",
               f"Cadangan (backup) terbaru layanan {NAME} lebih tua dari RPO; bila terjadi "
               "bencana sekarang, data yang hilang melebihi batas yang ditetapkan.", minor),
        _alert("PantauBackupUnknown",
               f"pantau_service_rpo_seconds unless {ON} pantau_backup_age_seconds", "1h",
               "warning", f"No successful backup of {SVC} is known",
               f"Tidak ada cadangan yang berhasil untuk layanan {NAME} yang dapat dibaca agen, "
               "padahal layanan ini memiliki RPO. Periksa sumber cadangan.", minor),
        _alert("PantauBackupSourceDown", "pantau_backup_source_up == 0", "30m", "warning",
               f"Backup source {{{{ $labels.source }}}} of {SVC} cannot be read",
               f"Sumber cadangan {{{{ $labels.source }}}} layanan {NAME} tidak dapat dibaca "
               "(berkas hilang, repositori terkunci atau kata sandi salah).", minor),
        _alert("PantauTLSCertExpiringSoon",
               "pantau_probe_tls_cert_expiry_timestamp_seconds - time() < 14 * 86400", "10m",
               "warning", f"TLS certificate of {SVC} ({{{{ $labels.check }}}}) expires soon",
               f"Sertifikat TLS layanan {NAME} (pemeriksaan {{{{ $labels.check }}}}) akan "
               "kedaluwarsa dalam {{ $value | humanizeDuration }}. Perbarui sertifikat.", minor),
        _alert("PantauServiceFlapping", "pantau_service_flapping == 1", "10m", "warning",
               f"Service {SVC} is flapping",
               f"Status layanan {NAME} berubah-ubah terlalu sering (naik-turun).", minor),
        _alert("PantauDRPDrillOverdue", "pantau_drp_drill_overdue == 1", "1h", "warning",
               f"Restore drill of {SVC} is overdue",
               f"Uji pemulihan (drill) DRP layanan {NAME} sudah melewati batas waktu; "
               "jadwalkan uji pemulihan.", minor),
        _alert("PantauAgentDown", f'up{{job="{job}"}} == 0', "5m", "critical",
               "pantau agent {{ $labels.instance }} cannot be scraped",
               "Agen pantau {{ $labels.instance }} tidak dapat diambil datanya oleh Prometheus; "
               "layanan di server itu tidak terpantau."),
        _alert("PantauAgentAbsent", f'absent(up{{job="{job}"}})', "10m", "critical",
               f"No pantau agent of job {job} is being scraped",
               f"Tidak ada agen pantau (job {job}) yang diambil datanya oleh Prometheus. "
               "Periksa konfigurasi scrape."),
        _alert("PantauStorageErrors", "increase(pantau_storage_errors_total[10m]) > 0", "0s",
               "warning", "pantau agent {{ $labels.instance }} fails to write its store",
               "Agen pantau {{ $labels.instance }} gagal membaca/menulis basis data SQLite "
               "(disk penuh atau rusak?). Pemantauan tetap berjalan, tetapi riwayat bisa hilang."),
        _alert("PantauStorageDropping", "increase(pantau_storage_dropped_total[10m]) > 0", "0s",
               "warning", "pantau agent {{ $labels.instance }} drops records",
               "Agen pantau {{ $labels.instance }} membuang catatan karena penyimpanan tidak "
               "dapat mengikuti; laporan bulanan bisa tidak lengkap."),
        _alert("PantauConfigReloadFailed", "pantau_config_last_reload_successful == 0", "0s",
               "warning", "pantau agent {{ $labels.instance }} failed to reload its config",
               "Agen pantau {{ $labels.instance }} gagal memuat ulang konfigurasi; konfigurasi "
               "lama tetap dipakai. Periksa log dan jalankan `pantau check`."),
        _alert("PantauSchedulerLagging", "pantau_scheduler_lag_seconds > 10", "10m", "warning",
               "pantau agent {{ $labels.instance }} runs probes late",
               "Penjadwal agen pantau {{ $labels.instance }} terlambat "
               "{{ $value | humanizeDuration }}; server terlalu sibuk atau terlalu banyak "
               "pemeriksaan."),
    ]  # fmt: skip
    return alerts


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (PromQL, descriptions) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def build_rules(config: Config, job: str = "pantau") -> dict[str, Any]:
    """The rule file as data (``{"groups": [...]}``)."""
    return {
        "groups": [
            {"name": "pantau-recording", "interval": "1m", "rules": recording_rules()},
            {"name": "pantau-alerts", "rules": alerting_rules(config, job)},
        ]
    }


def render_rules(config: Config, job: str = "pantau") -> str:
    """The rule file as YAML text, valid for ``promtool check rules``."""
    header = (
        "# Generated by `pantau rules`: recording and alerting rules for pantau agents.\n"
        f"# Scrape job: {job}. Load with rule_files: in prometheus.yml.\n"
    )
    body = yaml.dump(build_rules(config, job), Dumper=_Dumper, sort_keys=False, width=120)
    return header + body
