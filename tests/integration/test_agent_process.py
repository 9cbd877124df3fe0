"""The real agent process: outage detection, SIGHUP reload, SIGTERM, restart continuity."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from pathlib import Path

from tests.integration.agentproc import (
    AgentProcess,
    Target,
    free_port,
    http_service,
    wait_for,
    write_config,
)


def test_outage_is_detected_and_recovers_and_sigterm_exits_0(
    tmp_path: Path, target: Target
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=listen,
        services=http_service("portal", target.url),
    )
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 10, "portal up")
        target.status = 503
        wait_for(
            lambda: agent.metric('pantau_service_up{service="portal"}') == 0, 10, "portal down"
        )
        svc = agent.service("portal")
        assert svc["state"] == "down"
        assert agent.metric('pantau_probe_success{service="portal",check="web",type="http"}') == 0
        # The downtime counter counts from the first bad round and keeps growing while down.
        wait_for(
            lambda: (
                (agent.metric('pantau_service_downtime_seconds_total{service="portal"}') or 0) >= 2
            ),
            10,
            "downtime counted",
        )
        target.status = 200
        wait_for(
            lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 10, "portal up again"
        )
    finally:
        code = agent.stop()
    assert code == 0
    log = agent.log()
    assert "service portal is down since" in log
    assert "http_status:503" in log
    assert "pantau stopped" in log


def test_sighup_with_bad_config_keeps_running_and_good_config_swaps(
    tmp_path: Path, target: Target
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    cfg_path = tmp_path / "pantau.yaml"
    services = http_service("portal", target.url)
    write_config(cfg_path, data_dir=tmp_path / "data", listen=listen, services=services)
    agent = AgentProcess(cfg_path, listen)
    try:
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 10, "portal up")
        good = cfg_path.read_text()
        cfg_path.write_text(good.replace("classification: esensial", "classification: penting"))
        agent.signal(signal.SIGHUP)
        wait_for(
            lambda: agent.metric("pantau_config_last_reload_successful") == 0, 10, "reload failure"
        )
        assert "pantau.yaml:" in agent.log()  # the error names the file and line
        assert agent.metric('pantau_service_up{service="portal"}') == 1  # old config still runs

        cfg_path.write_text(
            good.replace("services:\n", "services:\n" + http_service("second", target.url))
        )
        agent.signal(signal.SIGHUP)
        wait_for(lambda: agent.metric("pantau_config_last_reload_successful") == 1, 10, "reload")
        wait_for(
            lambda: agent.metric('pantau_service_up{service="second"}') == 1, 10, "new service"
        )
        assert agent.service("portal")["state"] == "up"
    finally:
        assert agent.stop() == 0


def test_restart_during_outage_continues_the_episode(tmp_path: Path, target: Target) -> None:
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=data,
        listen=listen,
        services=http_service("portal", target.url),
    )
    target.status = 503
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(
            lambda: agent.metric('pantau_service_up{service="portal"}') == 0, 10, "portal down"
        )
    finally:
        assert agent.stop() == 0
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(
            lambda: agent.service("portal")["state"] == "down", 10, "portal down after restart"
        )
    finally:
        assert agent.stop() == 0
    with sqlite3.connect(data / "pantau.db") as db:
        states = [
            r[0]
            for r in db.execute(
                "SELECT state FROM transitions WHERE service='portal' ORDER BY at, rowid"
            )
        ]
    # One DOWN when the outage began, then at most an unknown gap and a resumed DOWN:
    # never a fresh DOWN that would open a second episode after an UP.
    assert states[0] == "down"
    assert "up" not in states


def test_agent_refuses_to_start_on_bad_config(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "pantau.yaml"
    cfg.write_text("agent: {name: x}\nservices:\n  - id: a\n    timout: 1s\n")
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert f"{cfg}:4:5 services[0].timout: unknown key" in proc.stderr


def test_stopped_agent_time_is_no_data_not_downtime(tmp_path: Path, target: Target) -> None:
    """FAULTS 22: SIGSTOP the agent for longer than stale_after: that time is unknown."""
    listen = f"127.0.0.1:{free_port()}"
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=listen,
        services=http_service("portal", target.url),
    )
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 10, "up")
        agent.signal(signal.SIGSTOP)
        time.sleep(6)  # stale_after = 2 x 1 s + 0.5 s = 2.5 s, so about 3.5 s become unknown
        agent.signal(signal.SIGCONT)
        wait_for(lambda: agent.service("portal")["state"] == "up", 10, "up after SIGCONT")

        def gap_recorded() -> bool:
            mtd = agent.service("portal")["month_to_date"]
            return bool(mtd["unknown_minutes"] >= 0.05)  # at least 3 s of the 3.5 s

        wait_for(gap_recorded, 10, "the stop recorded as no data")
        mtd = agent.service("portal")["month_to_date"]
        assert mtd["down_minutes"] == 0
        assert mtd["availability_pct"] == 100
        assert mtd["coverage_pct"] < 100
    finally:
        assert agent.stop() == 0


def test_isolated_agent_records_unknown_not_every_service_down(
    tmp_path: Path, target: Target
) -> None:
    """While the agent's own connectivity check fails, failing rounds are unknown, no ticket."""
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=data,
        listen=listen,
        services=http_service("portal", target.url),
        extra=f'  connectivity:\n    - {{type: tcp, address: "127.0.0.1:{free_port()}"}}\n',
    )
    target.status = 503
    agent = AgentProcess(cfg, listen)
    try:
        time.sleep(4)  # several 1 s rounds, all failing while the gateway check fails
        assert agent.service("portal")["state"] == "unknown"
        assert agent.metric('pantau_service_up{service="portal"}') is None
        assert "agent connectivity lost" in agent.log()
    finally:
        assert agent.stop() == 0
    with sqlite3.connect(data / "pantau.db") as db:
        tickets = db.execute("SELECT count(*) FROM incidents").fetchone()[0]
        down = db.execute("SELECT count(*) FROM transitions WHERE state = 'down'").fetchone()[0]
    db.close()
    assert (tickets, down) == (0, 0)


