"""From Prometheus samples of ``pantau_service_state`` to state intervals (pure: no I/O).

The fleet report reads the raw samples a store kept of every agent (see
:mod:`agent.reports.fleet.fetch`): per scrape, the service's exported state and, since this
version of the agent, ``pantau_service_state_since_timestamp_seconds`` — the first round of the
confirmed state, which is where the agent's own store stamps the transition. From them:

- **Holding.** A sample's state holds from its scrape until the agent's next sample, at most
  ``hold`` (two steps: one missed scrape is bridged, as the agent bridges one late round; for a
  katalog service its ``2 × interval + timeout`` when longer); after that the time is unknown. The exported state ``unknown`` (the agent's own rounds are
  stale, or nothing is confirmed yet) holds nothing.
- **Edges.** An edge is placed at the sample that showed it, and moved back to the ``since``
  the sample carries: a later sample's "state X since S" overrides what earlier samples said
  on ``[S, t]``. So a down or degraded start lands on the first bad round (not
  ``failure_threshold − 1`` rounds later), a recovery on the first good round, and a Prometheus
  outage while the agent kept running is filled with what the agent says it saw. The one edge
  left at a sample is the start of a gap (the agent stopped): the last sample + ``hold``.
- **Maintenance.** While the agent shows ``maintenance`` the confirmed state underneath is
  carried on. For a service whose maintenance windows the caller knows (its katalog entry),
  that is all: the windows count as maintenance, exactly as in the local report. For any other
  service the maintenance samples are the only source, so they also become maintenance spans.
- **Several agents** of one service: at each instant the highest :data:`STATE_RANK` wins.

The same :mod:`agent.engine.availability` engine as the local report then counts the intervals,
and :mod:`agent.engine.episodes` finds the gangguan in them.

A month at a 30-second step is 89,280 points per service, almost all of them ``up``. So the
grid is cut into *blocks* of about an hour, and a block whose every point is ``up`` from one
agent is recognised from cheap per-block aggregates and painted ``up`` whole; only the other
blocks, and the first and last block of each run of whole blocks, are read sample by sample.
Both paths describe exactly the same timeline (a test reads everything sample by sample).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agent.core.model import FLAP_THRESHOLD, FLAP_WINDOW, Episode, State, StateInterval, Transition
from agent.engine.episodes import episodes_from_transitions

#: When several agents export the same service at one instant, the highest rank wins: a
#: planned window is what the operator declared; otherwise the worst observation counts.
STATE_RANK = {"unknown": 0, "up": 1, "degraded": 2, "down": 3, "maintenance": 4}
#: About an hour of points per block: a month is 744 blocks, a year 8,760 (one request).
BLOCK_SECONDS = 3600
#: A sample holds at most this many steps (one missed scrape is bridged).
HOLD_STEPS = 2

_CONFIRMED = ("up", "degraded", "down")

Sample = tuple[float, str, float | None]  # (scrape time, state, since) in unix seconds
Span = tuple[float, float, str]  # [start, end) in unix seconds, state


@dataclass(frozen=True)
class Grid:
    """The fine grid (``step`` seconds) and its blocks (``block_steps`` points each).

    Block ``k`` holds the points ``k·block, …, k·block + (block_steps − 1)·step``; the samples
    it covers are those of their windows, ``(k·block − step, k·block + block − step]``.
    """

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

    @property
    def hold(self) -> int:
        """How long a sample's state holds at most."""
        return HOLD_STEPS * self.step

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

    def whole(self, k: int) -> tuple[float, float]:
        """What a wholly-up block is painted: from its first possible sample until the first
        sample of the next block at the latest (its neighbours are up too, see fetch)."""
        return float(k * self.block - self.step), float((k + 1) * self.block)


def _paint(spans: list[Span], a: float, b: float, state: str) -> None:
    """Paint ``[a, b)`` with ``state`` over sorted disjoint ``spans`` (later paint wins)."""
    if b <= a:
        return
    j = len(spans)
    while j > 0 and spans[j - 1][1] > a:
        j -= 1
    tail = spans[j:]
    del spans[j:]
    pieces: list[Span] = [(s, a, st) for s, _, st in tail[:1] if s < a]
    pieces.append((a, b, state))
    pieces += [(max(s, b), e, st) for s, e, st in tail if e > b]
    for s, e, st in pieces:
        if spans and spans[-1][2] == st and spans[-1][1] >= s:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e), st)
        else:
            spans.append((s, e, st))


def agent_spans(
    samples: Iterable[Sample],
    whole: Iterable[tuple[float, float]],
    hold: float,
    *,
    maintenance_spans: bool,
) -> list[Span]:
    """The timeline one agent's samples (and wholly-up stretches) describe; module docstring."""
    events: list[tuple[float, int, float, str, float | None]] = [
        (a, 0, b, "up", None) for a, b in whole
    ]
    events += [(t, 1, math.nan, state, since) for t, state, since in samples]
    events.sort(key=lambda e: (e[0], e[1]))
    confirmed: list[Span] = []
    maintenance: list[Span] = []
    carried: str | None = None  # the confirmed state a maintenance sample carries on
    covered = -math.inf  # where the previous event's state ends
    for i, (t, kind, whole_end, state, since) in enumerate(events):
        if kind == 0:
            _paint(confirmed, t, whole_end, "up")
            carried, covered = "up", whole_end
            continue
        following = events[i + 1][0] if i + 1 < len(events) else math.inf
        end = min(following, t + hold)
        if state in _CONFIRMED:
            start = since if since is not None and since <= t else t
            _paint(confirmed, start, end, state)
            carried = state
        elif state == "maintenance":
            if carried is not None and covered >= t:
                _paint(confirmed, t, end, carried)
            if maintenance_spans:
                _paint(maintenance, t, end, "maintenance")
        else:
            carried = None
        covered = end
    for a, b, st in maintenance:
        _paint(confirmed, a, b, st)
    return confirmed


def merge_agents(per_agent: Sequence[Sequence[Span]]) -> list[Span]:
    """One timeline from several agents' spans: per instant the highest rank wins."""
    if len(per_agent) == 1:
        return list(per_agent[0])
    edges: list[tuple[float, int, str]] = []
    for spans in per_agent:
        for a, b, st in spans:
            edges += [(a, 1, st), (b, -1, st)]
    edges.sort()
    active = dict.fromkeys(STATE_RANK, 0)
    out: list[Span] = []
    prev: float | None = None
    for t, delta, st in edges:
        if prev is not None and t > prev:
            live = [s for s, n in active.items() if n > 0]
            if live:
                best = max(live, key=STATE_RANK.__getitem__)
                if out and out[-1][2] == best and out[-1][1] >= prev:
                    out[-1] = (out[-1][0], t, best)
                else:
                    out.append((prev, t, best))
        active[st] = active.get(st, 0) + delta
        prev = t
    return out


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
