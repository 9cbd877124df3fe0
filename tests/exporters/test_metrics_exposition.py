"""The /metrics renderer: format, escaping, OpenMetrics, and agreement with prometheus_client."""

from __future__ import annotations

import gzip
import threading
from typing import Any

import pytest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_latest_om
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.registry import Collector, CollectorRegistry

from agent.config.loader import parse_config
from exporters.exposition import FAMILIES, FAMILY_BY_NAME, format_value
from exporters.metrics import (
    CONTENT_TYPE_OPENMETRICS,
    CONTENT_TYPE_TEXT,
    HTTP_REFUSED_REASONS,
    MetricsCache,
    negotiate,
)

NASTY = 'Sistem "Info" \\ Daerah\nbaris dua ✓'


def _families(text: str, openmetrics: bool) -> dict[str, tuple[str, str, str, set[Any]]]:
    """Parse exposition text into {family: (type, help, unit, {samples})} with a real parser."""
    parser = parse_om if openmetrics else parse_text
    out = {}
    for fam in parser(text):
        samples = {(s.name, tuple(sorted(s.labels.items())), s.value) for s in fam.samples}
        out[fam.name] = (fam.type, fam.documentation, fam.unit, samples)
    return out


def _filled() -> MetricsCache:
    cache = MetricsCache()
    cache.set_agent(
        version="0.1.0",
        scheduler_lag_seconds=0.25,
        config_reload_successful=True,
        config_reload_success_timestamp=1_767_225_600.5,
    )
    cache.set_service_info(
        "sipd", name=NASTY, provider="Bappeda", group="layanan_publik", classification="kritis"
    )
    cache.update_service(
        "sipd",
        state="degraded",
        state_since=1_767_225_000.25,
        availability_ratio=0.99875,
        target_ratio=0.995,
        downtime_seconds_total=1234.5,
        outage_seconds=0,
        rto_seconds=14400,
        rpo_seconds=86400,
        rto_breached=False,
        rpo_breached=True,
        backup_age_seconds=90000.0,
        flapping=False,
        last_drill_timestamp_seconds=1_760_000_000,
        drill_overdue=False,
    )
    cache.update_probe(
        "sipd", "web", "http", success=True, duration_seconds=0.0425, http_status_code=200,
        tls_expiry_ts=1_790_000_000,
    )  # fmt: skip
    cache.update_probe("sipd", 'db "x"', "tcp", success=False, duration_seconds=10.0)
    cache.inc_probe_errors("sipd", 'db "x"')
    cache.update_backup("sipd", "dump", 1_767_100_000.0)
    cache.update_backup("sipd", "push-1", None, source_up=False)
    cache.update_host(
        "local",
        cpu_ratio=0.125,
        memory_ratio=0.5,
        filesystems={"/": 0.41, "/var/lib/postgresql": 0.9},
        receive_bytes_total={"eth0": 123456789.0},
        transmit_bytes_total={"eth0": 987654321.0},
    )
    cache.set_incidents_open({("sipd", 1): 2})
    cache.inc_storage_errors(3)
    cache.inc_clock_jumps()
    cache.inc_http_refused("header_timeout", 2)
    return cache


