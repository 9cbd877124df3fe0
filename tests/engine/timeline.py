"""Build timelines for engine tests by feeding real rounds to the real state machine.

The whole chain round → transition → interval → availability is exercised: a test describes
rounds (when, outcome), :func:`run` feeds them to :class:`agent.engine.statemachine.StateMachine`
and returns what the store would hold (transitions, last round time, first round time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.core.model import Outcome, Round, State, StateInterval, Transition
from agent.engine.availability import (
    Override,
    PeriodAvailability,
    compute_availability,
    intervals_from_transitions,
)
from agent.engine.statemachine import StateMachine

UP, DOWN, DEG = Outcome.UP, Outcome.DOWN, Outcome.DEGRADED
ISOLATED = "isolated"  # a round whose agent_isolated flag is set
MIN = timedelta(minutes=1)

RoundSpec = tuple[datetime, Outcome | str]


def every(
    start: datetime, end: datetime, outcome: Outcome | str, step: timedelta = MIN
) -> list[RoundSpec]:
    """Rounds at ``start``, ``start + step``, … before ``end``."""
    out: list[RoundSpec] = []
    t = start
    while t < end:
        out.append((t, outcome))
        t += step
    return out


@dataclass
class Timeline:
    """What the store keeps for one service after the rounds."""

    transitions: list[Transition]
    last_round_at: datetime | None
    first_round_at: datetime | None
    stale_after: timedelta

    def intervals(self, now: datetime) -> list[StateInterval]:
        return intervals_from_transitions(
            self.transitions,
            last_round_at=self.last_round_at,
            stale_after=self.stale_after,
            now=now,
        )

    def availability(
        self,
        start: datetime,
        end: datetime,
        now: datetime,
        maintenance: Sequence[tuple[datetime, datetime]] = (),
        overrides: Sequence[Override] = (),
    ) -> PeriodAvailability:
        return compute_availability(
            self.intervals(now), maintenance, overrides, start, end, now, self.first_round_at
        )

    def states(self) -> list[tuple[datetime, State]]:
        return [(t.at, t.state) for t in self.transitions]


def run(
    rounds: Iterable[RoundSpec],
    *,
    interval: timedelta = MIN,
    timeout: timedelta = timedelta(seconds=10),
    failure_threshold: int = 2,
    recovery_threshold: int = 1,
    service: str = "sipd",
) -> Timeline:
    """Feed the rounds (wall-clock stamps, possibly stepped) to a fresh state machine."""
    stale = 2 * interval + timeout
    sm = StateMachine(service, failure_threshold, recovery_threshold, stale)
    transitions: list[Transition] = []
    first: datetime | None = None
    for at, outcome in rounds:
        first = at if first is None else first
        isolated = outcome == ISOLATED
        out = UP if isolated else Outcome(outcome)
        reasons = () if out is UP else (("slow",) if out is DEG else ("timeout",))
        transitions += sm.feed(Round(service, at, out, reasons, agent_isolated=isolated))
    return Timeline(transitions, sm.state.last_round_at, first, stale)
