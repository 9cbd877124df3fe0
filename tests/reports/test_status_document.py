"""The status document (``pantau status --json`` = ``/api/v1/status``) from a real store: backup
age vs RPO per source, the last drill vs RTO and its age, open gangguan vs their response
target, and the newest host sample. The table of the same document is checked beside it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.cli.status import exit_status, status_lines
from agent.config.katalog import all_settings
from agent.config.loader import parse_config
from agent.core.model import Episode, State
from agent.engine.incidents import IncidentSettings, sync_incidents
from agent.reports.status import status_document
from agent.runtime.incident_tracker import write_ticket
from agent.store.database import Store
from agent.store.records import BackupRecord, BackupState, DrillRecord
from tests.fakes import FakeClock

WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2024, 9, 10, 9, 0, tzinfo=WIB).astimezone(UTC)  # a Tuesday, in working hours
H = timedelta(hours=1)

KATALOG = """
agent: {name: srv-app-01, timezone: Asia/Jakarta}
hosts:
  - {id: local, filesystems: [/, /data], interfaces: [eth0], link_capacity_mbps: 100}
services:
  - id: sipd
    name: SIPD
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: kritis
    host: local
    checks: [{type: tcp, address: "127.0.0.1:1"}]
    rpo: 24h
    rto: 4h
    drp: {document: DRP-SIPD.pdf, last_drill: 2023-01-10}
    backups: [{type: push}, {name: dumps, type: files, path: /srv/backup/*.gz}]
  - id: lapor
    name: LAPOR
    provider: Diskominfo
    group: layanan_publik
    classification: kritis
    checks: [{type: tcp, address: "127.0.0.1:1"}]
    rpo: 12h
    rto: 4h
    drp: {document: DRP-LAPOR.pdf}
    backups: [{type: push}]
  - id: jdih
    name: JDIH
    provider: Diskominfo
    group: layanan_publik
    classification: esensial
    checks: [{type: tcp, address: "127.0.0.1:1"}]
    backups: [{type: push}]
  - id: ppid
    name: PPID
    provider: Diskominfo
    group: layanan_publik
    classification: normal
    availability_target: 98
    fulfilment_target: 72h
    checks: [{type: tcp, address: "127.0.0.1:1"}]
"""
CONFIG = parse_config(KATALOG)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path, clock=FakeClock(NOW))
    yield s
    s.close()


def open_tickets(store: Store, *episodes: tuple[str, State, datetime]) -> None:
    """Ongoing gangguan as the agent's tracker writes them."""
    settings = IncidentSettings("srv-app-01", WIB, all_settings(CONFIG))
    eps = [Episode(sid, state, start, None, ("timeout",)) for sid, state, start in episodes]
    for g in sync_incidents([], eps, settings, now=NOW):
        write_ticket(store, g)


@pytest.fixture
def doc(store: Store) -> dict[str, Any]:
    # sipd: the push source's persisted last success is 30 h old; the files source was never
    # looked at by an agent, so its newest good backup in the history counts (26 h; the failed
    # one an hour ago does not).
    store.drp.save_backup_state(BackupState("sipd", "push-0", NOW - 30 * H, "", NOW))
    store.drp.record_backup(BackupRecord("sipd", "dumps", NOW - 26 * H, "ok", "observed"))
    store.drp.record_backup(BackupRecord("sipd", "dumps", NOW - H, "failed", "observed"))
    # jdih: a backup but no RPO — an age, no verdict.
    store.drp.save_backup_state(BackupState("jdih", "push-0", NOW - 2 * H, "", NOW))
    # lapor: no backup known at all → tanpa data. Its drill restored in 5 h > RTO 4 h.
    drill_start = NOW - timedelta(days=10)
    store.drp.record_drill(
        DrillRecord("lapor", drill_start, drill_start + 5 * H, None, "manual", True, {})
    )
    # lapor (publik + kritis) down since 08:40 WIB: P1, 15 min target passed at 08:55 unacked.
    # sipd (admin + kritis) degraded since 08:55: Minor → P4, 90 min target not yet due.
    open_tickets(
        store,
        ("lapor", State.DOWN, NOW - timedelta(minutes=20)),
        ("sipd", State.DEGRADED, NOW - timedelta(minutes=5)),
    )
    store.hosts.add_sample(
        "local",
        NOW - timedelta(seconds=20),
        {"cpu": 0.25, "mem": 0.875, "fs:/": 0.5, "fs:/data": 1.0, "rx:eth0": 42.0, "tx:eth0": 7.5},
    )
    return status_document(store, CONFIG, NOW)


def by_id(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in doc["services"] if s["id"] == sid)


def test_backup_age_is_judged_against_the_rpo_per_service(doc: dict[str, Any]) -> None:
    # newest of (push 30 h, dumps 26 h) = 26 h > 24 h
    assert by_id(doc, "sipd")["backup"] == {
        "state": "breached",
        "newest_at": (NOW - 26 * H).isoformat(),
        "age_hours": 26.0,
        "rpo_hours": 24.0,
    }
    assert by_id(doc, "lapor")["backup"]["state"] == "unknown"  # never "fresh"
    assert by_id(doc, "lapor")["backup"]["age_hours"] is None
    jdih = by_id(doc, "jdih")["backup"]
    assert (jdih["state"], jdih["age_hours"]) == (None, 2.0)  # no RPO: nothing to breach
    assert by_id(doc, "ppid")["backup"] is None


def test_the_last_drill_is_judged_against_the_rto_and_its_age(doc: dict[str, Any]) -> None:
    sipd = by_id(doc, "sipd")["drp"]["last_drill"]
    # only the katalog's date (10 Jan 2023, 00:00 WIB): 609 days old > 365, outcome unknown
    assert sipd["at"] == datetime(2023, 1, 10, tzinfo=WIB).astimezone(UTC).isoformat()
    assert (sipd["overdue"], sipd["ok"], sipd["within_rto"]) == (True, None, None)
    assert sipd["age_days"] == pytest.approx(
        609.38, abs=0.01
    )  # 609 days (2024 is a leap year) + 9 h
    lapor = by_id(doc, "lapor")["drp"]["last_drill"]
    assert lapor["restore_minutes"] == 300.0
    assert (lapor["overdue"], lapor["ok"], lapor["within_rto"]) == (False, True, False)


def test_open_gangguan_carry_priority_age_and_response_verdict(doc: dict[str, Any]) -> None:
    (p1,) = by_id(doc, "lapor")["open_incidents"]
    assert p1["priority"] == 1
    assert p1["open_minutes"] == 20.0
    assert p1["response_target_minutes"] == 15.0
    assert p1["response_deadline"] == (NOW - timedelta(minutes=5)).isoformat()  # 08:55 WIB
    assert (p1["acked_at"], p1["response"]) == (None, "missed")
    (p4,) = by_id(doc, "sipd")["open_incidents"]
    assert (p4["priority"], p4["impact"], p4["response"]) == (4, "minor", "pending")


def test_the_host_block_is_the_newest_sample(doc: dict[str, Any]) -> None:
    (host,) = doc["hosts"]
    assert host["stale"] is False
    assert (host["cpu_ratio"], host["memory_ratio"]) == (0.25, 0.875)
    assert host["fullest_filesystem"] == {"mountpoint": "/data", "ratio": 1.0}
    assert host["network"] == [{"interface": "eth0", "receive_mbps": 42.0, "transmit_mbps": 7.5}]
    assert host["bandwidth_utilization_ratio"] == 0.42  # the busier direction / 100 Mbps


def test_a_host_never_or_long_ago_sampled_is_marked_stale(store: Store) -> None:
    (never,) = status_document(store, CONFIG, NOW)["hosts"]
    assert (never["sampled_at"], never["stale"], never["cpu_ratio"]) == (None, True, None)
    store.hosts.add_sample("local", NOW - 2 * H, {"cpu": 0.5})
    (old,) = status_document(store, CONFIG, NOW)["hosts"]
    assert (old["sampled_at"], old["stale"]) == ((NOW - 2 * H).isoformat(), True)  # > 3 × 30 s


def test_the_table_shows_what_the_document_says(doc: dict[str, Any]) -> None:
    text = "\n".join(status_lines(doc))
    assert "\x1b[" not in text  # no colour unless asked
    assert re.search(r"^sipd +2024-09-09 07:00 WIB +26\.0 jam +24 jam +terlampaui$", text, re.M)
    assert re.search(r"^lapor +– +– +12 jam +tanpa data$", text, re.M)
    assert re.search(
        r"^sipd +2023-01-10 00:00 WIB +– +4 jam +terlambat \(> 365 hari\)$", text, re.M
    )
    assert re.search(r"^lapor +.* +berhasil, pulih dalam 5 jam +4 jam +melebihi RTO$", text, re.M)
    assert re.search(r"G-2024-09-\d{4} +lapor +P1 +Mayor +2024-09-10 08:40 WIB +20 menit", text)
    assert re.search(r"15 menit +2024-09-10 08:55 WIB +terlambat, belum ditanggapi$", text, re.M)
    assert re.search(r"sipd +P4 +Minor .* +belum ditanggapi$", text, re.M)
    assert re.search(
        r"^local +25\.0% +87\.5% \(tinggi\) +/data 100\.0% \(penuh\) +42\.0 / 7\.5 Mbps, "
        r"42\.0% dari 100 Mbps +2024-09-10 08:59 WIB$",
        text,
        re.M,
    )
    assert exit_status(doc) == 1  # sipd's RPO is breached (no service is down)
