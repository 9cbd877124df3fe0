"""Gangguan tickets of the real agent across restarts, flapping, reloads and an upgrade.

FAULTS 31 (restarts by SIGTERM and kill -9, a 2 s gap and one longer than the staleness limit,
during and after an outage, with an acked ticket), FAULTS 23 (no second "down" line, RTO from
the original start), FAULTS 26 (a flapping target), a service removed by SIGHUP, and a store
written by an older version holding duplicate tickets. Each test also checks that the agent
stays up and answers ``/metrics`` within 1 s, and that no gangguan or downtime was invented.
Every wait is bounded; the targets are HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import json
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.config.katalog import all_settings
from agent.config.loader import load_config
from agent.core.model import Episode, State, event_time
from agent.engine.incidents import (
    Gangguan,
    IncidentSettings,
    ack,
    add_note,
    set_cause,
    sync_incidents,
)
from agent.runtime.incident_tracker import REMOVED_NOTE
from agent.store.records import dumps, to_ms
from agent.store.schema import MIGRATIONS, connect, migrate
from tests.integration.agentproc import (
    AgentProcess,
    Target,
    free_port,
    http_service,
    wait_for,
    write_config,
)

WIB = ZoneInfo("Asia/Jakarta")
#: 2 × interval (1 s) + timeout (0.5 s) in the test katalog: a longer gap is no data.
STALE_AFTER = 2.5
LONG_GAP = 6.0
SHORT_GAP = 2.0
OPENED = re.compile(r"gangguan G-\S+ opened")


def pantau(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=60
    )


def tickets(db: Path) -> list[Gangguan]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT blob FROM incidents ORDER BY start_at, id").fetchall()
    finally:
        conn.close()
    return [Gangguan.from_json(json.loads(r[0])) for r in rows]


def scrape_seconds(agent: AgentProcess) -> float:
    """How long one scrape of /metrics took (the agent must answer within 1 s)."""
    t0 = time.monotonic()
    agent.get("/metrics", timeout=1.0)
    return time.monotonic() - t0


def assert_alive(agent: AgentProcess, scrapes: list[float]) -> None:
    assert agent.proc.poll() is None, agent.log()
    took = scrape_seconds(agent)
    scrapes.append(took)
    assert took < 1.0


def up_is(agent: AgentProcess, value: int) -> Callable[[], bool]:
    return lambda: agent.metric('pantau_service_up{service="portal"}') == value


def month() -> str:
    return datetime.now(UTC).astimezone(WIB).strftime("%Y-%m")


def mtd(cfg: Path) -> dict[str, Any]:
    out = pantau("status", "-c", str(cfg), "--json")
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout)["services"][0]["month_to_date"])


class Stopper:
    """Stops an agent the way the parameter says: SIGTERM (clean) or kill -9."""

    def __init__(self, how: str) -> None:
        self.how = how

    def __call__(self, agent: AgentProcess) -> None:
        if self.how == "sigterm":
            assert agent.stop() == 0
        else:
            agent.kill()
            assert agent.proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_faults_31_restarts_during_and_after_an_outage_keep_one_acked_ticket(
    tmp_path: Path, target: Target, how: str
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    db = data / "pantau.db"
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=data,
        listen=listen,
        services=http_service("portal", target.url, classification="kritis"),
    )
    stop = Stopper(how)
    scrapes: list[float] = []
    rto: list[str] = []  # outage metric / seconds since the original start, per restart
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 10, "up")
        target.status = 503
        wait_for(lambda: len(tickets(db)) == 1, 15, "a ticket in the store")
        (g,) = tickets(db)
        acked = pantau("incident", "ack", "-c", str(cfg), g.id, "sedang ditangani")
        assert acked.returncode == 0, acked.stderr
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 0, 10, "down")

        # During the outage: a 2 s gap, then one longer than 2 × interval + timeout.
        for gap in (SHORT_GAP, LONG_GAP):
            stop(agent)
            time.sleep(gap)
            agent = AgentProcess(cfg, listen)
            wait_for(up_is(agent, 0), 10, "down")
            time.sleep(2.0)  # a few rounds of the resumed outage
            assert [(t.id, t.start, t.end) for t in tickets(db)] == [(g.id, g.start, None)]
            assert tickets(db)[0].ack_at is not None
            assert agent.metric('pantau_incidents_open{service="portal",priority="P2"}') == 1
            # FAULTS 23: no second "down" line or ticket; the outage runs from the first start.
            log = agent.log()
            assert not OPENED.search(log), log
            assert "is down since" not in log, log
            outage = agent.metric('pantau_service_outage_duration_seconds{service="portal"}')
            since_start = (datetime.now(UTC) - g.start).total_seconds()
            assert outage is not None
            assert outage >= since_start - 1.5
            rto.append(f"{outage:.1f}/{since_start:.1f}")
            assert_alive(agent, scrapes)

        target.status = 200
        wait_for(lambda: tickets(db)[0].end is not None, 15, "the ticket resolved")
        wait_for(
            lambda: agent.metric('pantau_incidents_open{service="portal",priority="P2"}') == 0,
            5,
            "pantau_incidents_open back to 0",
        )
        # After the outage: the same two gaps.
        for gap in (SHORT_GAP, LONG_GAP):
            stop(agent)
            time.sleep(gap)
            agent = AgentProcess(cfg, listen)
            wait_for(up_is(agent, 1), 10, "up")
            time.sleep(1.5)
            assert agent.metric('pantau_incidents_open{service="portal",priority="P2"}') == 0
            assert not OPENED.search(agent.log())
            assert_alive(agent, scrapes)
        (done,) = tickets(db)
    finally:
        if agent.proc.poll() is None:
            assert agent.stop() == 0
    assert (done.id, done.start, done.status.value) == (g.id, g.start, "Selesai")
    assert done.ack_at is not None
    assert done.notes[0].text == "sedang ditangani"
    assert done.end is not None

    listing = pantau("incidents", "-c", str(cfg), "--period", month())
    assert listing.returncode == 0, listing.stderr
    assert re.findall(r"G-\d{4}-\d{2}-\d{4}", listing.stdout) == [g.id]
    # No invented downtime: the gaps are no data, the down time fits inside the one outage.
    acc = mtd(cfg)
    assert 0 < acc["down_minutes"] * 60 <= (done.end - done.start).total_seconds() + 0.01
    assert acc["unknown_minutes"] > 0
    print(
        f"[FAULTS 31 {how}] 1 ticket {g.id}, ack kept, status {done.status.value}, "
        f"outage {(done.end - done.start).total_seconds():.1f} s, down "
        f"{acc['down_minutes'] * 60:.1f} s, no data {acc['unknown_minutes'] * 60:.1f} s, "
        f"outage metric/since start after each restart {rto}, scrape max {max(scrapes):.3f} s"
    )


class Bouncing:
    """An HTTP target answering a fixed sequence of statuses, one per request, then 200."""

    def __init__(self) -> None:
        self.plan: list[int] = []
        self.lock = threading.Lock()
        bouncing = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with bouncing.lock:
                    status = bouncing.plan.pop(0) if bouncing.plan else 200
                body = b"ok\n"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def answer(self, *statuses: int) -> None:
        with self.lock:
            self.plan = list(statuses)

    def pending(self) -> int:
        with self.lock:
            return len(self.plan)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bouncing() -> Iterator[Bouncing]:
    b = Bouncing()
    yield b
    b.close()


def flapping_config(path: Path, data: Path, listen: str, url: str) -> Path:
    path.write_text(
        f"""\
