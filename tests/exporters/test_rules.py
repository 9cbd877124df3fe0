"""`pantau rules`: promtool accepts the rules, and each alert fires when it should and only then.

The alert cases run `promtool test rules` on generated input series (1 sample per minute). Most
cases load the rules with annotations removed, so the expected alerts list only labels; one case
checks the rendered annotations of the down alert.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config.loader import parse_config
from agent.config.models import Config
from exporters.rules import build_rules, render_rules, service_down_for
from tests.conftest import require_binary

STATES = ("up", "degraded", "down", "maintenance", "unknown")
A = {"job": "pantau", "instance": "a:9717"}
SIPD = {**A, "service": "sipd"}
# administrasi_pemerintahan + kritis → Mayor P2, Minor P4 (Tabel 4.2).
KATALOG = {"name": "SIPD", "group": "administrasi_pemerintahan", "classification": "kritis"}
MAYOR = {**SIPD, **KATALOG, "impact": "mayor", "priority": "P2"}
MINOR = {**SIPD, **KATALOG, "impact": "minor", "priority": "P4"}


def _sel(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _runs(values: list[float]) -> str:
    """promtool's expanding notation: [1, 1, 1, 0] → '1x2 0'."""
    out: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        v = f"{values[i]:g}"
        out.append(v if j == i else f"{v}x{j - i}")
        i = j + 1
    return " ".join(out)


def series(name: str, labels: dict[str, str], values: list[float]) -> dict[str, str]:
    return {"series": _sel(name, labels), "values": _runs(values)}


def states(timeline: list[tuple[str, int]], labels: dict[str, str] = SIPD) -> list[dict[str, str]]:
    """The five pantau_service_state series for [(state, minutes), ...]."""
    per_minute = [state for state, minutes in timeline for _ in range(minutes)]
    return [
        series("pantau_service_state", {**labels, "state": s}, [float(m == s) for m in per_minute])
        for s in STATES
    ]


def info(labels: dict[str, str] = SIPD, minutes: int = 5000, **katalog: str) -> dict[str, str]:
    full = {**labels, "provider": "Bappeda", **(katalog or KATALOG)}
    return series("pantau_service_info", full, [1.0] * minutes)


def flat(name: str, labels: dict[str, str], value: float, minutes: int) -> dict[str, str]:
    return series(name, labels, [value] * minutes)


def fired(alert: str, severity: str, **labels: str) -> dict[str, Any]:
    return {"exp_labels": {"alertname": alert, "severity": severity, **labels}}


def case(
    alert: str, inputs: list[dict[str, str]], checks: list[tuple[str, list[Any]]]
) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": [
            {"alertname": alert, "eval_time": t, "exp_alerts": exp} for t, exp in checks
        ],
    }


def pattern(up: int, down: int, minutes: int) -> list[tuple[str, int]]:
    """``up`` minutes up then ``down`` minutes down, repeated for ``minutes``."""
    out: list[tuple[str, int]] = []
    while sum(n for _, n in out) < minutes:
        out += [("up", up), ("down", down)]
    return out


LENIENT = {**A, "service": "lenient"}
TARGET = "pantau_service_availability_target_ratio"

