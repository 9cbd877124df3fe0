"""Wall-clock steps under libfaketime (FAULTS 20, 21): rounds keep their monotonic rhythm,
a backward step neither double counts nor yields negative durations, a forward step is a gap
of unknown time, never downtime."""

from __future__ import annotations

import glob
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import IN_CI, require_binary
from tests.integration.agentproc import (
    AgentProcess,
    Target,
    free_port,
    http_service,
    wait_for,
    write_config,
)


def libfaketime() -> str:
    require_binary("faketime")
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        message = "libfaketime.so.1 not found (Debian package faketime)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found[0]


def start(tmp_path: Path, target: Target) -> tuple[AgentProcess, Path]:
    lib = libfaketime()
    stamp = tmp_path / "faketime.rc"
    stamp.write_text("+0\n")
    listen = f"127.0.0.1:{free_port()}"
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=listen,
        services=http_service("portal", target.url),
    )
    env = {
        "LD_PRELOAD": lib,
        "FAKETIME_TIMESTAMP_FILE": str(stamp),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    return AgentProcess(cfg, listen, env=env), stamp


def rounds(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM rounds").fetchone()[0])


def test_backward_step_keeps_rhythm_without_negative_or_double_time(
    tmp_path: Path, target: Target
) -> None:
    agent, stamp = start(tmp_path, target)
    try:
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 10, "up")
        stamp.write_text("-60m\n")  # the wall clock goes back one hour
        wait_for(lambda: (agent.metric("pantau_clock_jumps_total") or 0) >= 1, 10, "jump counted")
        before = rounds(tmp_path / "data" / "pantau.db")
        # Rounds go on at their 1 s rhythm: within 6 s several more are stored.
        wait_for(lambda: rounds(tmp_path / "data" / "pantau.db") >= before + 3, 10, "more rounds")
        svc = agent.service("portal")
        assert svc["state"] == "up"
        assert svc["month_to_date"]["down_minutes"] == 0
    finally:
        assert agent.stop() == 0
    with sqlite3.connect(tmp_path / "data" / "pantau.db") as conn:
        times = [r[0] for r in conn.execute("SELECT at FROM transitions ORDER BY rowid")]
    assert times == sorted(times)  # transitions never go backwards


def test_forward_step_is_unknown_time_not_downtime(tmp_path: Path, target: Target) -> None:
    agent, stamp = start(tmp_path, target)
    try:
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 10, "up")
        stamp.write_text("+120m\n")  # the wall clock jumps two hours ahead
        wait_for(lambda: (agent.metric("pantau_clock_jumps_total") or 0) >= 1, 10, "jump counted")

        def gap_seen() -> bool:
            mtd = agent.service("portal")["month_to_date"]
            return bool(mtd["unknown_minutes"] > 100)

        wait_for(gap_seen, 10, "the jump shown as unknown time")
        # The first round after the jump resumes the state (between the jump and that round,
        # the last round looks stale: unknown, never down).
        wait_for(lambda: agent.service("portal")["state"] == "up", 10, "up after the jump")
        assert agent.service("portal")["month_to_date"]["down_minutes"] == 0
    finally:
        assert agent.stop() == 0