agent: {{name: test-agent, data_dir: {data}, listen: "{listen}"}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 2, recovery_threshold: 1,
           flap_threshold: 4, flap_window: 20s}}
services:
{http_service("portal", url)}""",
        encoding="utf-8",
    )
    return path


def test_faults_26_a_flapping_target_is_one_ticket_and_the_flap_state_holds_while_up(
    tmp_path: Path, bouncing: Bouncing
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    db = data / "pantau.db"
    cfg = flapping_config(tmp_path / "pantau.yaml", data, listen, bouncing.url)
    scrapes: list[float] = []
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 10, "up")
        # Single bad rounds, each under failure_threshold: rounds, not downtime, no ticket.
        bouncing.answer(*[503, 200, 200] * 4)
        wait_for(lambda: bouncing.pending() == 0, 30, "the single bad rounds")
        time.sleep(1.5)
        assert tickets(db) == []
        assert mtd(cfg)["down_minutes"] == 0
        conn = sqlite3.connect(db)
        try:
            bad_rounds = conn.execute(
                "SELECT count(*) FROM rounds WHERE service = 'portal' AND outcome = 'down'"
            ).fetchone()[0]
        finally:
            conn.close()
        assert bad_rounds >= 3  # kept as rounds

        # Bounded flapping: 8 cycles of 2 bad rounds (a confirmed down) and 2 good ones.
        cycles = 8
        bouncing.answer(*[503, 503, 200, 200] * cycles)
        seen_flapping_while_up = False
        most_tickets = 0
        deadline = time.monotonic() + cycles * 4 * 2.5
        while bouncing.pending() and time.monotonic() < deadline:
            text = agent.get("/metrics", timeout=1.0).decode()
            up = 'pantau_service_up{service="portal"} 1' in text
            flapping = 'pantau_service_flapping{service="portal"} 1' in text
            seen_flapping_while_up |= up and flapping
            most_tickets = max(most_tickets, len(tickets(db)))
            assert_alive(agent, scrapes)
            time.sleep(0.3)
        assert bouncing.pending() == 0, "the flapping plan did not finish in time"
        wait_for(lambda: all(t.end is not None for t in tickets(db)), 10, "the ticket resolved")
        (g,) = tickets(db)
        assert seen_flapping_while_up  # the flap state holds across momentary ups
        assert most_tickets <= 2  # the second bounce's ticket lives until it is merged
        assert g.flapping
        assert g.status.value == "Selesai"
        opened = OPENED.findall(agent.log())
        assert len(opened) <= 2
        assert agent.metric('pantau_incidents_open{service="portal",priority="P3"}') == 0
        # Availability follows the confirmed state: the up spells inside the flapping period
        # are up (down rounds are half of each cycle).
        acc = mtd(cfg)
        span = (g.end - g.start).total_seconds() if g.end else 0.0
        down = acc["down_minutes"] * 60
        assert 0 < down < 0.75 * span
        # The flap state ends once the bounces leave the 20 s window.
        calm_from = time.monotonic()
        wait_for(
            lambda: agent.metric('pantau_service_flapping{service="portal"}') == 0,
            30,
            "pantau_service_flapping back to 0",
        )
        calm_after = time.monotonic() - calm_from
        assert agent.metric('pantau_service_up{service="portal"}') == 1
        assert_alive(agent, scrapes)
    finally:
        assert agent.stop() == 0
    print(
        f"[FAULTS 26] {cycles} bounces → 1 ticket {g.id} (flapping, {len(opened)} 'opened' "
        f"lines, at most {most_tickets} tickets stored at once, merged {list(g.merged_ids)}); "
        f"flapping=1 seen while up; span {span:.1f} s, down {down:.1f} s; "
        f"single bad rounds: {bad_rounds} down rounds, 0 down minutes; flapping 0 again "
        f"{calm_after:.1f} s after recovery; scrape max {max(scrapes):.3f} s"
    )


def test_a_service_removed_by_sighup_ends_its_open_ticket_with_a_note(
    tmp_path: Path, target: Target
) -> None:
    steady = Target()
    try:
        ended = removed_by_sighup(tmp_path, target, steady)
    finally:
        steady.close()
    print(f"[SIGHUP removal] {ended.id} ended at the reload, Ditutup, note {REMOVED_NOTE!r}")


def removed_by_sighup(tmp_path: Path, target: Target, steady: Target) -> Gangguan:
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    db = data / "pantau.db"
    both = http_service("portal", target.url) + http_service("lapor", steady.url)
    cfg = write_config(tmp_path / "pantau.yaml", data_dir=data, listen=listen, services=both)
    scrapes: list[float] = []
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(up_is(agent, 1), 10, "up")
        target.status = 503
        wait_for(lambda: len(tickets(db)) == 1, 15, "a ticket")
        assert agent.metric('pantau_incidents_open{service="portal",priority="P3"}') == 1
        write_config(cfg, data_dir=data, listen=listen, services=http_service("lapor", steady.url))
        reloaded_at = datetime.now(UTC)
        agent.signal(signal.SIGHUP)
        wait_for(lambda: tickets(db)[0].end is not None, 10, "the removed service's ticket ended")
        (g,) = tickets(db)
        assert g.status.value == "Ditutup"
        assert [n.text for n in g.notes] == [REMOVED_NOTE]
        assert g.end is not None
        assert abs((g.end - reloaded_at).total_seconds()) < 5
        assert agent.metric("pantau_config_last_reload_successful") == 1
        assert agent.metric('pantau_incidents_open{service="portal"') is None
        assert agent.metric('pantau_service_up{service="lapor"}') == 1
        assert_alive(agent, scrapes)
    finally:
        assert agent.stop() == 0
    # A restart keeps it ended; nothing new is opened for the removed service.
    agent = AgentProcess(cfg, listen)
    try:
        time.sleep(2.0)
        assert [(t.id, t.end) for t in tickets(db)] == [(g.id, g.end)]
        assert_alive(agent, scrapes)
    finally:
        assert agent.stop() == 0
    return g


def test_an_older_store_with_duplicate_tickets_is_repaired_by_the_new_agent(
    tmp_path: Path, target: Target
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    db = data / "pantau.db"
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=data,
        listen=listen,
        services=http_service("portal", target.url, classification="kritis"),
    )
    # What version 5 left behind: an outage still going on, its first ticket (start in
    # microseconds, acked, noted) stuck open, and the duplicate opened after a restart (start
    # in milliseconds, with a cause and a note).
    now = datetime.now(UTC)
    start = (now - timedelta(minutes=5)).replace(microsecond=934_244)
    settings = IncidentSettings("test-agent", WIB, all_settings(load_config(cfg)))
    episode = Episode("portal", State.DOWN, start, None, ("web:http_status:503",))
    (first,) = sync_incidents([], [episode], settings, now=start + timedelta(seconds=3))
    first = add_note(
        ack(first, start + timedelta(minutes=1), "budi"),
        start + timedelta(minutes=1),
        "cek",
        "budi",
    )
    (dup,) = sync_incidents(
        [], [replace(episode, start=event_time(start))], settings, now=start + timedelta(minutes=2)
    )
    dup = replace(dup, id=first.id[:-4] + "0002")
    dup = set_cause(
        add_note(dup, start + timedelta(minutes=3), "disk?", "ani"),
        start + timedelta(minutes=3),
        "disk penuh",
        "ani",
    )
    data.mkdir()
    conn = connect(db, busy_timeout=1.0)
    migrate(conn, MIGRATIONS[:5])
    with conn:
        conn.execute(
            "INSERT INTO transitions (service, at, state, reason) VALUES (?, ?, 'up', '')",
            ("portal", to_ms(start - timedelta(minutes=10))),
        )
        conn.execute(
            "INSERT INTO transitions (service, at, state, reason) VALUES (?, ?, 'down', ?)",
            ("portal", to_ms(start), "web:http_status:503"),
        )
        for g in (first, dup):
            conn.execute(
                """INSERT INTO incidents (id, service, start_at, end_at, impact, status, blob,
                   updated_at) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)""",
                (
                    g.id,
                    "portal",
                    to_ms(start),
                    g.impact.value,
                    g.status.value,
                    dumps(g.to_json()),
                    to_ms(g.reported_at),
                ),
            )
    conn.close()

    target.status = 503
    scrapes: list[float] = []
    agent = AgentProcess(cfg, listen)
    try:
        (g,) = tickets(db)
        assert (g.id, g.start, g.end) == (first.id, event_time(start), None)
        assert (g.ack_by, g.cause, [n.text for n in g.notes]) == (
            "budi",
            "disk penuh",
            ["cek", "disk?"],
        )
        assert g.merged_ids == (dup.id,)
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 0, 10, "down")
        assert agent.metric('pantau_incidents_open{service="portal",priority="P2"}') == 1
        target.status = 200
        wait_for(lambda: tickets(db)[0].end is not None, 15, "the one ticket resolved")
        wait_for(
            lambda: agent.metric('pantau_incidents_open{service="portal",priority="P2"}') == 0,
            5,
            "pantau_incidents_open back to 0",
        )
        (done,) = tickets(db)
        assert (done.id, done.start, done.status.value, done.cause) == (
            first.id,
            event_time(start),
            "Selesai",
            "disk penuh",
        )
        assert not OPENED.search(agent.log())
        assert_alive(agent, scrapes)
    finally:
        assert agent.stop() == 0
    # The merged id is followed by the operator commands.
    noted = pantau("incident", "note", "-c", str(cfg), dup.id, "dicatat pada tiket ganda")
    assert noted.returncode == 0, noted.stderr
    assert f"{dup.id} was merged into {first.id}" in noted.stderr
    assert tickets(db)[0].notes[-1].text == "dicatat pada tiket ganda"
    print(f"[upgrade] {first.id} + {dup.id} → {first.id}: ack, cause, both notes; resolved")
