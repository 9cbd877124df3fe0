"""From Prometheus samples of ``pantau_service_state`` to state intervals (pure: no I/O).

The fleet report evaluates every service's exported state on a grid of ``step`` seconds
(the *fine grid*, aligned to multiples of ``step`` since the epoch): the point at ``t`` says
which state the newest sample in ``(t − step, t]`` had, or nothing when no sample fell in
that window (the agent was not scraped: stopped, unreachable, Prometheus down — the staleness
Prometheus itself shows). A point's state holds until the next point, at most two steps (one
missed point is bridged, as the agent bridges one late round); after that the time is unknown.
The exported state ``unknown`` (the agent's own rounds are stale) is no data either.

The same :mod:`agent.engine.availability` engine as the local report then counts the intervals.

A month at a 30-second step is 89,280 points per service, almost all of them ``up``. So the
grid is cut into *blocks* of about an hour, and a block whose every point is ``up`` from one
agent is recognised from cheap per-block aggregates (see :mod:`agent.reports.fleet.fetch`) and becomes
one observation of ``block_steps`` points; only the other blocks are fetched point by point.
Both paths describe exactly the same points, so the result does not depend on the split.

Two exported facts lag the SPEC §4 semantics the local store has: a state is exported when it
is *confirmed*, ``failure_threshold − 1`` rounds after the episode's first bad round. For a
Mayor episode ``pantau_service_outage_duration_seconds`` tells the true start (sample time −
value), so a down stretch that follows ``up`` is moved back to it (:func:`backdate_down`);
Minor episodes and recoveries with ``recovery_threshold > 1`` keep the lag (≤ threshold ×
interval per episode).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agent.core.model import FLAP_THRESHOLD, FLAP_WINDOW, Episode, State, StateInterval, Transition
from agent.engine.episodes import episodes_from_transitions

#: When several agents export the same service at one instant, the highest rank wins: a
#: planned window is what the operator declared; otherwise the worst observation counts.
STATE_RANK = {"unknown": 0, "up": 1, "degraded": 2, "down": 3, "maintenance": 4}
#: About an hour of points per block: a month is 744 blocks, a year 8,760 (one request).
BLOCK_SECONDS = 3600

Observation = tuple[int, int, str]  # (first point, number of consecutive points, state)
Span = tuple[float, float, str]  # [start, end) in unix seconds, state


@dataclass(frozen=True)
class Grid:
    """The fine grid (``step`` seconds) and its blocks (``block_steps`` points each)."""

    step: int
    block_steps: int

    @classmethod
    def for_step(cls, step: int) -> Grid:
        """A grid of ``step`` whole seconds with blocks of about :data:`BLOCK_SECONDS`."""
        if step < 1:
            raise ValueError(f"step must be at least 1 s, not {step}")
        return cls(step, max(1, -(-BLOCK_SECONDS // step)))

    @property
    def block(self) -> int:
        """Length of a block in seconds."""
        return self.step * self.block_steps

    def block_of(self, t: float) -> int:
        return int(t // self.block)

    def block_start(self, k: int) -> int:
        return k * self.block

    def last_point(self, k: int) -> int:
        """The last fine point of block ``k`` (where per-block aggregates are evaluated)."""
        return k * self.block + (self.block_steps - 1) * self.step

    def blocks(self, lo: float, hi: float) -> range:
        """Indices of the blocks that hold fine points in ``[lo, hi)``."""
        if hi <= lo:
            return range(0)
        return range(self.block_of(lo), self.block_of(hi - 1e-6) + 1)

    def floor(self, t: float) -> int:
        """The last fine point at or before ``t``."""
        return int(t // self.step) * self.step


def merge_points(points: Iterable[tuple[int, str]]) -> dict[int, str]:
    """One state per fine point; where agents disagree the higher :data:`STATE_RANK` wins."""
    out: dict[int, str] = {}
    for t, state in points:
        known = out.get(t)
        if known is None or STATE_RANK.get(state, 0) > STATE_RANK.get(known, 0):
            out[t] = state
    return out


def spans_from_observations(observations: Iterable[Observation], step: int) -> list[Span]:
    """State spans: each observation's points hold one step each, the last one until the next
    observation but at most two steps; ``unknown`` (and unrecognised states) hold nothing.

    Adjacent spans of one state are merged. Overlapping input never counts an instant twice.
    """
    obs = sorted(observations)
    out: list[Span] = []
    for i, (t, n, state) in enumerate(obs):
        hold = t + (n + 1) * step
        end = min(obs[i + 1][0], hold) if i + 1 < len(obs) else hold
        start = float(t) if not out else max(float(t), out[-1][1])
        if state not in STATE_RANK or state == "unknown" or end <= start:
            continue
        if out and out[-1][2] == state and out[-1][1] >= start:
            out[-1] = (out[-1][0], float(end), state)
        else:
            out.append((start, float(end), state))
    return out


def backdate_down(spans: Sequence[Span], starts: Mapping[int, float], step: int) -> list[Span]:
    """Move the start of each Mayor stretch that follows ``up`` back to its first bad round.

    ``starts`` maps fine points to the episode start the agent exported there (sample time −
    ``pantau_service_outage_duration_seconds``); the first one within three steps of the down
    stretch's start is used. The stretch never reaches back beyond the ``up`` span before it:
    the earlier, confirmed history is not rewritten.
    """
    out = list(spans)
    for i in range(1, len(out)):
        start, end, state = out[i]
        p_start, p_end, p_state = out[i - 1]
        if state != "down" or p_state != "up" or p_end != start:
            continue
        near = [
            v for t, v in starts.items() if start - step / 2 <= t <= start + 3 * step and v < start
        ]
        if not near:
            continue
        new = max(min(near), p_start)
        out[i - 1] = (p_start, new, p_state)
        out[i] = (new, end, state)
    return [s for s in out if s[1] > s[0]]


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def to_intervals(service: str, spans: Iterable[Span]) -> list[StateInterval]:
    """Spans as closed :class:`~agent.core.model.StateInterval` records (aware UTC)."""
    return [StateInterval(service, State(st), _dt(a), _dt(b)) for a, b, st in spans]


def episodes(
    service: str,
    intervals: Sequence[StateInterval],
    *,
    flap_threshold: int = FLAP_THRESHOLD,
    flap_window: timedelta = FLAP_WINDOW,
) -> list[Episode]:
    """Confirmed bad episodes, found exactly as the agent finds them (a gap is unknown; a
    flapping period, by the katalog's flap settings, is one episode)."""
    transitions: list[Transition] = []
    prev_end: datetime | None = None
    for iv in intervals:
        if prev_end is not None and iv.start > prev_end:
            transitions.append(Transition(service, prev_end, State.UNKNOWN))
        transitions.append(Transition(service, iv.start, iv.state))
        prev_end = iv.end
    return episodes_from_transitions(
        transitions, flap_threshold=flap_threshold, flap_window=flap_window
    )
