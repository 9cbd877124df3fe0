"""`pantau dashboard`: the committed JSON is the generated one, and every query is valid PromQL
over metrics pantau actually exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from agent.config.loader import parse_config
from agent.config.models import Config
from exporters.dashboard import build_dashboard, panel_queries, render_dashboard
from exporters.exposition import FAMILIES
from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "config" / "grafana" / "pantau-dashboard.json"
# Grafana expands these before the query reaches Prometheus.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$job": ".*", "$service": ".*",
                "$host": ".*"}  # fmt: skip


def _all_queries(dashboard: dict[str, Any]) -> list[str]:
    variables = [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return panel_queries(dashboard) + variables


def _expand(query: str) -> str:
    for var, value in GRAFANA_VARS.items():
        query = query.replace(var, value)
    return query


def test_committed_dashboard_equals_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_dashboard(), (
        "regenerate: pantau dashboard > config/grafana/pantau-dashboard.json"
    )


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    dashboard = build_dashboard()
    rules = [{"record": f"dashboard:query_{i}:check", "expr": _expand(q)}
             for i, q in enumerate(panel_queries(dashboard))]  # fmt: skip
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_every_metric_a_query_reads_is_exported() -> None:
    exported = {f.name for f in FAMILIES} | {"up"}
    used: set[str] = set()
    for query in _all_queries(build_dashboard()):
        used |= set(re.findall(r"\b(pantau_[a-z_]+)\b", query))
    assert used, "no metric found: the regex or the dashboard is broken"
    assert used <= exported, used - exported
    # The core SPEC §7 metrics are all shown somewhere.
    for name in ("pantau_service_availability_ratio", "pantau_backup_age_seconds",
                 "pantau_service_outage_duration_seconds", "pantau_incidents_open",
                 "pantau_host_filesystem_utilization_ratio"):  # fmt: skip
        assert name in used


def test_queries_go_through_the_datasource_variable() -> None:
    dashboard = build_dashboard()
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["DS_PROMETHEUS", "job", "service", "host"]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in panel["targets"])
        assert panel["targets"], panel["title"]


def test_panels_fit_the_grid_without_overlapping() -> None:
    dashboard = build_dashboard()
    assert dashboard["schemaVersion"] == 39
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}  # fmt: skip
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_panels_cover_the_formulir_topics() -> None:
    titles = " | ".join(p["title"] for p in build_dashboard()["panels"])
    for words in ("Katalog layanan", "RPO", "RTO", "CPU", "RAM", "Storage", "Bandwidth",
                  "Gangguan terbuka per prioritas", "Ketersediaan bulan berjalan vs target"):  # fmt: skip
        assert words in titles


def test_config_names_the_organisation_in_the_title() -> None:
    config = parse_config("agent: {report: {organization: Pemerintah Kota Magelang}}")
    assert build_dashboard(config)["title"].endswith("— Pemerintah Kota Magelang")
    assert json.loads(render_dashboard(Config()))["uid"] == "pantau-layanan"


def test_provisioning_examples_point_at_the_dashboard_and_prometheus() -> None:
    base = ROOT / "config" / "grafana" / "provisioning"
    dashboards = yaml.safe_load((base / "dashboards" / "pantau.yml").read_text())
    assert dashboards["providers"][0]["type"] == "file"
    assert dashboards["providers"][0]["options"]["path"]
    sources = yaml.safe_load((base / "datasources" / "prometheus.yml").read_text())
    assert sources["datasources"][0]["type"] == "prometheus"