class _Reference(Collector):
    """The same state as :func:`_filled`, built with prometheus_client's metric families."""

    def collect(self) -> list[Metric]:
        def doc(name: str) -> str:
            return FAMILY_BY_NAME[name].help

        def gauge(name: str, labels: list[str], rows: list[tuple[list[str], float]]) -> Metric:
            fam = FAMILY_BY_NAME[name]
            g = GaugeMetricFamily(name, doc(name), labels=labels, unit=fam.unit)
            for values, v in rows:
                g.add_metric(values, v)
            return g

        def counter(name: str, labels: list[str], rows: list[tuple[list[str], float]]) -> Metric:
            fam = FAMILY_BY_NAME[name]
            c = CounterMetricFamily(fam.family_name, doc(name), labels=labels, unit=fam.unit)
            for values, v in rows:
                c.add_metric(values, v)
            return c

        info = InfoMetricFamily("pantau_service", doc("pantau_service_info"), labels=["service"])
        info.add_metric(["sipd"], {"name": NASTY, "provider": "Bappeda",
                                   "group": "layanan_publik", "classification": "kritis"})  # fmt: skip
        agent = InfoMetricFamily("pantau_agent", doc("pantau_agent_info"))
        agent.add_metric([], {"version": "0.1.0"})
        s, sc, sct = ["service"], ["service", "check"], ["service", "check", "type"]
        return [
            info,
            gauge("pantau_service_up", s, [(["sipd"], 1)]),
            gauge("pantau_service_state", ["service", "state"],
                  [(["sipd", st], float(st == "degraded"))
                   for st in ("up", "degraded", "down", "maintenance", "unknown")]),
            gauge("pantau_service_state_since_timestamp_seconds", s, [(["sipd"], 1_767_225_000.25)]),
            gauge("pantau_service_availability_ratio", ["service", "period"],
                  [(["sipd", "month"], 0.99875)]),
            gauge("pantau_service_availability_target_ratio", s, [(["sipd"], 0.995)]),
            counter("pantau_service_downtime_seconds_total", s, [(["sipd"], 1234.5)]),
            gauge("pantau_service_outage_duration_seconds", s, [(["sipd"], 0)]),
            gauge("pantau_service_rto_seconds", s, [(["sipd"], 14400)]),
            gauge("pantau_service_rpo_seconds", s, [(["sipd"], 86400)]),
            gauge("pantau_service_rto_breached", s, [(["sipd"], 0)]),
            gauge("pantau_service_flapping", s, [(["sipd"], 0)]),
            gauge("pantau_probe_success", sct,
                  [(["sipd", "web", "http"], 1), (["sipd", 'db "x"', "tcp"], 0)]),
            gauge("pantau_probe_duration_seconds", sct,
                  [(["sipd", "web", "http"], 0.0425), (["sipd", 'db "x"', "tcp"], 10)]),
            gauge("pantau_probe_http_status_code", sc, [(["sipd", "web"], 200)]),
            gauge("pantau_probe_tls_cert_expiry_timestamp_seconds", sc,
                  [(["sipd", "web"], 1_790_000_000)]),
            counter("pantau_probe_errors_total", sc, [(["sipd", "web"], 0), (["sipd", 'db "x"'], 1)]),
            gauge("pantau_backup_last_success_timestamp_seconds", ["service", "source"],
                  [(["sipd", "dump"], 1_767_100_000)]),
            gauge("pantau_backup_source_up", ["service", "source"],
                  [(["sipd", "dump"], 1), (["sipd", "push-1"], 0)]),
            gauge("pantau_backup_age_seconds", s, [(["sipd"], 90000)]),
            gauge("pantau_backup_rpo_breached", s, [(["sipd"], 1)]),
            gauge("pantau_drp_last_drill_timestamp_seconds", s, [(["sipd"], 1_760_000_000)]),
            gauge("pantau_drp_drill_overdue", s, [(["sipd"], 0)]),
            # layanan_publik + kritis: Mayor → P1, Minor → P3 (Tabel 4.2); P1 has 2 open.
            gauge("pantau_incidents_open", ["service", "priority"],
                  [(["sipd", "P1"], 2), (["sipd", "P3"], 0)]),
            gauge("pantau_host_cpu_utilization_ratio", ["host"], [(["local"], 0.125)]),
            gauge("pantau_host_memory_utilization_ratio", ["host"], [(["local"], 0.5)]),
            gauge("pantau_host_filesystem_utilization_ratio", ["host", "mountpoint"],
                  [(["local", "/"], 0.41), (["local", "/var/lib/postgresql"], 0.9)]),
            counter("pantau_host_network_receive_bytes_total", ["host", "interface"],
                    [(["local", "eth0"], 123456789)]),
            counter("pantau_host_network_transmit_bytes_total", ["host", "interface"],
                    [(["local", "eth0"], 987654321)]),
            agent,
            gauge("pantau_scheduler_lag_seconds", [], [([], 0.25)]),
            gauge("pantau_config_last_reload_successful", [], [([], 1)]),
            gauge("pantau_config_last_reload_success_timestamp_seconds", [], [([], 1_767_225_600.5)]),
            counter("pantau_storage_errors_total", [], [([], 3)]),
            counter("pantau_storage_dropped_total", [], [([], 0)]),
            counter("pantau_storage_corruptions_total", [], [([], 0)]),
            counter("pantau_clock_jumps_total", [], [([], 1)]),
            counter("pantau_http_refused_total", ["reason"],
                    [([r], 2 if r == "header_timeout" else 0) for r in HTTP_REFUSED_REASONS]),
        ]  # fmt: skip


