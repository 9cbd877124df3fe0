"""Long hostile text never stalls the real agent's event loop (FAULTS 34).

Before: scrubbing ran before clipping and was quadratic, so a 60 KB pushed ``detail`` froze the
agent ~3 s per request and a site answering with one 100 KB status or header line froze it on
every round (a healthy service was probed 5 times instead of 13 in 40 s). The proof here is the
healthy service's own rounds: counted in the store for the whole attack, against the count its
1 s interval promises. The attack is bounded: 20 s, at most 40 pushes, loopback only.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.agentproc import (
    AgentProcess,
    Target,
    free_port,
    http_service,
    wait_for,
    write_config,
)
from tests.probes.servers import HttpApp, ThreadedTcpServer

pytestmark = pytest.mark.integration

ATTACK_SECONDS = 20.0
PUSH_EVERY = 0.5  # s: at most 40 pushes of 60 KB
SCRAPE_BOUND = 1.0  # s, the FAULTS bound for /metrics
#: Share of the promised rounds the healthy service must get. Quadratic scrubbing gave it 38 %
#: (5 of 13); a shared 2-core machine may delay a few rounds, it cannot lose a third of them.
MIN_ROUND_SHARE = 0.75


def _push(listen: str, body: bytes) -> tuple[int, float]:
    req = urllib.request.Request(
        f"http://{listen}/api/v1/backups/vault",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
            return resp.status, time.monotonic() - start
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, time.monotonic() - start


def _scrape(agent: AgentProcess) -> float:
    start = time.monotonic()
    agent.get("/metrics", timeout=5.0)
    return time.monotonic() - start


def test_60kb_pushes_and_100kb_header_lines_leave_other_probes_on_time(
    tmp_path: Path, target: Target
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    with ThreadedTcpServer(HttpApp()) as hostile:
        base = f"http://127.0.0.1:{hostile.port}"
        services = (
            http_service("healthy", target.url)
            + f"""\
  - id: hostile
    name: Situs 100 KB
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: esensial
    checks:
      - {{name: status-line, type: http, url: "{base}/long-first-line"}}
      - {{name: header-line, type: http, url: "{base}/long-header-line"}}
  - id: vault
    name: Layanan backup
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: esensial
    rpo: 24h
    checks:
      - {{type: http, url: "{target.url}"}}
    backups:
      - {{type: push}}
"""
        )
        cfg = write_config(
            tmp_path / "pantau.yaml", data_dir=data, listen=listen, services=services
        )
        agent = AgentProcess(cfg, listen)
        try:
            wait_for(
                lambda: agent.metric('pantau_service_up{service="healthy"}') == 1, 15, "healthy up"
            )
            wait_for(
                lambda: agent.metric('pantau_service_up{service="hostile"}') == 0,
                15,
                "hostile down",
            )
            secret_tail = " https://ops:hunter2@nas.example/dump.sql.gz"
            detail = "x " * 30_000 + secret_tail  # ~60 KB, the credential at the kept end
            pushes: list[tuple[int, float]] = []
            scrapes: list[float] = []
            t0_wall = time.time()
            t0 = time.monotonic()
            while (now := time.monotonic()) - t0 < ATTACK_SECONDS:
                status = "failure" if not pushes else "success"
                body = json.dumps({"status": status, "detail": detail}).encode()
                pushes.append(_push(listen, body))
                scrapes.append(_scrape(agent))
                time.sleep(max(0.0, PUSH_EVERY - (time.monotonic() - now)))
            t1_wall = time.time()
            assert agent.proc.poll() is None  # still up
            assert agent.metric('pantau_service_up{service="healthy"}') == 1
            lag = agent.metric("pantau_scheduler_lag_seconds")
        finally:
            code = agent.stop()
    assert code == 0

    # The healthy service's rounds during the attack, from the store, against the promise.
    conn = sqlite3.connect(data / "pantau.db")
    try:
        rounds = conn.execute(
            "SELECT outcome FROM rounds WHERE service = 'healthy' AND started_at BETWEEN ? AND ?",
            (int(t0_wall * 1000), int(t1_wall * 1000)),
        ).fetchall()
        healthy_downs = conn.execute(
            "SELECT count(*) FROM transitions WHERE service = 'healthy' AND state != 'up'"
        ).fetchone()[0]
        tickets = conn.execute(
            "SELECT count(*) FROM incidents WHERE service = 'healthy'"
        ).fetchone()
    finally:
        conn.close()
    promised = int((t1_wall - t0_wall) / 1.0)  # interval 1 s
    print(
        f"FAULTS 34: healthy rounds {len(rounds)} of {promised} promised; "
        f"{len(pushes)} pushes of {len(detail)} chars, slowest answer {max(p[1] for p in pushes):.3f} s; "
        f"{len(scrapes)} scrapes, slowest {max(scrapes):.3f} s; scheduler lag p99 {lag} s"
    )
    assert len(rounds) >= MIN_ROUND_SHARE * promised, (len(rounds), promised)
    assert all(outcome == "up" for (outcome,) in rounds)
    assert (healthy_downs, tickets[0]) == (0, 0)  # no false gangguan
    assert all(code == 202 for code, _ in pushes), pushes
    assert max(scrapes) < SCRAPE_BOUND
    log = agent.log()
    assert "hunter2" not in log
    # The failed push is logged with its clipped, scrubbed end.
    assert "https://ops:***@nas.example/dump.sql.gz" in log
