"""Pushes and ``pantau backup mark`` against the real agent: a push speaks only for a push
source the katalog names (FAULTS 37, FAULTS 25 again), and out-of-range values are a 4xx or
exit 2 with nothing accepted then dropped (FAULTS 40).

Before: ``{"source": "dump"}`` made a failing ``files`` source look fresh (RPO "met"), 300
made-up names became 301 series and stored rows that survived a restart, ``"evil\\n"`` was a
label value; 50,000 brackets and dates at the calendar's edges were HTTP 500, ``size_bytes``
2^63 was answered 202 and then dropped by the writer, and the CLI ended in tracebacks.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.agentproc import AgentProcess, Target, free_port, wait_for, write_config

pytestmark = pytest.mark.integration

MADE_UP = 300


def _services(target: Target, dumps: Path) -> str:
    common = """\
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: esensial
    rpo: 1h
"""
    return f"""\
  - id: app
    name: Aplikasi
{common}    checks:
      - {{type: http, url: "{target.url}"}}
    backups:
      - {{type: push}}
      - {{name: dump, type: files, path: "{dumps}/*.sql.gz"}}
  - id: named
    name: Dua sumber push
{common}    checks:
      - {{type: http, url: "{target.url}"}}
    backups:
      - {{name: nightly, type: push}}
      - {{name: weekly, type: push}}
"""


def post(listen: str, service: str, body: bytes) -> tuple[int, str, float]:
    req = urllib.request.Request(
        f"http://{listen}/api/v1/backups/{service}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), time.monotonic() - start
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode(), time.monotonic() - start


def backup_series(agent: AgentProcess) -> list[str]:
    text = agent.get("/metrics").decode()
    return sorted(line.rsplit(" ", 1)[0] for line in text.splitlines() if "source=" in line)


def stored(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT service, source, status, origin, size_bytes FROM backups ORDER BY id"
        ).fetchall()
        states = conn.execute("SELECT service, source FROM backup_state ORDER BY 1, 2").fetchall()
    finally:
        conn.close()
    return rows, states


def cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args, "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_pushes_speak_only_for_named_push_sources_and_out_of_range_input_is_refused(
    tmp_path: Path, target: Target
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    dumps = tmp_path / "dumps"
    dumps.mkdir()  # empty: the files source fails (no_files) and must stay unknown
    cfg = write_config(
        tmp_path / "pantau.yaml", data_dir=data, listen=listen, services=_services(target, dumps)
    )
    db = data / "pantau.db"
    agent = AgentProcess(cfg, listen)
    try:
        dump_up = 'pantau_backup_source_up{service="app",source="dump"}'
        wait_for(lambda: agent.metric(dump_up) == 0, 15, "the files source checked and failing")
        series_before = backup_series(agent)

        # FAULTS 37/25: a push naming the files source cannot make it fresh.
        code, answer, _ = post(listen, "app", b'{"source": "dump"}')
        assert code == 422, answer
        assert "files source" in answer
        # 300 made-up names, then names that are no label value at all.
        times = []
        for i in range(MADE_UP):
            code, _, seconds = post(listen, "app", json.dumps({"source": f"made-up-{i}"}).encode())
            assert code == 422
            times.append(seconds)
        for bad in ("evil\n", "Bad Name", "x" * 65, ""):
            assert post(listen, "app", json.dumps({"source": bad}).encode())[0] == 422
        # A push without a name where every push source is named must name one.
        assert post(listen, "named", b"{}")[0] == 422

        # FAULTS 40: out of range, each a 4xx (HTTP 500 or a later drop before).
        out_of_range = [
            (b"[" * 50_000, 400),
            (b'{"finished_at": "0001-01-01T00:00:00+07:00"}', 422),
            (b'{"finished_at": "1969-12-31T23:59:59Z"}', 422),
            (b'{"finished_at": "9999-12-31T23:59:59-12:00"}', 422),
            (b'{"size_bytes": 9223372036854775808}', 422),
        ]
        for body, expected in out_of_range:
            code, answer, seconds = post(listen, "app", body)
            assert code == expected, (body[:40], code, answer)
            times.append(seconds)

        time.sleep(1.5)  # the writer commits within ~0.5 s: give anything wrong time to land
        assert stored(db) == ([], [("app", "dump")])  # nothing stored by a refused push
        assert backup_series(agent) == series_before  # no new series
        assert agent.metric(dump_up) == 0
        assert (
            agent.metric(
                'pantau_backup_last_success_timestamp_seconds{service="app",source="dump"}'
            )
            is None
        )
        assert agent.metric('pantau_backup_rpo_breached{service="app"}') is None  # unknown

        # What is accepted is kept: the largest size, the epoch, a named source.
        assert post(listen, "app", b'{"size_bytes": 9223372036854775807}')[0] == 202
        assert (
            post(listen, "named", b'{"source": "weekly", "finished_at": "1970-01-01T00:00:00Z"}')[0]
            == 202
        )
        wait_for(lambda: len(stored(db)[0]) == 2, 10, "both accepted pushes stored")
        assert agent.metric("pantau_storage_errors_total") == 0
        start = time.monotonic()
        agent.get("/metrics")
        scrape = time.monotonic() - start
    finally:
        assert agent.stop() == 0
    rows, _ = stored(db)
    assert rows == [
        ("app", "push-0", "ok", "push", 2**63 - 1),
        ("named", "weekly", "ok", "push", None),
    ]
    print(
        f"FAULTS 37/40: {MADE_UP} made-up names and {len(out_of_range)} out-of-range bodies "
        f"all 4xx, slowest answer {max(times):.3f} s; stored rows {len(rows)} (the 2 accepted); "
        f"series unchanged ({len(series_before)}); scrape {scrape:.3f} s"
    )

    # An older agent may have left rows of made-up names: they make no series after a restart.
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO backup_state (service, source, last_success_at, last_error, checked_at) "
            "VALUES ('app', 'made-up-0', 0, '', 0)"
        )
    conn.close()
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(lambda: agent.metric(dump_up) == 0, 15, "the files source checked again")
        after_restart = backup_series(agent)
        assert not any("made-up" in s for s in after_restart)
        assert (
            'pantau_backup_last_success_timestamp_seconds{service="app",source="push-0"}'
            in after_restart
        )
    finally:
        assert agent.stop() == 0

    # The command line: exit 2 with a clear message, never a traceback.
    for args, message in [
        (("backup", "mark", "app", "--at", "0001-01-01"), "is before 1970-01-01"),
        (("backup", "mark", "app", "--size", str(2**63)), "0<=x<=9223372036854775807"),
        (("backup", "mark", "app", "--source", "dump"), "is a files source"),
        (("report", "--period", "9999-12", "--out", str(tmp_path)), "out of range"),
        (("incidents", "--period", "9999-12"), "out of range"),
        (
            ("drill", "record", "app", "--started", "0001-01-01", "--restored", "0001-01-01T01:00"),
            "out of range",
        ),
    ]:
        run = cli(cfg, *args)
        assert (run.returncode, "Traceback" in run.stderr) == (2, False), (args, run.stderr)
        assert message in run.stderr, (args, run.stderr)
    assert stored(db)[0] == rows  # nothing recorded by a refused mark
