"""The confirmation state machine (SPEC §4): thresholds, first-bad-round stamps, gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.core.model import Outcome, Round, State
from agent.engine.statemachine import MachineState, StateMachine

T0 = datetime(2024, 9, 10, 3, 0, tzinfo=UTC)
UP, DOWN, DEG = Outcome.UP, Outcome.DOWN, Outcome.DEGRADED


def rnd(seconds: float, outcome: Outcome, *, isolated: bool = False) -> Round:
    reasons = () if outcome is UP else ("timeout",)
    return Round("svc", T0 + timedelta(seconds=seconds), outcome, reasons, agent_isolated=isolated)


def machine(
    failure: int = 2, recovery: int = 1, interval: int = 30, timeout: int = 10
) -> StateMachine:
    return StateMachine("svc", failure, recovery, timedelta(seconds=2 * interval + timeout))


def feed(m: StateMachine, rounds: list[Round]) -> list[tuple[float, State]]:
    out = []
    for r in rounds:
        out += [((t.at - T0).total_seconds(), t.state) for t in m.feed(r)]
    return out


def test_first_good_round_starts_monitoring_up() -> None:
    assert feed(machine(), [rnd(0, UP), rnd(30, UP)]) == [(0, State.UP)]


def test_outage_starts_at_first_failed_round_and_ends_at_first_good() -> None:
    m = machine(failure=2, recovery=1)
    got = feed(m, [rnd(0, UP), rnd(30, DOWN), rnd(60, DOWN), rnd(90, DOWN), rnd(120, UP)])
    assert got == [(0, State.UP), (30, State.DOWN), (120, State.UP)]


def test_single_bad_round_under_threshold_is_not_an_outage() -> None:
    got = feed(
        machine(failure=2), [rnd(0, UP), rnd(30, DOWN), rnd(60, UP), rnd(90, DOWN), rnd(120, UP)]
    )
    assert got == [(0, State.UP)]


def test_recovery_threshold_stamps_first_good_round() -> None:
    m = machine(failure=1, recovery=3)
    got = feed(
        m,
        [
            rnd(0, DOWN),
            rnd(30, UP),
            rnd(60, UP),
            rnd(90, DOWN),
            rnd(120, UP),
            rnd(150, UP),
            rnd(180, UP),
        ],
    )
    assert got == [(0, State.DOWN), (120, State.UP)]


def test_minor_only_streak_confirms_degraded_and_mixed_streak_confirms_down() -> None:
    assert feed(machine(), [rnd(0, UP), rnd(30, DEG), rnd(60, DEG)])[-1] == (30, State.DEGRADED)
    assert feed(machine(), [rnd(0, UP), rnd(30, DEG), rnd(60, DOWN)])[-1] == (30, State.DOWN)


def test_degraded_escalates_to_down_after_threshold() -> None:
    got = feed(machine(), [rnd(0, DEG), rnd(30, DEG), rnd(60, DOWN), rnd(90, DOWN)])
    assert got == [(0, State.DEGRADED), (60, State.DOWN)]


def test_gap_longer_than_stale_after_is_unknown_and_state_resumes() -> None:
    # stale_after = 2*30 + 10 = 70 s; the agent stops after the round at 60 s.
    m = machine()
    got = feed(m, [rnd(0, DOWN), rnd(30, DOWN), rnd(60, DOWN), rnd(3660, DOWN), rnd(3690, UP)])
    assert got == [(0, State.DOWN), (130, State.UNKNOWN), (3660, State.DOWN), (3690, State.UP)]


def test_gap_shorter_than_stale_after_is_not_unknown() -> None:
    assert feed(machine(), [rnd(0, UP), rnd(65, UP)]) == [(0, State.UP)]


def test_isolated_agent_records_unknown_not_down() -> None:
    got = feed(
        machine(),
        [rnd(0, UP), rnd(30, DOWN, isolated=True), rnd(60, DOWN, isolated=True), rnd(90, UP)],
    )
    assert got == [(0, State.UP), (30, State.UNKNOWN), (90, State.UP)]


def test_wall_clock_stepping_back_never_goes_backwards() -> None:
    m = machine(failure=1)
    # Rounds at 0 s and 30 s, then the wall clock steps back one hour (60 s - 3600 s).
    got = feed(m, [rnd(0, UP), rnd(30, UP), rnd(60 - 3600, DOWN), rnd(90 - 3600, DOWN)])
    # Rounds stamped before the last one are taken at its time (30 s): the repeated hour is
    # not counted twice and no duration is negative.
    assert got == [(0, State.UP), (30, State.DOWN)]


def test_restart_continues_an_open_episode() -> None:
    m = machine()
    feed(m, [rnd(0, UP), rnd(30, DOWN), rnd(60, DOWN)])
    saved = m.state.to_json()
    restarted = StateMachine("svc", 2, 1, timedelta(seconds=70), MachineState.from_json(saved))
    assert restarted.current is State.DOWN
    got = feed(restarted, [rnd(600, DOWN)])
    assert got == [(130, State.UNKNOWN), (600, State.DOWN)]


def test_transitions_are_non_decreasing() -> None:
    import random

    rng = random.Random(7)
    m = machine()
    t, last = 0.0, None
    for _ in range(2000):
        t += rng.choice([30, 30, 30, 31, 200, -50])
        outcome = rng.choice([UP, UP, UP, DOWN, DEG])
        for tr in m.feed(rnd(t, outcome, isolated=rng.random() < 0.02)):
            assert last is None or tr.at >= last
            last = tr.at


def test_times_are_cut_to_whole_milliseconds_so_the_store_gives_back_the_same_episode() -> None:
    # the system clock stamps microseconds; the store keeps whole milliseconds (floor)
    m = machine()
    odd = timedelta(microseconds=123_456)
    got = [
        t.at
        for r in (rnd(0, UP), rnd(30, DOWN), rnd(60, DOWN))
        for t in m.feed(Round(r.service, r.started_at + odd, r.outcome, r.reasons))
    ]
    assert got == [
        T0 + timedelta(microseconds=123_000),
        T0 + timedelta(seconds=30, microseconds=123_000),
    ]
    # a snapshot written by an older pantau (microseconds) is cut on the way in
    old = MachineState.from_json(
        {
            "confirmed": "down",
            "since": (T0 + odd).isoformat(),
            "last_round_at": (T0 + odd).isoformat(),
            "streak": [[(T0 + odd).isoformat(), "up", ""]],
        }
    )
    assert (
        old.since == old.last_round_at == old.streak[0].at == T0 + timedelta(microseconds=123_000)
    )