def _reference(openmetrics: bool) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Reference())
    render = generate_latest_om if openmetrics else generate_latest
    return render(registry).decode()


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_output_means_the_same_as_prometheus_client(openmetrics: bool) -> None:
    ours = _families(_filled().render(openmetrics).decode(), openmetrics)
    theirs = _families(_reference(openmetrics), openmetrics)
    assert ours == theirs
    assert len(ours) == len(FAMILIES)  # the realistic state above exercises every family


def test_label_values_with_quote_backslash_and_newline_are_escaped() -> None:
    text = _filled().render().decode()
    # '"' → \" ; '\' → \\ ; newline → \n ; non-ASCII stays UTF-8.
    assert 'name="Sistem \\"Info\\" \\\\ Daerah\\nbaris dua ✓"' in text
    assert 'check="db \\"x\\""' in text
    info = next(f for f in parse_text(text) if f.name == "pantau_service_info")
    assert info.samples[0].labels["name"] == NASTY


def test_every_family_is_contiguous_with_one_help_and_type() -> None:
    cache = MetricsCache()
    # Interleave entities so that naive per-entity rendering would split families.
    for i in range(3):
        cache.set_service_info(f"s{i}", name="n", provider="p", group="layanan_publik",
                               classification="normal")  # fmt: skip
        cache.update_service(f"s{i}", state="up", availability_ratio=1.0)
        cache.update_probe(f"s{i}", "web", "http", success=True, duration_seconds=0.1)
    cache.update_service("s0", state="down")
    lines = cache.render().decode().splitlines()
    seen: list[str] = []
    for line in lines:
        if line.startswith("# TYPE"):
            seen.append(line.split()[2])
        elif not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert name.startswith(seen[-1]), f"{name} outside its family block {seen[-1]}"
    assert len(seen) == len(set(seen))
    assert sum(line.startswith("# HELP") for line in lines) == len(seen)


def test_openmetrics_uses_family_names_units_and_ends_with_eof() -> None:
    text = _filled().render(openmetrics=True).decode()
    assert text.endswith("# EOF\n")
    assert "# TYPE pantau_service_downtime_seconds counter\n" in text
    assert "# UNIT pantau_service_downtime_seconds seconds\n" in text
    assert 'pantau_service_downtime_seconds_total{service="sipd"} 1234.5\n' in text
    assert "# TYPE pantau_service info\n" in text
    assert "# UNIT pantau_host_cpu_utilization_ratio ratio\n" in text
    plain = _filled().render().decode()
    assert "# TYPE pantau_service_downtime_seconds_total counter\n" in plain
    assert "# TYPE pantau_service_info gauge\n" in plain
    assert "# EOF" not in plain
    assert "# UNIT" not in plain


def test_none_removes_a_sample_instead_of_exporting_a_made_up_value() -> None:
    cache = _filled()
    cache.update_service("sipd", backup_age_seconds=None, rto_seconds=None)
    text = cache.render().decode()
    assert "pantau_backup_age_seconds{" not in text
    assert "pantau_service_rto_seconds{" not in text
    assert 'pantau_service_rpo_seconds{service="sipd"} 86400' in text  # untouched keys stay


def test_state_unknown_drops_up_and_sets_state_unknown() -> None:
    cache = _filled()
    cache.update_service("sipd", state="unknown")
    text = cache.render().decode()
    assert 'pantau_service_up{service="sipd"}' not in text
    assert 'pantau_service_state{service="sipd",state="unknown"} 1' in text
    assert 'pantau_service_state{service="sipd",state="degraded"} 0' in text


def test_remove_service_forgets_its_samples_but_not_other_services() -> None:
    cache = _filled()
    cache.set_service_info("other", name="O", provider="P", group="layanan_publik",
                           classification="normal")  # fmt: skip
    cache.update_service("other", state="up")
    cache.remove_service("sipd")
    text = cache.render().decode()
    assert 'service="sipd"' not in text
    assert 'pantau_service_up{service="other"} 1' in text
    assert 'pantau_host_cpu_utilization_ratio{host="local"}' in text