# alert name → promtool test groups; each has firing and quiet expectations.
CASES: dict[str, list[dict[str, Any]]] = {
    "PantauServiceDown": [case(
        "PantauServiceDown",
        [*states([("up", 10), ("down", 20)]), info(),
         # no info series: the alert still fires, without katalog labels
         *states([("up", 10), ("down", 20)], {**A, "service": "noinfo"}),
         *states([("up", 10), ("maintenance", 20)], {**A, "service": "rawat"}),
         info({**A, "service": "rawat"})],
        [("5m", []),
         ("10m", []),  # pending: for = 1m (failure_threshold 2 × interval 30s)
         ("12m", [fired("PantauServiceDown", "critical", state="down", **MAYOR),
                  fired("PantauServiceDown", "critical", state="down", impact="mayor",
                        **{**A, "service": "noinfo"})])],
    )],
    "PantauServiceDegraded": [case(
        "PantauServiceDegraded",
        [*states([("up", 5), ("degraded", 10), ("up", 10)]), info()],
        [("8m", []),  # pending for 5m
         ("12m", [fired("PantauServiceDegraded", "warning", state="degraded", **MINOR)]),
         ("18m", [])],
    )],
    # target 99 % → budget 1 %; fast burn = 14.4 × 1 % = 14.4 % errors over 1h and 5m.
    # Down from minute 60: the 1h window [t-60, t] holds 61 samples, so it first exceeds
    # 14.4 % with 9 down samples (9/61 = 14.8 %) at t = 68m; firing after `for: 2m`.
    # "lenient" is down as long but has a 50 % target: burn ≤ 1/0.5 = 2 < 14.4, never fires.
    "PantauErrorBudgetBurnFast": [case(
        "PantauErrorBudgetBurnFast",
        [*states([("up", 60), ("down", 30)]), info(), flat(TARGET, SIPD, 0.99, 90),
         *states([("up", 60), ("down", 30)], LENIENT), flat(TARGET, LENIENT, 0.5, 90)],
        [("65m", []),  # 6 down of 61 = 9.8 % < 14.4 %
         ("75m", [fired("PantauErrorBudgetBurnFast", "critical", **MAYOR)])],
    )],
    # 1 minute down in 10 → ~10 % errors: above 6 × 1 % over 6h and 30m (medium fires), below
    # 14.4 % (fast stays quiet). "lenient" is down 1 minute in 33 (~3 %): below 6 %, quiet.
    "PantauErrorBudgetBurnMedium": [case(
        "PantauErrorBudgetBurnMedium",
        [*states(pattern(9, 1, 450)), info(), flat(TARGET, SIPD, 0.99, 450),
         *states(pattern(32, 1, 450), LENIENT), flat(TARGET, LENIENT, 0.99, 450)],
        [("440m", [fired("PantauErrorBudgetBurnMedium", "critical", **MAYOR)])],
    ), case(
        "PantauErrorBudgetBurnFast",
        [*states(pattern(9, 1, 450)), info(), flat(TARGET, SIPD, 0.99, 450)],
        [("440m", [])],
    )],
    # 1 minute down in 50 → 2 % errors: above 1 × 1 % over 3d and 6h (slow fires), below 6 %.
    # "lenient" is down 1 minute in 200 (0.5 %): quiet.
    "PantauErrorBudgetBurnSlow": [case(
        "PantauErrorBudgetBurnSlow",
        [*states(pattern(49, 1, 4400)), info(), flat(TARGET, SIPD, 0.99, 4400),
         *states(pattern(199, 1, 4400), LENIENT), flat(TARGET, LENIENT, 0.99, 4400)],
        [("4380m", [fired("PantauErrorBudgetBurnSlow", "warning", **MAYOR)])],
    )],
    # RTO 600 s; the outage grows 60 s per minute: 660 > 600 at 11m.
    "PantauOutageExceedsRTO": [case(
        "PantauOutageExceedsRTO",
        [series("pantau_service_outage_duration_seconds", SIPD, [60.0 * i for i in range(21)]),
         flat("pantau_service_rto_seconds", SIPD, 600, 21), info()],
        [("10m", []), ("12m", [fired("PantauOutageExceedsRTO", "critical", **MAYOR)])],
    )],
    # Half the RTO is 300 s: 360 > 300 at 6m; past the RTO (12m) only ExceedsRTO fires.
    "PantauOutageNearRTO": [case(
        "PantauOutageNearRTO",
        [series("pantau_service_outage_duration_seconds", SIPD, [60.0 * i for i in range(21)]),
         flat("pantau_service_rto_seconds", SIPD, 600, 21), info()],
        [("5m", []), ("6m", [fired("PantauOutageNearRTO", "warning", **MAYOR)]), ("12m", [])],
    )],
    "PantauBackupRPOBreached": [case(
        "PantauBackupRPOBreached",
        [series("pantau_backup_rpo_breached", SIPD, [0.0] * 10 + [1.0] * 20), info()],
        [("13m", []),  # pending for 5m from 10m
         ("16m", [fired("PantauBackupRPOBreached", "warning", **MINOR)])],
    )],
    "PantauBackupUnknown": [case(
        "PantauBackupUnknown",
        [flat("pantau_service_rpo_seconds", SIPD, 86400, 70), info(),
         flat("pantau_service_rpo_seconds", {**A, "service": "ok"}, 86400, 70),
         flat("pantau_backup_age_seconds", {**A, "service": "ok"}, 3600, 70)],
        [("30m", []), ("65m", [fired("PantauBackupUnknown", "warning", **MINOR)])],
    )],
    "PantauBackupSourceDown": [case(
        "PantauBackupSourceDown",
        [flat("pantau_backup_source_up", {**SIPD, "source": "dump"}, 0, 40),
         flat("pantau_backup_source_up", {**SIPD, "source": "push"}, 1, 40), info()],
        [("20m", []),
         ("35m", [fired("PantauBackupSourceDown", "warning", source="dump", **MINOR)])],
    )],
    # expiry at 10 days after the epoch of the test; 864000 − ~900 s < 14 days (1209600 s).
    "PantauTLSCertExpiringSoon": [case(
        "PantauTLSCertExpiringSoon",
        [flat("pantau_probe_tls_cert_expiry_timestamp_seconds", {**SIPD, "check": "web"},
              10 * 86400, 30),
         flat("pantau_probe_tls_cert_expiry_timestamp_seconds", {**SIPD, "check": "api"},
              30 * 86400, 30), info()],
        [("5m", []),
         ("15m", [fired("PantauTLSCertExpiringSoon", "warning", check="web", **MINOR)])],
    )],
    "PantauServiceFlapping": [case(
        "PantauServiceFlapping",
        [series("pantau_service_flapping", SIPD, [0.0] * 5 + [1.0] * 20), info()],
        [("12m", []), ("16m", [fired("PantauServiceFlapping", "warning", **MINOR)])],
    )],
    "PantauDRPDrillOverdue": [case(
        "PantauDRPDrillOverdue",
        [flat("pantau_drp_drill_overdue", SIPD, 1, 80), info()],
        [("30m", []), ("65m", [fired("PantauDRPDrillOverdue", "warning", **MINOR)])],
    )],
    "PantauAgentDown": [case(
        "PantauAgentDown",
        [series("up", A, [1.0] * 5 + [0.0] * 20),
         flat("up", {"job": "node", "instance": "b:9100"}, 0, 25)],  # another job: not ours
        [("8m", []), ("12m", [fired("PantauAgentDown", "critical", **A)])],
    )],
    "PantauAgentAbsent": [case(
        "PantauAgentAbsent",
        [flat("up", {"job": "node", "instance": "b:9100"}, 1, 30)],
        [("5m", []), ("12m", [fired("PantauAgentAbsent", "critical", job="pantau")])],
    ), case(
        "PantauAgentAbsent", [flat("up", A, 1, 30)], [("12m", [])],
    )],
    "PantauStorageErrors": [case(
        "PantauStorageErrors",
        [series("pantau_storage_errors_total", A, [0.0] * 10 + [1.0] * 20)],
        [("5m", []), ("12m", [fired("PantauStorageErrors", "warning", **A)]), ("25m", [])],
    )],
    "PantauStorageDropping": [case(
        "PantauStorageDropping",
        [series("pantau_storage_dropped_total", A, [0.0] * 10 + [5.0] * 20)],
        [("5m", []), ("12m", [fired("PantauStorageDropping", "warning", **A)]), ("25m", [])],
    )],
    "PantauConfigReloadFailed": [case(
        "PantauConfigReloadFailed",
        [series("pantau_config_last_reload_successful", A, [1.0] * 10 + [0.0] * 10 + [1.0] * 10)],
        [("5m", []), ("12m", [fired("PantauConfigReloadFailed", "warning", **A)]), ("25m", [])],
    )],
    "PantauSchedulerLagging": [case(
        "PantauSchedulerLagging",
        [flat("pantau_scheduler_lag_seconds", A, 20, 30),
         flat("pantau_scheduler_lag_seconds", {"job": "pantau", "instance": "c:9717"}, 2, 30)],
        [("5m", []), ("15m", [fired("PantauSchedulerLagging", "warning", **A)])],
    )],
}  # fmt: skip


