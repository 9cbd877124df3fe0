"""The exit-code table of the real ``pantau`` command (SPEC §5): 0 ok, 1 a check or target
failed or there is no data, 2 usage or configuration error; errors print ``pantau: …``."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.core.model import Outcome
from agent.store.database import Store
from tests.integration.agentproc import http_service, write_config
from tests.store.conftest import make_round

SEPT = datetime(2024, 9, 10, tzinfo=UTC)


def pantau(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pantau ARGS -c <a one-service katalog whose target refuses connections>``."""
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen="127.0.0.1:1",
        services=http_service("portal", "http://127.0.0.1:1/"),
    )
    return subprocess.run(
        [sys.executable, "-m", "agent", *args, "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def monitored_in_september(tmp_path: Path) -> None:
    """A store whose one round of ``portal`` was on 10 September 2024."""
    with Store.open(tmp_path / "data") as store:
        store.append_rounds([make_round("portal", SEPT, Outcome.UP)])


def damaged(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "pantau.db").write_bytes(b"not a database" * 100)


def nothing(tmp_path: Path) -> None:
    pass


@pytest.mark.parametrize(
    ("setup", "args", "code", "message"),
    [
        (nothing, ["probe"], 1, ""),  # the target refuses: a result, not an error
        (nothing, ["probe", "nope"], 2, "pantau: unknown service(s): nope"),
        (nothing, ["status"], 1, "pantau: no store at "),
        (damaged, ["status"], 2, "is damaged"),
        (monitored_in_september, ["status"], 0, ""),
        (monitored_in_september, ["report", "--period", "2099-01"], 2, "belum dimulai"),
        (monitored_in_september, ["report", "--period", "2024-07"], 1, "tidak ada data"),
        (monitored_in_september, ["report", "--period", "2024-9x"], 2, "pantau: --period: "),
        (monitored_in_september, ["report", "--period", "2024-09", "--service", "x"], 2, "x"),
        (monitored_in_september, ["incident", "close", "G-2024-09-0001"], 2, "no gangguan"),
        (nothing, ["backup", "mark", "portal"], 2, "has no `{type: push}` backup source"),
    ],
    ids=[
        "probe-down",
        "probe-unknown-service",
        "no-store",
        "damaged-store",
        "status",
        "report-future",
        "report-no-data",
        "report-bad-period",
        "report-unknown-service",
        "unknown-ticket",
        "mark-without-push-source",
    ],
)
def test_exit_code_and_message(
    tmp_path: Path, setup: object, args: list[str], code: int, message: str
) -> None:
    assert callable(setup)
    setup(tmp_path)
    proc = pantau(tmp_path, *args)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_configuration_error_exits_2_with_every_problem(tmp_path: Path) -> None:
    cfg = tmp_path / "pantau.yaml"
    cfg.write_text("agent: {name: x}\nservices:\n  - id: a\n    timout: 1s\n")
    for command in ("check", "run", "status"):
        proc = subprocess.run(
            [sys.executable, "-m", "agent", command, "-c", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("pantau: 6 problems in the configuration:\n  ")
        assert f"  {cfg}:4:5 services[0].timout: unknown key" in proc.stderr
