"""Bad configurations: each yields a located message and ``pantau check`` exits 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli.main import main
from agent.config.loader import parse_config
from agent.core.errors import ConfigError

BASE = """\
agent:
  name: test
  data_dir: /tmp/pantau-test
hosts:
  - id: local
services:
  - id: web
    name: Portal
    provider: Diskominfo
    group: layanan_publik
    classification: esensial
    host: local
    checks:
      - {type: http, url: "http://127.0.0.1:1/"}
"""

KRITIS = """\
  - id: sipd
    name: SIPD
    provider: Bappeda
    group: administrasi_pemerintahan
    classification: kritis
    rpo: 24h
    rto: 4h
    drp: {document: DRP.pdf}
    checks:
      - {type: tcp, address: "127.0.0.1:5432"}
"""


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "pantau.yaml", environ=environ or {})
    return [str(p) for p in info.value.problems]


def test_base_configs_are_valid() -> None:
    config = parse_config(BASE + KRITIS, "pantau.yaml", environ={})
    assert [s.id for s in config.services] == ["web", "sipd"]


# (case id, yaml, expected "file:line:col path: message" prefix or fragment)
CASES: list[tuple[str, str, str]] = [
    (
        "unknown-key-typo",
        BASE.replace("    host: local\n", "    host: local\n    timout: 5s\n"),
        "pantau.yaml:13:5 services[0].timout: unknown key",
    ),
    (
        "unknown-top-level-key",
        BASE + "alerting: {}\n",
        "pantau.yaml:15:1 alerting: unknown key",
    ),
    (
        "duplicate-service-id",
        BASE + BASE.split("services:\n")[1],
        "pantau.yaml:15:5 services[1].id: duplicate service id 'web' (first on line 7)",
    ),
    (
        "duplicate-mapping-key",
        BASE.replace("    name: Portal\n", "    name: Portal\n    name: Portal 2\n"),
        "pantau.yaml:9:5 services[0].name: duplicate key 'name' (first defined on line 8)",
    ),
    (
        "unknown-host",
        BASE.replace("    host: local", "    host: db01"),
        "pantau.yaml:12:5 services[0].host: unknown host 'db01' (hosts: local)",
    ),
    (
        "bad-duration",
        BASE.replace("    host: local\n", "    host: local\n    interval: 30 seconds\n"),
        "pantau.yaml:13:5 services[0].interval: invalid duration '30 seconds'",
    ),
    (
        "duration-without-unit",
        BASE.replace("    host: local\n", "    host: local\n    interval: 30\n"),
        "pantau.yaml:13:5 services[0].interval: a duration must be a string with a unit",
    ),
    (
        "kritis-without-rpo",
        BASE + KRITIS.replace("    rpo: 24h\n", ""),
        "pantau.yaml:15:5 services[1].rpo: required for classification kritis",
    ),
    (
        "kritis-without-rto",
        BASE + KRITIS.replace("    rto: 4h\n", ""),
        "services[1].rto: required for classification kritis",
    ),
    (
        "kritis-without-drp",
        BASE + KRITIS.replace("    drp: {document: DRP.pdf}\n", ""),
        "services[1].drp: required for classification kritis",
    ),
    (
        "target-over-100",
        BASE.replace("    host: local\n", "    host: local\n    availability_target: 100.5\n"),
        "pantau.yaml:13:5 services[0].availability_target: Input should be less than or equal to 100",
    ),
    (
        "target-zero",
        BASE + "availability_targets: {kritis: 0}\n",
        "pantau.yaml:15:24 availability_targets.kritis: Input should be greater than 0",
    ),
    (
        "maintenance-ends-before-start",
        BASE
        + "    maintenance:\n"
        + "      - {start: 2024-09-15T02:00:00+07:00, end: 2024-09-14T22:00:00+07:00}\n",
        "pantau.yaml:16:44 services[0].maintenance[0].end: maintenance window ends before it starts",
    ),
    (
        "yaml11-no-is-not-false",
        BASE.replace('"http://127.0.0.1:1/"}', '"http://127.0.0.1:1/", tls_verify: no}'),
        "services[0].checks[0].tls_verify: Input should be a valid boolean",
    ),
    (
        "yaml11-on-is-not-true",
        BASE.replace('"http://127.0.0.1:1/"}', '"http://127.0.0.1:1/", follow_redirects: on}'),
        "services[0].checks[0].follow_redirects: Input should be a valid boolean",
    ),
    (
        "yaml11-octal-is-not-a-number",
        BASE + "defaults: {failure_threshold: 0755}\n",
        "pantau.yaml:15:12 defaults.failure_threshold: Input should be a valid integer",
    ),
    (
        "undefined-env-var",
        BASE.replace("name: test", "name: ${PANTAU_NAME}"),
        "pantau.yaml:2:9 agent.name: undefined environment variable ${PANTAU_NAME}",
    ),
    (
        "unknown-check-type",
        BASE.replace("{type: http, ", "{type: icmp, "),
        "pantau.yaml:14:10 services[0].checks[0].type: unknown type; expected one of 'http', 'tcp', 'dns'",
    ),
    (
        "check-without-type",
        BASE.replace("{type: http, ", "{"),
        "services[0].checks[0]: 'type' is required",
    ),
    (
        "missing-required-key",
        BASE.replace("    provider: Diskominfo\n", ""),
        "pantau.yaml:7:5 services[0].provider: required key is missing",
    ),
    (
        "bad-service-id",
        BASE.replace("- id: web", "- id: Web Portal"),
        "pantau.yaml:7:5 services[0].id: String should match pattern",
    ),
    (
        "bad-classification",
        BASE.replace("classification: esensial", "classification: penting"),
        "services[0].classification: Input should be 'kritis', 'esensial' or 'normal'",
    ),
    (
        "bad-listen",
        BASE.replace("  name: test\n", "  name: test\n  listen: 9717\n"),
        "pantau.yaml:3:3 agent.listen: Input should be a valid string",
    ),
    (
        "bad-timezone",
        BASE.replace("  name: test\n", "  name: test\n  timezone: WIB\n"),
        "agent.timezone: unknown time zone 'WIB'",
    ),
    (
        "publik-normal-needs-fulfilment-target",
        BASE.replace("classification: esensial", "classification: normal"),
        "services[0].fulfilment_target: required: Tabel 4.1 gives no fulfilment target",
    ),
    (
        "url-without-scheme",
        BASE.replace('"http://127.0.0.1:1/"', '"127.0.0.1/health"'),
        "services[0].checks[0].url: String should match pattern",
    ),
    (
        "no-checks",
        BASE.replace(
            '    checks:\n      - {type: http, url: "http://127.0.0.1:1/"}\n', "    checks: []\n"
        ),
        "services[0].checks: List should have at least 1 item",
    ),
    (
        "yaml-syntax-error",
        BASE.replace("    name: Portal\n", "    name: [Portal\n"),
        "pantau.yaml:9:",
    ),
    (
        "bad-body-regex",  # found at load time, so a SIGHUP never half-applies it
        BASE.replace(
            'url: "http://127.0.0.1:1/"}', 'url: "http://127.0.0.1:1/", expect_body_regex: "([x"}'
        ),
        "pantau.yaml:14:50 services[0].checks[0].expect_body_regex: invalid regular expression",
    ),
    (
        "duplicate-host-id",
        BASE.replace("  - id: local\n", "  - id: local\n  - id: local\n"),
        "pantau.yaml:6:5 hosts[1].id: duplicate host id 'local' (first on line 5)",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES]
)
def test_bad_config_is_located(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    text = BASE.replace(
        "    host: local\n", "    host: nowhere\n    timout: 1s\n"
    ) + KRITIS.replace("    rpo: 24h\n", "")
    found = problems(text)
    assert len(found) == 3, found
    assert [p.split(" ")[0] for p in found] == [
        "pantau.yaml:12:5",
        "pantau.yaml:13:5",
        "pantau.yaml:16:5",
    ]


def test_secret_from_environment_never_appears_in_errors() -> None:
    text = BASE.replace('"http://127.0.0.1:1/"}', '"http://127.0.0.1:1/", headers: ${TOKEN}}')
    found = problems(text, environ={"TOKEN": "s3cr3t-value"})
    assert found
    assert not any("s3cr3t-value" in p for p in found)


def test_yaml11_sexagesimal_time_stays_a_time_of_day() -> None:
    # PyYAML (YAML 1.1) would load 07:30 as 450 (7*60+30); pantau reads it as 07:30.
    text = BASE.replace("agent:\n", 'agent:\n  working_hours: {start: 07:30, end: "16:00"}\n')
    hours = parse_config(text, "pantau.yaml", environ={}).agent.working_hours
    assert (hours.start.hour, hours.start.minute) == (7, 30)


def test_env_expansion_default_and_literal_dollar() -> None:
    text = BASE.replace("name: test", 'name: "${AGENT:-srv-01}-$$1"')
    config = parse_config(text, "pantau.yaml", environ={})
    assert config.agent.name == "srv-01-$1"
    config = parse_config(text, "pantau.yaml", environ={"AGENT": "srv-02"})
    assert config.agent.name == "srv-02-$1"


def test_naive_maintenance_times_are_in_agent_zone() -> None:
    text = (
        BASE + "    maintenance:\n      - {start: 2024-09-14T22:00:00, end: 2024-09-15T02:00:00}\n"
    )
    window = parse_config(text, "pantau.yaml", environ={}).services[0].maintenance[0]
    assert window.start.utcoffset() is not None
    assert window.start.utcoffset().total_seconds() == 7 * 3600  # type: ignore[union-attr]


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "pantau.yaml"
    path.parent.mkdir()
    path.write_text(BASE.replace("data_dir: /tmp/pantau-test", "data_dir: ../data"))
    from agent.config.loader import load_config

    assert load_config(path).agent.data_dir == tmp_path / "etc" / ".." / "data"


def test_check_command_exits_2_and_prints_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "pantau.yaml"
    path.write_text(BASE.replace("    host: local\n", "    host: nowhere\n    timout: 1s\n"))
    result = CliRunner().invoke(main, ["check", "-c", str(path)])
    assert result.exit_code == 2
    assert f"{path}:12:5 services[0].host: unknown host 'nowhere'" in result.output
    assert f"{path}:13:5 services[0].timout: unknown key" in result.output


def test_check_command_on_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "-c", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "file not found" in result.output


def test_example_config_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    result = CliRunner().invoke(main, ["check", "-c", str(root / "config/pantau.example.yaml")])
    assert result.exit_code == 0, result.output
    assert "9 services: 3 kritis, 3 esensial, 3 normal" in result.output
