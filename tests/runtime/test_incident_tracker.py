"""The incident tracker over a real store: the path of a restarted agent's tickets.

The state machine is fed rounds stamped with microseconds, as the system clock stamps them;
the tracker's writes go through ``write_ticket`` into SQLite, and a "restart" is a fresh
tracker and state machine loaded from that file — what ``pantau run`` does at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.config.katalog import all_settings
from agent.config.loader import parse_config
from agent.core.model import Outcome, Round, Transition, event_time
from agent.engine.incidents import Gangguan, Status, ack, add_note, set_cause
from agent.engine.statemachine import MachineState, StateMachine
from agent.runtime.incident_tracker import REMOVED_NOTE, IncidentTracker, write_ticket
from agent.store.database import Store
from tests.fakes import FakeClock

WIB = ZoneInfo("Asia/Jakarta")
T0 = datetime(2024, 9, 10, 2, 0, 0, 123_456, tzinfo=UTC)  # microseconds, as the clock gives
S = timedelta(seconds=1)
KATALOG = """
agent: {name: srv-app-01, timezone: Asia/Jakarta}
defaults: {interval: 1s, timeout: 500ms, failure_threshold: 2, flap_window: 60s}
services:
  - id: portal
    name: Portal
    provider: Diskominfo
    group: layanan_publik
    classification: esensial
    checks: [{type: tcp, address: "127.0.0.1:9"}]
"""
SETTINGS = all_settings(parse_config(KATALOG))


class Agent:
    """One life of the agent: tracker + state machine over the store at ``path``."""

    def __init__(self, path: Path, clock: FakeClock) -> None:
        self.clock = clock
        self.store = Store.open(path, clock=clock)
        states = self.store.load_machine_states()
        st = SETTINGS["portal"]
        state = MachineState.from_json(states["portal"]) if "portal" in states else None
        self.machine = StateMachine(
            "portal", st.failure_threshold, st.recovery_threshold, st.stale_after, state
        )
        self.tracker = IncidentTracker("srv-app-01", WIB, SETTINGS)
        self.tracker.load(self.store, clock.now())
        self.write(self.tracker.settle(clock.now()))

    def write(self, tickets: list[Gangguan]) -> None:
        with self.store.transaction():
            for g in tickets:
                write_ticket(self.store, g)

    def rounds(self, *outcomes: Outcome) -> list[Transition]:
        """One round a second, stamped with the clock's microseconds."""
        out: list[Transition] = []
        for outcome in outcomes:
            rnd = Round("portal", self.clock.now(), outcome, () if outcome is UP else ("timeout",))
            new = self.machine.feed(rnd)
            if new:
                self.store.append_transitions(new)
                self.store.save_machine_states({"portal": self.machine.state.to_json()})
                self.write(self.tracker.feed("portal", new, self.clock.now()))
            out += new
            self.clock.advance(1.000_317)  # never a whole millisecond
        return out

    def stored(self) -> list[Gangguan]:
        return [Gangguan.from_json(r.blob) for r in self.store.incidents.overlapping()]

    def operator(self, ticket_id: str, action: str) -> None:
        """``pantau incident ACTION`` on the stored ticket (read-modify-write)."""
        now = self.clock.now()
        with self.store.transaction():
            record = self.store.incidents.get(ticket_id)
            assert record is not None
            g = Gangguan.from_json(record.blob)
            g = ack(g, now, "budi") if action == "ack" else add_note(g, now, action, "budi")
            self.store.incidents.upsert(
                g.id, g.service, g.start, g.end, g.impact.value, g.status.value, g.to_json()
            )

    def close(self) -> None:
        self.store.close()


UP, DOWN = Outcome.UP, Outcome.DOWN


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def lives(tmp_path: Path, clock: FakeClock) -> Iterator[list[Agent]]:
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.close()


