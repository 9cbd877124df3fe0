"""DRP register in the running agent: drill metrics, `pantau drill record`, status, schedule."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.config.loader import load_config
from agent.core.clock import SystemClock
from agent.reports.monthly import MonthlyReporter
from agent.runtime.cron import Cron
from agent.store.database import Store
from agent.store.writer import StoreWriter
from tests.integration.agentproc import AgentProcess, Target, free_port, wait_for, write_config


def kritis(sid: str, url: str, last_drill: str, schedule: str = "") -> str:
    drill = f", drill: {{schedule: {schedule}}}" if schedule else ""
    return f"""\
  - id: {sid}
    name: Layanan {sid}
    provider: Diskominfo
    group: layanan_publik
    classification: kritis
    rpo: 24h
    rto: 4h
    drp: {{document: DRP-{sid}.pdf, last_drill: {last_drill}{drill}}}
    checks:
      - {{type: http, url: "{url}"}}
"""


def pantau(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=60
    )


def test_drill_metrics_and_recorded_drill_in_status(tmp_path: Path, target: Target) -> None:
    listen = f"127.0.0.1:{free_port()}"
    services = kritis("old", target.url, "2020-01-10") + kritis("fresh", target.url, "2020-01-10")
    cfg = write_config(
        tmp_path / "pantau.yaml", data_dir=tmp_path / "data", listen=listen, services=services
    )
    # A drill done by hand yesterday, recorded before the agent starts.
    rec = pantau(
        "drill",
        "record",
        "-c",
        str(cfg),
        "fresh",
        "--started",
        "2026-11-01T08:00:00+07:00",
        "--restored",
        "2026-11-01T09:30:00+07:00",
        "--data-as-of",
        "2026-11-01T02:00:00+07:00",
    )
    assert rec.returncode == 0, rec.stderr
    assert "90.00 menit" in rec.stdout  # 09:30 - 08:00 = 90 min, within the 4 h RTO
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(
            lambda: agent.metric('pantau_drp_drill_overdue{service="old"}') == 1, 10, "overdue"
        )
        assert agent.metric('pantau_drp_drill_overdue{service="fresh"}') == 0
        ts = agent.metric('pantau_drp_last_drill_timestamp_seconds{service="fresh"}')
        assert ts == datetime(2026, 11, 1, 1, 0, tzinfo=UTC).timestamp()  # 08:00 WIB
        drp = agent.service("fresh")["drp"]
        assert drp["document"] == "DRP-fresh.pdf"
        assert drp["last_drill_recorded"]["restore_minutes"] == 90.0
    finally:
        assert agent.stop() == 0
    status = json.loads(pantau("status", "-c", str(cfg), "--json").stdout)
    assert status["services"][0]["drp"]["last_drill_recorded"] is None


def test_manual_drill_that_misses_rto_exits_1(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen="127.0.0.1:1",
        services=kritis("svc", "http://127.0.0.1:1/", "2026-01-01"),
    )
    rec = pantau(
        "drill",
        "record",
        "-c",
        str(cfg),
        "svc",
        "--started",
        "2026-11-01T08:00:00+07:00",
        "--restored",
        "2026-11-01T13:00:00+07:00",
    )
    assert rec.returncode == 1  # 5 h restore > 4 h RTO
    assert "RTO TIDAK memenuhi" in rec.stdout
    bad = pantau(
        "drill", "record", "-c", str(cfg), "svc", "--started", "kemarin", "--restored", "x"
    )
    assert bad.returncode == 2
    assert "--started: not an ISO 8601 time" in bad.stderr


def test_scheduled_drills_fire_on_the_15th_at_0200_in_the_zone(tmp_path: Path) -> None:
    cfg_path = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen="127.0.0.1:1",
        services=kritis("q", "http://127.0.0.1:1/", "2026-01-01", "quarterly")
        + kritis("none", "http://127.0.0.1:1/", "2026-01-01"),
    )
    config = load_config(cfg_path)

    async def main() -> list[datetime]:
        clock = SystemClock()
        with Store.open(tmp_path / "data") as store:
            cron = Cron(MonthlyReporter(store, clock), clock, StoreWriter(store.path))
            try:
                assert sorted(cron.configure(config)) == ["drill-q", "monthly-report"]
                trigger = cron.scheduler.get_job("drill-q").trigger
            finally:
                cron.shutdown()
        start = datetime(2026, 11, 29, tzinfo=ZoneInfo("Asia/Jakarta"))
        first = trigger.get_next_fire_time(None, start)
        second = trigger.get_next_fire_time(first, first.replace(day=16))
        return [first, second]

    first, second = asyncio.run(main())
    assert first == datetime(2027, 1, 15, 2, 0, tzinfo=ZoneInfo("Asia/Jakarta"))
    assert second == datetime(2027, 4, 15, 2, 0, tzinfo=ZoneInfo("Asia/Jakarta"))