def test_apply_config_exports_katalog_and_prunes_what_left_it() -> None:
    config = parse_config(
        """
hosts: [{id: local}]
services:
  - {id: sipd, name: SIPD, provider: Bappeda, group: administrasi_pemerintahan,
     classification: kritis, rpo: 24h, rto: 4h, drp: {document: d.pdf}, availability_target: 99.9,
     checks: [{name: web, type: http, url: "http://127.0.0.1:1/"}]}
"""
    )
    cache = _filled()
    cache.update_probe("sipd", "old", "tcp", success=True, duration_seconds=0.1)
    cache.update_host("gone", cpu_ratio=0.1, memory_ratio=0.1, filesystems={},
                      receive_bytes_total={}, transmit_bytes_total={})  # fmt: skip
    cache.apply_config(config)
    text = cache.render().decode()
    assert 'pantau_service_availability_target_ratio{service="sipd"} 0.999' in text
    assert 'pantau_service_rto_seconds{service="sipd"} 14400' in text  # 4h = 4 × 3600
    assert 'classification="kritis"' in text
    assert 'name="SIPD"' in text
    assert 'check="old"' not in text
    assert 'check="db \\"x\\""' not in text
    assert 'check="web"' in text
    assert 'source="dump"' not in text  # the config lists no backups any more
    assert 'host="gone"' not in text
    assert 'host="local"' in text
    # administrasi_pemerintahan + kritis: Mayor → P2, Minor → P4 (Tabel 4.2).
    assert 'pantau_incidents_open{service="sipd",priority="P2"} 0' in text


def test_render_is_cached_until_something_changes() -> None:
    cache = _filled()
    first = cache.render()
    assert cache.render() is first
    cache.update_service("sipd", availability_ratio=0.999)  # changed value → new output
    second = cache.render()
    assert second is not first
    assert b"0.999\n" in second
    cache.update_service("sipd", availability_ratio=0.999)  # same value → nothing re-rendered
    assert cache.render() is second


def test_gzip_output_decompresses_to_the_plain_output() -> None:
    cache = _filled()
    for om in (False, True):
        assert gzip.decompress(cache.render(om, compress=True)) == cache.render(om)


def test_concurrent_updates_and_scrapes_always_give_parseable_output() -> None:
    cache = _filled()
    errors: list[BaseException] = []

    def writer() -> None:
        for i in range(300):
            cache.update_service(
                "sipd", availability_ratio=i / 300, state="up" if i % 2 else "down"
            )
            cache.update_probe("sipd", f"c{i % 7}", "tcp", success=bool(i % 3), duration_seconds=i)

    def reader() -> None:
        try:
            for _ in range(100):
                list(parse_om(cache.render(openmetrics=True).decode()))  # type: ignore[no-untyped-call]
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors


@pytest.mark.parametrize(
    ("value", "text"),
    [(1, "1"), (True, "1"), (False, "0"), (0.5, "0.5"), (1e20, "1e+20"), (3.0, "3"),
     (float("inf"), "+Inf"), (float("-inf"), "-Inf"), (float("nan"), "NaN")],
)  # fmt: skip
def test_values_are_formatted_as_prometheus_parses_them(value: float, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        # Prometheus 2.42's scrape Accept header.
        ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
         "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", True),
        ("application/openmetrics-text; version=0.0.1", True),
        ("text/plain;version=0.0.4", False),
        ("*/*", False),
        (None, False),
        ("", False),
        ("text/plain;q=1,application/openmetrics-text;q=0.5", False),
        ("application/openmetrics-text;version=9.9.9", False),
        ("application/openmetrics-text;q=0", False),
        ("application/openmetrics-text;q=bogus", False),
    ],
)  # fmt: skip
def test_negotiate_picks_openmetrics_only_when_preferred(
    accept: str | None, openmetrics: bool
) -> None:
    assert negotiate(accept) is openmetrics


def test_content_types_name_the_format_versions() -> None:
    assert CONTENT_TYPE_TEXT == "text/plain; version=0.0.4; charset=utf-8"
    assert CONTENT_TYPE_OPENMETRICS.startswith("application/openmetrics-text; version=1.0.0")


def test_credentials_in_check_urls_never_reach_metrics() -> None:
    config = parse_config(
        """
services:
  - id: sipd
    name: SIPD
    provider: Bappeda
    group: administrasi_pemerintahan
    classification: normal
    url: https://admin:rahasia1@sipd.example.go.id/
    checks:
      - {type: http, url: "https://user:rahasia2@sipd.example.go.id/health",
         headers: {Authorization: "Bearer rahasia3"}, basic_auth: {username: u, password: rahasia4}}
"""
    )
    cache = MetricsCache()
    cache.apply_config(config)
    cache.update_probe("sipd", "http-0", "http", success=True, duration_seconds=0.1)
    for om in (False, True):
        text = cache.render(om).decode()
        assert "rahasia" not in text
        assert "example.go.id" not in text  # URLs are not labels at all