def _rules_without_annotations(config: Config, alerts: set[str]) -> dict[str, Any]:
    """The generated rules with only ``alerts`` kept (fewer rules: faster 3-day cases)."""
    data = build_rules(config)
    for group in data["groups"]:
        group["rules"] = [r for r in group["rules"] if r.get("alert", "") in alerts | {""}]
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return data


def _promtool_test(tmp_path: Path, rules: dict[str, Any], tests: list[dict[str, Any]]) -> None:
    promtool = require_binary("promtool")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    spec = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_generated_rules(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    path = tmp_path / "pantau.rules.yml"
    path.write_text(render_rules(Config()))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # recording: 2 sums + 4 raw windows + 3 long windows + month + 5 burn rates + budget
    # remaining + 2 priority tables = 18
    assert f"SUCCESS: {18 + len(CASES)} rules found" in result.stdout


def test_every_alert_has_a_promtool_case() -> None:
    names = {r["alert"] for r in build_rules(Config())["groups"][1]["rules"]}
    assert names == set(CASES)


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_fires_when_it_should_and_stays_quiet_otherwise(tmp_path: Path, alert: str) -> None:
    tests = CASES[alert]
    names = {check["alertname"] for test in tests for check in test["alert_rule_test"]}
    _promtool_test(tmp_path, _rules_without_annotations(Config(), names), tests)


def test_down_alert_annotations_are_english_summary_and_indonesian_description(
    tmp_path: Path,
) -> None:
    expected = {
        **fired("PantauServiceDown", "critical", state="down", **MAYOR),
        "exp_annotations": {
            "summary": "Service sipd is down",
            "description": "Layanan SIPD tidak dapat diakses (gangguan Mayor, prioritas P2) "
            "menurut agen a:9717.",
        },
    }
    test = case("PantauServiceDown", [*states([("up", 10), ("down", 20)]), info()],
                [("12m", [expected])])  # fmt: skip
    _promtool_test(tmp_path, build_rules(Config()), [test])


def test_down_alert_waits_failure_threshold_times_interval() -> None:
    config = parse_config("defaults: {interval: 1m, failure_threshold: 3}")
    rules = build_rules(config)["groups"][1]["rules"]
    down = next(r for r in rules if r["alert"] == "PantauServiceDown")
    assert down["for"] == "3m"  # 3 × 1m
    assert service_down_for(Config()).total_seconds() == 60  # 2 × 30s, and never below 1m
    fast = parse_config("defaults: {interval: 10s, failure_threshold: 2}")
    assert service_down_for(fast).total_seconds() == 60  # 2 × 10s = 20s → raised to 1m


def test_job_option_names_the_scrape_job_in_agent_alerts() -> None:
    text = render_rules(Config(), job="pantau-agents")
    assert 'up{job="pantau-agents"} == 0' in text
    assert 'absent(up{job="pantau-agents"})' in text
    assert 'job="pantau"' not in text


def test_service_alerts_carry_classification_and_priority_for_routing() -> None:
    rules = build_rules(Config())["groups"][1]["rules"]
    for rule in rules:
        if (
            "service" in rule["annotations"]["summary"]
            or "Service" in rule["annotations"]["summary"]
        ):
            assert "group_left (name, group, classification, priority)" in rule["expr"], rule[
                "alert"
            ]
            assert rule["labels"]["impact"] in ("mayor", "minor")
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert set(rule["annotations"]) == {"summary", "description"}
