"""The confirmation state machine of SPEC §4 (pure: no I/O, no clock).

Feed it :class:`~agent.core.model.Round` records in order; it returns the
:class:`~agent.core.model.Transition` records to append:

- the service becomes ``down``/``degraded`` after ``failure_threshold`` consecutive bad rounds
  and ``up`` after ``recovery_threshold`` good ones; the transition is stamped with the time of
  the **first** round of the streak, so an episode starts at its first bad round and ends at its
  first good round;
- a confirmed bad state switches between ``down`` and ``degraded`` after ``failure_threshold``
  consecutive rounds of the other kind; a streak that mixes down and degraded rounds confirms
  ``down`` (the service was fully unavailable at times: Mayor);
- a round's state holds until the next round, at most ``stale_after`` (``2 × interval +
  timeout``). A longer gap (agent stopped, host asleep, wall clock stepped forward) becomes an
  ``unknown`` transition at ``last_round + stale_after``, and the confirmed state resumes at the
  next round: an open episode continues across a restart. A gap resets a pending streak;
- a round whose ``agent_isolated`` flag is set (the agent's own connectivity check failed) says
  nothing about the service: it starts ``unknown`` and resets the streak;
- round times never go backwards: a round stamped before the previous one (the wall clock was
  stepped back) is taken at the previous round's time, so no hour is counted twice and no
  duration is negative;
- every time the machine keeps or emits is cut to the one event resolution (whole
  milliseconds, :func:`~agent.core.model.event_time`), so a transition read back from the store
  after a restart equals the one the running agent emitted, and an episode keeps its identity.

Every transition the machine emits has ``at`` ≥ every earlier one, so the store can append them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from agent.core.model import Outcome, Round, State, Transition, event_time

_BAD = {Outcome.DOWN: State.DOWN, Outcome.DEGRADED: State.DEGRADED}


@dataclass
class PendingRound:
    at: datetime
    outcome: Outcome
    reason: str


@dataclass
class MachineState:
    """What the machine remembers between rounds; persisted so a restart continues."""

    confirmed: State | None = None  # None before the first confirmed state
    since: datetime | None = None  # start of the current confirmed state (or unknown stretch)
    unknown: bool = False  # currently in an unknown stretch
    last_round_at: datetime | None = None
    streak: list[PendingRound] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "confirmed": self.confirmed.value if self.confirmed else None,
            "since": self.since.isoformat() if self.since else None,
            "unknown": self.unknown,
            "last_round_at": self.last_round_at.isoformat() if self.last_round_at else None,
            "streak": [[p.at.isoformat(), p.outcome.value, p.reason] for p in self.streak],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MachineState:
        # Snapshots written before times were cut to milliseconds are cut on the way in.
        def ts(v: str | None) -> datetime | None:
            return event_time(datetime.fromisoformat(v)) if v else None

        return cls(
            confirmed=State(data["confirmed"]) if data.get("confirmed") else None,
            since=ts(data.get("since")),
            unknown=bool(data.get("unknown")),
            last_round_at=ts(data.get("last_round_at")),
            streak=[
                PendingRound(event_time(datetime.fromisoformat(a)), Outcome(o), r)
                for a, o, r in data.get("streak", [])
            ],
        )


class StateMachine:
    """Confirmation logic for one service."""

    def __init__(
        self,
        service: str,
        failure_threshold: int,
        recovery_threshold: int,
        stale_after: timedelta,
        state: MachineState | None = None,
    ) -> None:
        self.service = service
        self.failure_threshold = failure_threshold
        self.recovery_threshold = recovery_threshold
        self.stale_after = stale_after
        self.state = state or MachineState()

    @property
    def current(self) -> State:
        """The confirmed state now (``unknown`` inside a gap or before the first one)."""
        if self.state.unknown or self.state.confirmed is None:
            return State.UNKNOWN
        return self.state.confirmed

    def is_stale(self, now: datetime) -> bool:
        """Whether the last round is older than ``stale_after`` at ``now``."""
        last = self.state.last_round_at
        return last is None or now - last > self.stale_after

    def feed(self, rnd: Round) -> list[Transition]:
        """Take one round; return the transitions it causes, oldest first."""
        st = self.state
        at = event_time(rnd.started_at)
        if st.last_round_at is not None and at < st.last_round_at:
            at = st.last_round_at  # wall clock stepped back: never go backwards
        out: list[Transition] = []
        if st.last_round_at is not None and at - st.last_round_at > self.stale_after:
            if not st.unknown:
                out.append(self._to_unknown(st.last_round_at + self.stale_after, "no_data"))
            st.streak.clear()
        st.last_round_at = at

        if rnd.agent_isolated:
            st.streak.clear()
            if not st.unknown:
                out.append(self._to_unknown(at, "agent_isolated"))
            return out

        if st.unknown and st.confirmed is not None:
            # Data again after a gap: the confirmed state resumes (an open episode continues).
            st.unknown = False
            st.since = at
            out.append(Transition(self.service, at, st.confirmed, "resumed"))

        reason = ",".join(rnd.reasons)
        target = _BAD.get(rnd.outcome, State.UP)
        if st.confirmed is None:
            if rnd.outcome is Outcome.UP:
                st.streak.clear()
                out.append(self._confirm(at, State.UP, ""))
                return out
        elif target is st.confirmed:
            st.streak.clear()
            return out

        if st.streak and _kind(st.streak[-1].outcome) != _kind(rnd.outcome):
            st.streak.clear()
        st.streak.append(PendingRound(at, rnd.outcome, reason))
        needed = self.recovery_threshold if target is State.UP else self.failure_threshold
        if len(st.streak) >= needed:
            first = st.streak[0]
            if target is State.UP:
                new = State.UP
            elif any(p.outcome is Outcome.DOWN for p in st.streak):
                new = State.DOWN
            else:
                new = State.DEGRADED
            reasons = ",".join(dict.fromkeys(p.reason for p in st.streak if p.reason))
            st.streak.clear()
            if new is not st.confirmed:
                out.append(self._confirm(first.at, new, reasons))
        return out

    def _confirm(self, at: datetime, new: State, reason: str) -> Transition:
        self.state = replace(self.state, confirmed=new, since=at, unknown=False)
        return Transition(self.service, at, new, reason)

    def _to_unknown(self, at: datetime, reason: str) -> Transition:
        self.state.unknown = True
        self.state.since = at
        return Transition(self.service, at, State.UNKNOWN, reason)


def _kind(outcome: Outcome) -> str:
    return "good" if outcome is Outcome.UP else "bad"
