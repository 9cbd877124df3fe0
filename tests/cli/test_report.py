"""`pantau report` argument errors: exit 2 with the option named."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from agent.cli.main import main
from tests.config.test_config_errors import BASE


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    cfg = tmp_path / "pantau.yaml"
    cfg.write_text(BASE)
    result = CliRunner().invoke(main, ["report", "-c", str(cfg), *args])
    return result.exit_code, result.output


def test_prometheus_source_needs_a_url(tmp_path: Path) -> None:
    code, out = run(tmp_path, "--period", "2024-09", "--source", "prometheus")
    assert code == 2
    assert "--source prometheus needs --prometheus-url URL" in out


def test_prometheus_user_without_password_file(tmp_path: Path) -> None:
    code, out = run(
        tmp_path,
        "--period",
        "2024-09",
        "--source",
        "prometheus",
        "--prometheus-url",
        "http://127.0.0.1:1",
        "--prometheus-user",
        "u",
    )
    assert code == 2
    assert "--prometheus-password-file" in out


def test_bad_step(tmp_path: Path) -> None:
    code, out = run(
        tmp_path,
        "--period",
        "2024-09",
        "--source",
        "prometheus",
        "--prometheus-url",
        "http://127.0.0.1:1",
        "--step",
        "fast",
    )
    assert code == 2
    assert "--step" in out


def test_bad_format_and_period(tmp_path: Path) -> None:
    assert run(tmp_path, "--period", "2024-09", "--format", "docx")[0] == 2
    code, out = run(tmp_path, "--period", "September")
    assert code == 2
    assert "--period" in out
