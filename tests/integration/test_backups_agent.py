"""Backups through the real agent: push endpoint, `backup mark`, files source, RPO after a
restart (FAULTS 24), bad bodies rejected with nothing stored (FAULTS 25 side)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.agentproc import AgentProcess, Target, free_port, wait_for, write_config


def service(sid: str, url: str, backups: str, rpo: str = "24h") -> str:
    return f"""\
  - id: {sid}
    name: Layanan {sid}
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: esensial
    rpo: {rpo}
    checks:
      - {{type: http, url: "{url}"}}
    backups:
{backups}"""


def post(listen: str, path: str, body: bytes) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(
        f"http://{listen}{path}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def backup_rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(
            conn.execute("SELECT service, source, status, origin FROM backups ORDER BY finished_at")
        )
    finally:
        conn.close()


def test_push_mark_files_and_rpo_after_restart(tmp_path: Path) -> None:
    target = Target()
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    dump = dumps / "db-1.sql.gz"
    dump.write_bytes(b"x" * 100)
    old = time.time() - 3 * 3600  # written 3 hours ago (not still growing)
    os.utime(dump, (old, old))
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    services = service("app", target.url, "      - {type: push}\n") + service(
        "files",
        target.url,
        f'      - {{name: dumps, type: files, path: "{dumps}/*.sql.gz"}}\n',
        rpo="1h",
    )
    cfg = write_config(tmp_path / "pantau.yaml", data_dir=data, listen=listen, services=services)
    agent = AgentProcess(cfg, listen)
    try:
        # A files source whose newest dump is 3 h old breaches a 1 h RPO.
        wait_for(
            lambda: agent.metric('pantau_backup_rpo_breached{service="files"}') == 1,
            15,
            "files RPO",
        )
        age = agent.metric('pantau_backup_age_seconds{service="files"}')
        assert age is not None
        assert abs(age - 3 * 3600) < 120

        finished = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
        code, body = post(
            listen,
            "/api/v1/backups/app",
            json.dumps({"finished_at": finished, "size_bytes": 1234}).encode(),
        )
        assert code == 202, body
        wait_for(
            lambda: (
                agent.metric(
                    'pantau_backup_last_success_timestamp_seconds{service="app",source="push-0"}'
                )
                is not None
            ),
            5,
            "push metric",
        )
        assert agent.metric('pantau_backup_rpo_breached{service="app"}') == 0

        time.sleep(1.0)  # the writer commits within ~0.5 s
        stored = backup_rows(data / "pantau.db")
        assert ("app", "push-0", "ok", "push") in stored
        bad_cases = [
            ("/api/v1/backups/nope", b"{}", 404),
            ("/api/v1/backups/app", b"not json", 400),
            ("/api/v1/backups/app", b'{"finished_at": "2999-01-01T00:00:00+00:00"}', 422),
            ("/api/v1/backups/app", b'{"size_bytes": -1}', 422),
            ("/api/v1/backups/app", b'{"finishedAt": "2024-01-01T00:00:00+00:00"}', 400),
            ("/api/v1/backups/files", b"{}", 404),  # no push source there
        ]
        for path, payload, expected in bad_cases:
            got, answer = post(listen, path, payload)
            assert got == expected, (path, payload, got, answer)
            assert "error" in answer
        time.sleep(1.0)  # let the writer commit anything it (wrongly) would have
        assert backup_rows(data / "pantau.db") == stored  # nothing stored by bad pushes

        # `pantau backup mark` writes to the store; the agent picks it up within seconds.
        at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        mark = subprocess.run(
            [sys.executable, "-m", "agent", "backup", "mark", "-c", str(cfg), "app", "--at", at],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert mark.returncode == 0, mark.stderr
        wait_for(
            lambda: (agent.metric('pantau_backup_age_seconds{service="app"}') or 1e9) < 1200,
            15,
            "mark picked up",
        )
    finally:
        assert agent.stop() == 0

    # Restart with the last backup now older than the RPO: breached at once (FAULTS 24).
    cfg.write_text(cfg.read_text().replace("rpo: 24h", "rpo: 1m"))
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(
            lambda: agent.metric('pantau_backup_rpo_breached{service="app"}') == 1,
            5,
            "RPO right after restart",
        )
    finally:
        assert agent.stop() == 0
        target.close()


def test_backup_mark_rejects_unknown_service_and_future_time(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen="127.0.0.1:1",
        services=service("app", "http://127.0.0.1:1/", "      - {type: push}\n"),
    )

    def mark(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent", "backup", "mark", "-c", str(cfg), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    unknown = mark("nope")
    assert unknown.returncode == 2
    assert "unknown service 'nope'" in unknown.stderr
    future = mark("app", "--at", "2999-01-01T00:00:00+07:00")
    assert future.returncode == 2
    assert "future" in future.stderr