def test_a_restart_during_and_after_an_outage_keeps_one_ticket_with_its_ack(
    tmp_path: Path, clock: FakeClock, lives: list[Agent]
) -> None:
    first = Agent(tmp_path, clock)
    lives.append(first)
    first.rounds(UP, UP, DOWN, DOWN, DOWN)
    (g,) = first.stored()
    assert g.start.microsecond % 1000 == 0  # the episode's start at the store's resolution
    first.operator(g.id, "ack")
    for gap in (2.0, 30.0):  # a short gap, then one far beyond 2 × interval + timeout
        clock.advance(gap)
        again = Agent(tmp_path, clock)
        lives.append(again)
        resumed = again.tracker.open_ticket("portal")
        assert resumed is not None
        assert (resumed.id, resumed.start, resumed.status) == (g.id, g.start, Status.DITANGANI)
        again.rounds(DOWN, DOWN)
        assert [t.id for t in again.stored()] == [g.id]
    again.rounds(UP, UP)
    clock.advance(5.0)
    after = Agent(tmp_path, clock)  # and once more after the recovery
    lives.append(after)
    after.rounds(UP)
    (done,) = after.stored()
    assert (done.id, done.start, done.status) == (g.id, g.start, Status.SELESAI)
    assert done.ack_at is not None
    assert done.end is not None
    assert after.tracker.open_tickets() == []


def test_flapping_bounces_are_one_ticket_with_the_operator_work_of_each(
    tmp_path: Path, clock: FakeClock, lives: list[Agent]
) -> None:
    agent = Agent(tmp_path, clock)
    lives.append(agent)
    agent.rounds(UP, DOWN, DOWN, UP)  # bounce 1: changes 1, 2
    agent.operator("G-2024-09-0001", "ack")
    agent.rounds(DOWN, DOWN)  # bounce 2 opens (change 3): not flapping yet, its own ticket
    assert [g.id for g in agent.stored()] == ["G-2024-09-0001", "G-2024-09-0002"]
    agent.operator("G-2024-09-0002", "restart nginx")  # the operator notes on the second
    agent.rounds(UP)  # change 4: four changes within the 60 s window, one flapping period
    (g,) = agent.stored()
    assert g.id == "G-2024-09-0001"
    assert g.flapping
    assert g.merged_ids == ("G-2024-09-0002",)
    assert g.ack_at is not None  # the ack of the first
    assert [n.text for n in g.notes] == ["restart nginx"]  # the note of the second
    assert agent.store.incidents.merged_into("G-2024-09-0002") == "G-2024-09-0001"
    agent.rounds(DOWN, DOWN, UP, DOWN, DOWN, UP)  # more bounces join the same ticket
    assert [t.id for t in agent.stored()] == ["G-2024-09-0001"]
    assert agent.tracker.is_flapping("portal", clock.now())
    # numbering never gives the merged id again, also after a restart
    assert agent.store.incidents.last_id("G-2024-09-") == "G-2024-09-0002"
    clock.advance(120.0)  # the bounces leave the 60 s window
    assert not agent.tracker.is_flapping("portal", clock.now())
    later = Agent(tmp_path, clock)
    lives.append(later)
    later.rounds(UP, DOWN, DOWN)
    assert [t.id for t in later.stored()] == ["G-2024-09-0001", "G-2024-09-0003"]


def test_a_removed_service_s_open_ticket_ends_with_a_note(
    tmp_path: Path, clock: FakeClock, lives: list[Agent]
) -> None:
    agent = Agent(tmp_path, clock)
    lives.append(agent)
    agent.rounds(UP, DOWN, DOWN)
    agent.tracker.configure("srv-app-01", WIB, {})
    agent.write(agent.tracker.settle(clock.now()))
    (g,) = agent.stored()
    assert (g.end, g.status, g.closed_at) == (clock.now(), Status.DITUTUP, clock.now())
    assert [n.text for n in g.notes] == [REMOVED_NOTE]
    assert agent.tracker.open_tickets() == []


def test_an_open_ticket_whose_episode_ended_unseen_ends_at_its_first_good_round(
    tmp_path: Path, clock: FakeClock, lives: list[Agent]
) -> None:
    agent = Agent(tmp_path, clock)
    lives.append(agent)
    agent.rounds(UP, DOWN, DOWN)
    (g,) = agent.stored()
    up_at = event_time(clock.now())  # the first good round, as the store keeps it
    agent.rounds(UP)
    # an older pantau left the ticket open (killed before its write, or never matched again)
    with agent.store.transaction():
        agent.store.incidents.upsert(
            g.id, g.service, g.start, None, "major", "Ditangani", set_cause(g, up_at, "x").to_json()
        )
    clock.advance(3.0)
    again = Agent(tmp_path, clock)
    lives.append(again)
    (fixed,) = again.stored()
    assert (fixed.end, fixed.status, fixed.cause) == (up_at, Status.SELESAI, "x")