def test_a_damaged_store_at_start_is_counted_in_storage_corruptions(
    tmp_path: Path, target: Target
) -> None:
    """FAULTS 13: the damaged file is moved aside and ``pantau_storage_corruptions_total`` is 1."""
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    data.mkdir()
    (data / "pantau.db").write_bytes(b"this is not a database\n" * 100)
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=data,
        listen=listen,
        services=http_service("portal", target.url),
    )
    agent = AgentProcess(cfg, listen)
    try:
        assert agent.metric("pantau_storage_corruptions_total") == 1
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 10, "up")
    finally:
        assert agent.stop() == 0
    assert len(list(data.glob("pantau.db.corrupt-*"))) == 1
    agent = AgentProcess(cfg, listen)  # a sound store: nothing more to count
    try:
        assert agent.metric("pantau_storage_corruptions_total") == 0
    finally:
        assert agent.stop() == 0


def drilled(sid: str, url: str, schedule: str) -> str:
    """A kritis service whose restore drill is scheduled."""
    return http_service(sid, url, "kritis").replace(
        "drp: {document: DRP.pdf}", f"drp: {{document: DRP.pdf, drill: {{schedule: {schedule}}}}}"
    )


def calendar_jobs(log: str) -> list[list[str]]:
    """The job ids of each ``calendar jobs:`` line the agent logged, in order."""
    lines = [line for line in log.splitlines() if "calendar jobs:" in line]
    return [re.findall(r"(monthly-report|drill-\w+) at ", line) for line in lines]


def test_sighup_keeps_one_monthly_report_job_and_one_job_per_scheduled_drill(
    tmp_path: Path, target: Target
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    cfg_path = tmp_path / "pantau.yaml"
    one = drilled("sipd", target.url, "monthly")
    write_config(cfg_path, data_dir=tmp_path / "data", listen=listen, services=one)
    agent = AgentProcess(cfg_path, listen)

    def reload() -> list[str]:
        """SIGHUP, then the jobs the calendar holds afterwards."""
        before = len(calendar_jobs(agent.log()))
        agent.signal(signal.SIGHUP)
        wait_for(lambda: len(calendar_jobs(agent.log())) > before, 10, "the reload's calendar")
        return sorted(calendar_jobs(agent.log())[-1])

    try:
        wait_for(lambda: len(calendar_jobs(agent.log())) == 1, 10, "the calendar at start")
        assert sorted(calendar_jobs(agent.log())[0]) == ["drill-sipd", "monthly-report"]
        assert reload() == ["drill-sipd", "monthly-report"]  # the same file: still one each
        services = one + drilled("lapor", target.url, "quarterly")
        write_config(cfg_path, data_dir=tmp_path / "data", listen=listen, services=services)
        assert reload() == ["drill-lapor", "drill-sipd", "monthly-report"]
        assert reload() == ["drill-lapor", "drill-sipd", "monthly-report"]
        write_config(cfg_path, data_dir=tmp_path / "data", listen=listen, services=one)
        assert reload() == ["drill-sipd", "monthly-report"]  # a removed drill is gone
    finally:
        assert agent.stop() == 0
