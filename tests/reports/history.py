"""A month of synthetic but realistic history, written through the real store API.

September 2024 in Asia/Jakarta (WIB = UTC+7) for four services of one agent, ``srv-app-01``.
Every round comes from :func:`agent.engine.rounds.judge` over per-check probe results at a 60 s
interval, is fed to the real :class:`~agent.engine.statemachine.StateMachine` and stored with
``Store.append_rounds``; the transitions it emits are stored as they come, and every batch of
them goes through :func:`agent.engine.episodes.episodes_from_transitions` and
:func:`agent.engine.incidents.sync_incidents` into :func:`agent.runtime.incident_tracker.write_ticket` — the
path the running agent takes. Operator work (ack, cause, reclassification) is the
read-modify-write ``pantau incident`` does, at the moment written in :data:`SCRIPT`.

The timeline (all WIB; a span is [first bad round, first good round)):

=========  =====================================================================================
service    what happens
=========  =====================================================================================
sipd       Mayor 3 Sep 10:00–10:45 (45 min; ack 10:08, cause set), Minor 10 Sep 14:00–14:30,
           Mayor 14 Sep 21:40–22:10 overlapping the configured maintenance 22:00–02:00 (cause
           set), daily push backups at 02:00: 17 and 18 Sep failed (a 72 h gap > RPO 24 h),
           20 Sep lost (the agent was stopped), a manual restore drill 21 Sep 06:00–08:30
lapor      a single bad round 7 Sep 03:15 (below the failure threshold: no gangguan), Mayor
           25 Sep 08:00–12:30 across an agent restart, backups every 6 h, a failed automated
           drill 28 Sep 03:00
jdih       Mayor 31 Aug 23:50–1 Sep 00:20 (across the month boundary), a "Mayor" 5 Sep
           09:00–10:30 the operator reclassified as a false positive, Mayor 12 Sep 13:00–13:05
ppid       monitored from 16 Sep 09:00 only ("dipantau sejak"), Minor 23 Sep 10:00–11:00
(agent)    stopped 20 Sep: last round 01:00, next 03:00; restarted 25 Sep: last round 09:00,
           next 09:05 (machine states persisted and reloaded, tickets reloaded from the store)
app01      host of sipd and lapor, sampled every 5 min (none while the agent is stopped): CPU,
           memory and eth0 rx ramp through each day, ``/`` grows 0.5 GiB a day from 60 GiB
=========  =====================================================================================

History runs from 25 Aug 00:00 to 1 Oct 01:00 WIB (exclusive), so August has data for the
trend and the state at the start of September is known.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent.config.katalog import ServiceSettings, all_settings, check_name
from agent.config.loader import load_config
from agent.config.models import Config
from agent.core.model import FLAP_WINDOW, Outcome, Round, Transition
from agent.engine.episodes import episodes_from_transitions
from agent.engine.incidents import (
    Gangguan,
    IncidentSettings,
    ack,
    reclassify,
    set_cause,
    sync_incidents,
)
from agent.engine.rounds import judge
from agent.engine.statemachine import MachineState, StateMachine
from agent.runtime.incident_tracker import write_ticket
from agent.store.database import Store
from agent.store.records import BackupRecord, DrillRecord, FsUsage
from probes.base import ProbeResult
from tests.fakes import FakeClock

WIB = ZoneInfo("Asia/Jakarta")
MINUTE = timedelta(minutes=1)
GIB = 1024**3


def wib(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A 2024 wall-clock time in WIB as an aware UTC datetime."""
    return datetime(2024, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


HISTORY_START = wib(8, 25)
HISTORY_END = wib(10, 1, 1, 0)  # exclusive: the last round is 1 Oct 00:59 WIB
MONTH_START, MONTH_END = wib(9, 1), wib(10, 1)
#: Agent-wide gaps: (last round before, first round after).
AGENT_STOP = (wib(9, 20, 1, 0), wib(9, 20, 3, 0))
AGENT_RESTART = (wib(9, 25, 9, 0), wib(9, 25, 9, 5))
PPID_FROM = wib(9, 16, 9, 0)

CONFIG_YAML = """\
agent:
  name: srv-app-01
  timezone: Asia/Jakarta
  data_dir: {data_dir}
  listen: 127.0.0.1:9717
  report: {report}
defaults: {{interval: 60s, timeout: 10s, failure_threshold: 2, recovery_threshold: 1}}
availability_targets: {{kritis: 99.5, esensial: 99.0, normal: 98.0}}
fulfilment_targets: {{layanan_publik: {{normal: 96h}}}}
hosts:
  - {{id: app01, filesystems: [/], interfaces: [eth0], link_capacity_mbps: 100}}
services:
  - id: sipd
    name: Sistem Informasi Pemerintahan Daerah
    provider: Bappeda
    technical_manager: Diskominfo
    group: administrasi_pemerintahan
    classification: kritis
    url: https://sipd.magelangkota.go.id
    contact: helpdesk@magelangkota.go.id
    support_hours: "Senin-Jumat 07:30-16:00"
    host: app01
    checks:
      - {{type: http, url: "https://sipd.magelangkota.go.id/health", degraded_latency: 2s}}
      - {{type: tcp, address: "10.0.0.5:5432", impact: minor}}
    rpo: 24h
    rto: 4h
    drp: {{document: DRP-SIPD-2024.pdf, last_drill: "2024-06-10"}}
    backups: [{{type: push}}]
    maintenance:
      - {{start: "2024-09-14T22:00:00+07:00", end: "2024-09-15T02:00:00+07:00", reason: Upgrade RAM}}
      - {{start: "2024-10-12T22:00:00", end: "2024-10-13T01:00:00", reason: Pembaruan sistem operasi}}
    capacity_plan: Penambahan RAM 16 GB pada Triwulan IV
  - id: lapor
    name: Layanan Aspirasi dan Pengaduan Online Rakyat
    provider: Bagian Umum
    technical_manager: Diskominfo
    group: layanan_publik
    classification: kritis
    url: https://lapor.magelangkota.go.id
    host: app01
    checks:
      - {{type: http, url: "https://lapor.magelangkota.go.id/"}}
    rpo: 12h
    rto: 4h
    drp: {{document: DRP-LAPOR-2024.pdf}}
    backups: [{{type: files, path: "/srv/backup/lapor/*.sql.gz"}}]
  - id: jdih
    name: Jaringan Dokumentasi dan Informasi Hukum
    provider: Bagian Hukum
    group: layanan_publik
    classification: esensial
    url: https://jdih.magelangkota.go.id
    checks:
      - {{type: http, url: "https://jdih.magelangkota.go.id/"}}
    rto: 1h
  - id: ppid
    name: Pejabat Pengelola Informasi dan Dokumentasi
    provider: Diskominfo
    group: layanan_publik
    classification: normal
    url: https://ppid.magelangkota.go.id
    checks:
      - {{type: http, url: "https://ppid.magelangkota.go.id/"}}
      - {{type: tcp, address: "10.0.0.7:443", impact: minor}}
"""

DEFAULT_REPORT: dict[str, Any] = {
    "organization": "Pemerintah Kota Magelang",
    "agency": "Dinas Komunikasi, Informatika dan Statistik",
    "city": "Magelang",
    "signatory_name": "Budi Santoso, S.Kom.",
    "signatory_title": "Kepala Bidang Persandian",
    "signatory_id": "19800101 200501 1 001",
}


def write_config(directory: Path, data_dir: Path, report: dict[str, Any] | None = None) -> Path:
    """Write ``pantau.yaml`` (``report`` adds to/overrides ``agent.report``); return its path."""
    settings = {**DEFAULT_REPORT, **(report or {})}
    text = CONFIG_YAML.format(data_dir=json.dumps(str(data_dir)), report=json.dumps(settings))
    path = directory / "pantau.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Span:
    """Rounds of ``service`` in ``[start, end)`` fail: check ``check`` is ``outcome``."""

    service: str
    start: datetime
    end: datetime
    check: int
    outcome: Outcome
    reason: str


SPANS = (
    Span("jdih", wib(8, 31, 23, 50), wib(9, 1, 0, 20), 0, Outcome.DOWN, "timeout"),
    Span("sipd", wib(9, 3, 10, 0), wib(9, 3, 10, 45), 0, Outcome.DOWN, "http_status:503"),
    Span("jdih", wib(9, 5, 9, 0), wib(9, 5, 10, 30), 0, Outcome.DOWN, "dns_servfail"),
    Span("lapor", wib(9, 7, 3, 15), wib(9, 7, 3, 16), 0, Outcome.DOWN, "timeout"),
    Span("sipd", wib(9, 10, 14, 0), wib(9, 10, 14, 30), 0, Outcome.DEGRADED, "slow"),
    Span("jdih", wib(9, 12, 13, 0), wib(9, 12, 13, 5), 0, Outcome.DOWN, "connection_refused"),
    Span("sipd", wib(9, 14, 21, 40), wib(9, 14, 22, 10), 0, Outcome.DOWN, "http_status:502"),
    Span("ppid", wib(9, 23, 10, 0), wib(9, 23, 11, 0), 1, Outcome.DOWN, "connection_refused"),
    Span("lapor", wib(9, 25, 8, 0), wib(9, 25, 12, 30), 0, Outcome.DOWN, "connection_refused"),
)

CAUSE_SIPD_1 = "Server aplikasi kehabisan memori (OOM), layanan dimulai ulang"
CAUSE_SIPD_3 = "Pekerjaan upgrade RAM dimulai lebih awal dari jadwal"
FALSE_POSITIVE_REASON = "Resolver DNS agen salah konfigurasi, layanan tetap dapat diakses"
Action = Callable[[Gangguan, datetime], Gangguan]
#: Operator work: (when, service, start of the gangguan's episode, action).
SCRIPT: tuple[tuple[datetime, str, datetime, Action], ...] = (
    (wib(9, 3, 10, 8), "sipd", wib(9, 3, 10, 0), lambda g, at: ack(g, at, "budi")),
    (wib(9, 3, 11, 30), "sipd", wib(9, 3, 10, 0), lambda g, at: set_cause(g, at, CAUSE_SIPD_1)),
    (
        wib(9, 5, 10, 45),
        "jdih",
        wib(9, 5, 9, 0),
        lambda g, at: reclassify(g, at, "false_positive", FALSE_POSITIVE_REASON, "sari"),
    ),
    (wib(9, 15, 8, 0), "sipd", wib(9, 14, 21, 40), lambda g, at: set_cause(g, at, CAUSE_SIPD_3)),
)
SIPD_DRILL = DrillRecord(
    service="sipd",
    started_at=wib(9, 21, 6, 0),
    restored_at=wib(9, 21, 8, 30),
    data_as_of=wib(9, 21, 2, 0),
    kind="manual",
    ok=True,
    detail={"detail": "Pemulihan basis data ke server cadangan"},
)
LAPOR_DRILL = DrillRecord(
    service="lapor",
    started_at=wib(9, 28, 3, 0),
    restored_at=None,
    data_as_of=None,
    kind="automated",
    ok=False,
    detail={"detail": "restore gagal: repositori terkunci"},
)
SIPD_FAILED_BACKUPS = (wib(9, 17, 2, 0), wib(9, 18, 2, 0))


def host_values(at: datetime) -> tuple[dict[str, float], FsUsage]:
    """The app01 sample at ``at``: a ramp over the 288 five-minute slots of the WIB day."""
    local = at.astimezone(WIB)
    k = (local.hour * 60 + local.minute) // 5  # 0..287
    used = 60 * GIB + round(GIB / 2 * (at - MONTH_START).total_seconds() / 86_400)
    values = {
        "cpu": 0.10 + 0.80 * k / 287,
        "mem": 0.55 + 0.10 * k / 287,
        "fs:/": used / (100 * GIB),
        "rx:eth0": 4.0 + 16.0 * k / 287,  # Mbps
        "tx:eth0": 1.0,
    }
    return values, FsUsage(used_bytes=used, total_bytes=100 * GIB)


class _Agent:
    """The agent's monitoring side, minute by minute, writing what the real one writes."""

    def __init__(self, store: Store, config: Config, clock: FakeClock) -> None:
        self.store, self.config, self.clock = store, config, clock
        self.settings = all_settings(config)
        self.incident_settings = IncidentSettings(config.agent.name, WIB, self.settings)
        self.machines: dict[str, StateMachine] = {}
        self.history: dict[str, list[Transition]] = {s: [] for s in self.settings}
        self.tickets: dict[str, list[Gangguan]] = {s: [] for s in self.settings}
        self.ids: set[str] = set()
        self.rounds: list[Round] = []

    def machine(self, st: ServiceSettings, state: MachineState | None = None) -> StateMachine:
        return StateMachine(
            st.id, st.failure_threshold, st.recovery_threshold, st.stale_after, state
        )

    def round_of(self, st: ServiceSettings, at: datetime) -> Round:
        failing = {s.check: s for s in SPANS if s.service == st.id and s.start <= at < s.end}
        results = []
        for i, check in enumerate(st.service.checks):
            span = failing.get(i)
            if span is None:
                results.append((check_name(check, i), check, ProbeResult(Outcome.UP, at, 0.12)))
            else:
                latency = 3.4 if span.outcome is Outcome.DEGRADED else 10.0
                probe = ProbeResult(span.outcome, at, latency, span.reason, span.reason)
                results.append((check_name(check, i), check, probe))
        return judge(st.id, at, results)

    def probe_all(self, at: datetime) -> None:
        for sid, st in self.settings.items():
            if sid == "ppid" and at < PPID_FROM:
                continue  # added to the katalog on 16 Sep
            machine = self.machines.get(sid)
            if machine is None:
                machine = self.machines[sid] = self.machine(st)
            rnd = self.round_of(st, at)
            self.rounds.append(rnd)
            new = machine.feed(rnd)
            if new:
                self.store.append_transitions(new)
                self.sync(sid, new, at)

    def sync(self, sid: str, new: list[Transition], now: datetime) -> None:
        """What IncidentTracker.feed does: episodes → tickets → read-merge-write."""
        self.history[sid].extend(new)
        episodes = episodes_from_transitions(self.history[sid], flap_window=FLAP_WINDOW)
        old = self.tickets[sid]
        updated = sync_incidents(
            old, episodes, self.incident_settings, now=now, last_ids=sorted(self.ids)
        )
        for g in updated:
            if g not in old:
                write_ticket(self.store, g)
                self.ids.add(g.id)
        self.tickets[sid] = updated

    def restart(self) -> None:
        """Stop and start: persist machine states, reload them and the tickets from the store."""
        self.flush()
        self.store.save_machine_states({s: m.state.to_json() for s, m in self.machines.items()})
        saved = self.store.load_machine_states()
        self.machines = {
            s: self.machine(self.settings[s], MachineState.from_json(saved[s])) for s in saved
        }
        for sid in self.settings:
            self.tickets[sid] = [
                Gangguan.from_json(r.blob) for r in self.store.incidents.overlapping(sid)
            ]
            self.history[sid] = self.store.transitions(sid, HISTORY_START)

    def operate(self, at: datetime, sid: str, start: datetime, action: Action) -> None:
        """``pantau incident ...``: read, change, write the stored ticket in one transaction."""
        with self.store.transaction():
            record = next(r for r in self.store.incidents.overlapping(sid) if r.start == start)
            g = action(Gangguan.from_json(record.blob), at)
            self.store.incidents.upsert(
                g.id, g.service, g.start, g.end, g.impact.value, g.status.value, g.to_json()
            )

    def backups(self, at: datetime) -> None:
        local = at.astimezone(WIB)
        if local.hour == 2 and local.minute == 0:  # sipd: nightly push from the backup script
            status = "failed" if at in SIPD_FAILED_BACKUPS else "ok"
            self.store.drp.record_backup(
                BackupRecord("sipd", "push-0", at, status, "push", 2_400_000_000)
            )
        if local.hour % 6 == 0 and local.minute == 0:  # lapor: dump file seen by the agent
            self.store.drp.record_backup(
                BackupRecord("lapor", "files-0", at, "ok", "observed", 350_000_000)
            )

    def flush(self) -> None:
        self.store.append_rounds(self.rounds)
        self.rounds = []


def write_history(store: Store, config: Config, clock: FakeClock) -> None:
    """Write the whole timeline into ``store``; ``clock`` is moved along with it."""
    agent = _Agent(store, config, clock)
    script = {at: (sid, start, action) for at, sid, start, action in SCRIPT}
    gaps = (AGENT_STOP, AGENT_RESTART)
    at = HISTORY_START
    while at < HISTORY_END:
        day_end = min(at + timedelta(days=1), HISTORY_END)
        with store.transaction():  # the agent's writer batches too
            while at < day_end:
                clock.advance((at - clock.now()).total_seconds())
                if any(last < at < first for last, first in gaps):
                    at += MINUTE
                    continue
                if any(at == first for _, first in gaps):
                    agent.restart()
                agent.probe_all(at)
                if (at - HISTORY_START) % timedelta(minutes=5) == timedelta(0):
                    values, fs = host_values(at)
                    store.hosts.add_sample("app01", at, values, {"/": fs})
                agent.backups(at)
                if at in script:
                    agent.operate(at, *script[at])
                if at == SIPD_DRILL.restored_at:
                    store.drp.record_drill(SIPD_DRILL)
                if at == LAPOR_DRILL.started_at + timedelta(minutes=20):
                    store.drp.record_drill(LAPOR_DRILL)
                at += MINUTE
            agent.flush()


@dataclass(frozen=True)
class History:
    """A written history: its configuration file, config and data directory."""

    config_path: Path
    config: Config
    data_dir: Path

    def open_store(self, clock: FakeClock | None = None) -> Store:
        """A second connection, as ``pantau report`` opens it."""
        return Store.open(self.data_dir, quick_check=False, recover_corrupt=False, clock=clock)

    def copy_to(self, directory: Path, report: dict[str, Any] | None = None) -> History:
        """An independent copy of the store under ``directory``, with other ``agent.report``
        settings (the history is written once; each test gets its own database)."""
        data_dir = directory / "data"
        data_dir.mkdir(parents=True)
        for db in self.data_dir.glob("pantau.db*"):
            shutil.copy2(db, data_dir / db.name)
        path = write_config(directory, data_dir, report)
        return History(path, load_config(path), data_dir)


_SHARED: dict[Path, History] = {}


def shared_history(base: Path) -> History:
    """The history built once under ``base`` (pytest's base temp dir) and shared read-only by
    every test module of the session; tests that write get a :meth:`History.copy_to`."""
    if base not in _SHARED:
        _SHARED[base] = build_history(base / "history-sep-2024")
    return _SHARED[base]


def build_history(directory: Path, report: dict[str, Any] | None = None) -> History:
    """Write the configuration and the history under ``directory``."""
    data_dir = directory / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    path = write_config(directory, data_dir, report)
    config = load_config(path)
    clock = FakeClock(HISTORY_START)
    with Store.open(data_dir, clock=clock) as store:
        write_history(store, config, clock)
    return History(path, config, data_dir)
