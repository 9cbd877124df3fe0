"""Wall-clock steps under libfaketime (FAULTS 20, 21): rounds keep their monotonic rhythm,
a backward step neither double counts nor yields negative durations, a forward step is a gap
of unknown time, never downtime."""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

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


def faked(stamp: Path) -> dict[str, str]:
    """The environment of a process whose wall clock is offset by the text of ``stamp``."""
    return {
        "LD_PRELOAD": libfaketime(),
        "FAKETIME_TIMESTAMP_FILE": str(stamp),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def start(tmp_path: Path, target: Target) -> tuple[AgentProcess, Path]:
    stamp = tmp_path / "faketime.rc"
    stamp.write_text("+0\n")
    listen = f"127.0.0.1:{free_port()}"
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=listen,
        services=http_service("portal", target.url),
    )
    return AgentProcess(cfg, listen, env=faked(stamp)), stamp


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


def round_times(db: Path) -> list[int]:
    """Every stored round's start (epoch ms), in the order they were written."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [int(r[0]) for r in conn.execute("SELECT started_at FROM rounds ORDER BY id")]


def first_seen(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT first_round_at FROM service_meta").fetchone()[0])


def pantau(stamp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A ``pantau`` command on the same (stepped) wall clock as the agent's machine."""
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        env={**os.environ, **faked(stamp)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def scrape_seconds(agent: AgentProcess) -> float:
    t0 = time.monotonic()
    assert b"pantau_agent_info" in agent.get("/metrics", timeout=1.0)
    return time.monotonic() - t0


def test_backward_step_moves_no_round_nor_first_seen_back_and_invents_no_data(
    tmp_path: Path, target: Target
) -> None:
    """FAULTS 39. The agent's wall clock goes back 1 h; rounds hold the newest time until
    the clock has caught up (emulated by stepping it to just after the held time: nobody
    waits an hour), then go on. Status and the month's report (read on that same clock)
    show no tanpa-data: before the fix, *dipantau sejak* moved back 1 h, and that hour
    (about 60 minutes) was reported as no data."""
    agent, stamp = start(tmp_path, target)
    db = tmp_path / "data" / "pantau.db"
    scrapes: list[float] = []
    try:
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 10, "up")
        wait_for(lambda: len(round_times(db)) >= 3, 10, "three rounds")
        first = first_seen(db)
        since = agent.service("portal")["month_to_date"]["monitored_since"]

        stamp.write_text("-60m\n")  # the wall clock goes back one hour
        wait_for(lambda: (agent.metric("pantau_clock_jumps_total") or 0) >= 1, 10, "jump counted")
        n = len(round_times(db))
        wait_for(lambda: len(round_times(db)) >= n + 3, 10, "rounds after the step")
        held = max(round_times(db))
        scrapes.append(scrape_seconds(agent))
        mtd = agent.service("portal")["month_to_date"]
        assert (mtd["monitored_since"], mtd["unknown_minutes"]) == (since, 0)
        cli = pantau(stamp, "status", "-c", str(agent.config), "--json")
        assert cli.returncode == 0, cli.stderr
        cli_mtd = json.loads(cli.stdout)["services"][0]["month_to_date"]
        assert (cli_mtd["monitored_since"], cli_mtd["unknown_minutes"]) == (since, 0)

        # The wall clock catches up: it lands half a second after the held round time.
        lag = time.time() - held / 1000  # the clock was real (+0) before the step
        stamp.write_text(f"-{lag - 0.5:.3f}\n")
        wait_for(
            lambda: sum(t > held for t in round_times(db)) >= 5, 15, "rounds after the catch-up"
        )
        scrapes.append(scrape_seconds(agent))
        svc = agent.service("portal")
        assert svc["state"] == "up"
        mtd = svc["month_to_date"]
        cli = pantau(stamp, "status", "-c", str(agent.config), "--json")
        assert cli.returncode == 0, cli.stderr
        doc = json.loads(cli.stdout)
        cli_mtd = doc["services"][0]["month_to_date"]
        period = datetime.fromisoformat(doc["generated_at"])
        period = period.astimezone(ZoneInfo(doc["timezone"]))
        out = tmp_path / "out"
        report = pantau(
            stamp,
            "report",
            "-c",
            str(agent.config),
            "--period",
            period.strftime("%Y-%m"),
            "--format",
            "csv",
            "--out",
            str(out),
        )
        assert report.returncode == 0, report.stderr
        (csv_path,) = out.glob("*.csv")
        with csv_path.open(encoding="utf-8") as f:
            (row,) = csv.DictReader(f)
        scrapes.append(scrape_seconds(agent))
    finally:
        assert agent.stop() == 0
    times = round_times(db)
    print(
        f"observed: {len(times)} rounds, {sum(t == held for t in times)} held at the newest "
        f"time, first seen moved {first_seen(db) - first} ms; unknown min agent "
        f"{mtd['unknown_minutes']} cli {cli_mtd['unknown_minutes']} report "
        f"{row['tanpa_data_menit']}; coverage {row['cakupan_data_pct']}; "
        f"scrape max {max(scrapes):.3f} s"
    )
    assert times == sorted(times)  # no round stamped before an earlier one
    assert first_seen(db) == first  # dipantau sejak did not move
    # Nothing invented: a late round on a busy machine may leave a few seconds unknown,
    # never the hour the step used to add.
    assert mtd["monitored_since"] == cli_mtd["monitored_since"] == since
    assert mtd["unknown_minutes"] < 0.1
    assert cli_mtd["unknown_minutes"] < 0.1
    assert float(row["tanpa_data_menit"]) < 0.1
    assert (mtd["down_minutes"], row["downtime_menit"], row["jumlah_gangguan"]) == (0, "0.00", "0")
    assert max(scrapes) < 1.0
