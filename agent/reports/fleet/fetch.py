"""Fetch every service's state timeline from a Prometheus-compatible store (SPEC §9).

Per block of the grid (:class:`agent.reports.fleet.timeline.Grid`, about an hour) four aggregates are
read for the whole fleet at once; they only scan raw samples, so they are cheap::

    count  count_over_time(pantau_service_state{state="up"}[block])   samples of a service
    ups    sum_over_time(pantau_service_state{state="up"}[block])     … that said "up"
    scrapes  sum without (version) (count_over_time(pantau_agent_info[block]))  of its agent
    fresh  count_over_time(max without (version) (last_over_time(pantau_agent_info[step]))[…:step])
           fine points of the block at which the agent had been scraped (only where it was)

A block is wholly ``up`` for a service when one agent exported it, that agent was scraped in
every fine window (``fresh`` = points per block), the service was in every one of those
scrapes (``count`` = ``scrapes``) and each sample said up (``ups`` = ``count``). The other
blocks that hold samples — and the first and last block of every run of whole blocks, where
an edge may lie just outside — are read sample by sample: the raw samples of
``pantau_service_state`` and ``pantau_service_state_since_timestamp_seconds`` (an instant
query of a range selector, which every Prometheus-compatible store answers with the stored
samples and their own timestamps), for just the services that need them.

The windows line up: the aggregates of block ``k`` are evaluated at its last fine point with a
window of one block, which is the union of the windows of its fine points, and the raw samples
of blocks ``a…b`` are read over the same span.

An episode still open where the asked range ends is read on, in doubling stretches, until it
closes or ``close_by`` (now) is reached: a month's report must close an outage that crosses the
month end at its real end, not at the time the report is made.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from agent.core.model import StateInterval
from agent.reports.fleet.client import Labels, PromClient, Series
from agent.reports.fleet.timeline import (
    Grid,
    Sample,
    agent_spans,
    episodes,
    merge_agents,
    to_intervals,
)

STATE = "pantau_service_state"
AGENT_INFO = "pantau_agent_info"
SINCE = "pantau_service_state_since_timestamp_seconds"
#: Blocks of raw samples per request (a day at the default step: ~2,900 samples a series).
RAW_BLOCKS = 24
#: VictoriaMetrics refuses a subquery of more than 30,000 inner points per request.
SUBQUERY_POINTS = 25_000
#: Refined blocks at most this many blocks apart may share one request …
MERGE_GAP_BLOCKS = 2
#: … as long as it fetches at most twice the points needed, plus two blocks' worth.
MAX_OVERFETCH = 2

Identity = Labels  # the labels of an agent's target (job, instance, external labels …)


@dataclass
class ServiceTimeline:
    """What Prometheus holds about one service over the queried window."""

    service: str
    intervals: list[StateInterval] = field(default_factory=list)
    first_seen: float | None = None  # where the first sample says the timeline begins
    last_seen: float | None = None  # where the last sample's state ends
    agents: set[Identity] = field(default_factory=set)
    refined_blocks: int = 0
    full_blocks: int = 0


def service_selector(services: Sequence[str], extra: str = "") -> str:
    """``{service=~"a|b",…}`` (PromQL regexes are anchored), or ``{…}`` of ``extra`` alone."""
    parts = [extra] if extra else []
    if services:
        alternatives = "|".join(re.escape(s) for s in sorted(set(services)))
        escaped = alternatives.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'service=~"{escaped}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def _identity(labels: dict[str, str], *drop: str) -> Identity:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("__name__", *drop)))


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def plan_refinement(
    by_block: Mapping[int, Iterable[str]], gap: int = MERGE_GAP_BLOCKS
) -> list[tuple[int, int, list[str]]]:
    """Requests ``(first block, last block, services)`` that cover every refined block.

    A request reads its services over its whole range, so joining two refined blocks of
    different services reads points nobody needs; a join is made only while the points read
    stay within :data:`MAX_OVERFETCH` × the points needed (+ 2 blocks): a fleet with an
    incident somewhere every hour must not turn into reading every service all month.
    """
    out: list[tuple[int, int, set[str], int]] = []  # first, last, services, blocks needed
    for k in sorted(by_block):
        names = set(by_block[k])
        if not names:
            continue
        if out:
            a, b, union, needed = out[-1]
            joined = union | names
            if (
                k - b <= gap + 1
                and (k - a + 1) * len(joined) <= MAX_OVERFETCH * (needed + len(names)) + 2
            ):
                out[-1] = (a, k, joined, needed + len(names))
                continue
        out.append((k, k, names, len(names)))
    return [(a, b, sorted(names)) for a, b, names, _ in out]


def _ranges(blocks: Iterable[int], gap: int = 0) -> list[tuple[int, int]]:
    """Sorted block indices as inclusive ranges, joining ranges at most ``gap`` blocks apart."""
    out: list[tuple[int, int]] = []
    for k in sorted(set(blocks)):
        if out and k - out[-1][1] <= gap + 1:
            out[-1] = (out[-1][0], k)
        else:
            out.append((k, k))
    return out


@dataclass
class _Observed:
    """What was read of one service: per agent its samples ``t → (state, since)`` and the
    blocks it made wholly up; the blocks read sample by sample."""

    samples: dict[Identity, dict[float, list[str | float | None]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    whole: dict[Identity, set[int]] = field(default_factory=lambda: defaultdict(set))
    refined: set[int] = field(default_factory=set)

    def update(self, other: _Observed) -> None:
        for ident, per in other.samples.items():
            self.samples[ident].update(per)
        for ident, ks in other.whole.items():
            self.whole[ident] |= ks
        self.refined |= other.refined


class TimelineFetcher:
    """Reads the timelines of all (or the chosen) services over ``[lo, hi)``.

    ``windows_known``: services whose maintenance windows the caller has (its katalog), so
    their exported ``maintenance`` state is not counted as maintenance a second time.
    ``holds``: how long a service's last sample before a gap holds, where the caller knows
    better than two steps — the agent's own ``2 × interval + timeout`` from the katalog, so
    a stopped agent's last state ends where its own store ends it.
    """

    def __init__(
        self,
        client: PromClient,
        grid: Grid,
        services: Sequence[str] = (),
        *,
        windows_known: Collection[str] = (),
        holds: Mapping[str, float] | None = None,
    ) -> None:
        self.client = client
        self.grid = grid
        self.services = list(services)
        self.windows_known = set(windows_known)
        self.holds = dict(holds or {})
        #: wall seconds of the last fetch per phase (aggregates, fresh, points), for figures
        self.timings: dict[str, float] = defaultdict(float)

    def _per_block(self, expr: str, blocks: range) -> list[Series]:
        g = self.grid
        if not blocks:
            return []
        return self.client.query_range(
            expr, g.last_point(blocks.start), g.last_point(blocks.stop - 1), g.block
        )

    def _index(self, series: Series) -> dict[int, float]:
        return {self.grid.block_of(t): v for t, v in series.values}

    def fetch(
        self, lo: float, hi: float, *, close_by: float | None = None
    ) -> dict[str, ServiceTimeline]:
        """Timelines of every service with samples in ``[lo, hi)``; an episode open at ``hi``
        is read on until it closes or ``close_by`` (see the module docstring)."""
        g = self.grid
        # A step past ``hi``: a sample just after it may say since when the state at ``hi`` held.
        blocks = g.blocks(lo, hi + g.step)
        observed = self._observe(blocks, self.services)
        out = {svc: self._build(svc, obs) for svc, obs in observed.items()}
        if close_by is None or not blocks:
            return out
        nxt, stretch, last = blocks.stop, 1, g.block_of(close_by - 1e-6)
        while nxt <= last:
            still_open = sorted(svc for svc, tl in out.items() if _open_at_end(tl))
            if not still_open:
                break
            more = self._observe(range(nxt, min(last, nxt + stretch - 1) + 1), still_open)
            for svc, obs in more.items():
                observed.setdefault(svc, _Observed()).update(obs)
                out[svc] = self._build(svc, observed[svc])
            nxt, stretch = nxt + stretch, stretch * 2
        return out

    def _observe(self, blocks: range, services: Sequence[str]) -> dict[str, _Observed]:
        """Aggregates for ``blocks``, then raw samples where a block is not wholly up."""
        g = self.grid
        began = time.monotonic()
        sel = service_selector(services, 'state="up"')
        win = f"[{g.block}s]"
        counts: dict[tuple[str, Identity], dict[int, float]] = {}
        for s in self._per_block(f"count_over_time({STATE}{sel}{win})", blocks):
            counts[(s.labels.get("service", ""), _identity(s.labels, "service", "state"))] = (
                self._index(s)
            )
        ups: dict[tuple[str, Identity], dict[int, float]] = {}
        for s in self._per_block(f"sum_over_time({STATE}{sel}{win})", blocks):
            ups[(s.labels.get("service", ""), _identity(s.labels, "service", "state"))] = (
                self._index(s)
            )
        scrapes = {
            _identity(s.labels): self._index(s)
            for s in self._per_block(
                f"sum without (version) (count_over_time({AGENT_INFO}{win}))", blocks
            )
        }
        self.timings["aggregates"] += time.monotonic() - began
        mark = time.monotonic()
        fresh = self._fresh(scrapes)
        self.timings["fresh"] += time.monotonic() - mark

        # service → block → identities that exported it there
        seen: dict[str, dict[int, list[Identity]]] = defaultdict(lambda: defaultdict(list))
        for (svc, ident), per_block in counts.items():
            for k, n in per_block.items():
                if n > 0 and k in blocks:
                    seen[svc][k].append(ident)
        whole: dict[str, dict[int, Identity]] = defaultdict(dict)
        for (svc, ident), per_block in counts.items():
            for k, n in per_block.items():
                if (
                    n > 0
                    and k in blocks
                    and len(seen[svc][k]) == 1
                    and fresh.get(ident, {}).get(k, 0) >= g.block_steps
                    and scrapes.get(ident, {}).get(k) == n
                    and abs(ups.get((svc, ident), {}).get(k, -1) - n) < 1e-9
                ):
                    whole[svc][k] = ident
        out: dict[str, _Observed] = {}
        refine: dict[str, set[int]] = {}
        for svc, per in seen.items():
            mine = whole[svc]
            # The first and last whole block of a run are read too: the edge next to them
            # (a gap, an outage, the range's end) needs its samples' own times.
            ends = {k for k in mine if k - 1 not in mine or k + 1 not in mine}
            for k in ends:
                del mine[k]
            refine[svc] = set(per) - set(mine)
            obs = out[svc] = _Observed(refined=refine[svc])
            for k, ident in mine.items():
                obs.whole[ident].add(k)
        mark = time.monotonic()
        self._read_samples(refine, out)
        self.timings["points"] += time.monotonic() - mark
        return out

    def _build(self, svc: str, obs: _Observed) -> ServiceTimeline:
        g = self.grid
        per_agent = []
        first, last = math.inf, -math.inf
        for ident in sorted(set(obs.samples) | set(obs.whole)):
            samples: list[Sample] = [
                (t, str(v[0]), None if v[1] is None else float(v[1]))
                for t, v in sorted(obs.samples.get(ident, {}).items())
                if v[0] is not None
            ]
            whole = [g.whole(k) for k in sorted(obs.whole.get(ident, ()))]
            hold = max(g.hold, self.holds.get(svc, 0.0))
            spans = agent_spans(
                samples, whole, hold, maintenance_spans=svc not in self.windows_known
            )
            per_agent.append(spans)
            for t, _, _ in samples[:1]:
                first = min(first, t)
            for t, _, _ in samples[-1:]:
                last = max(last, t)
            if spans:
                first, last = min(first, spans[0][0]), max(last, spans[-1][1])
        spans = merge_agents([s for s in per_agent if s]) if any(per_agent) else []
        agents = set(obs.samples) | {i for i, ks in obs.whole.items() if ks}
        return ServiceTimeline(
            svc,
            intervals=to_intervals(svc, spans),
            first_seen=first if first < math.inf else None,
            last_seen=last if last > -math.inf else None,
            agents=agents,
            full_blocks=sum(len(ks) for ks in obs.whole.values()),
            refined_blocks=len(obs.refined),
        )

    def _fresh(self, scrapes: dict[Identity, dict[int, float]]) -> dict[Identity, dict[int, float]]:
        """Per agent and block: fine points whose window held a scrape (blocks with scrapes only)."""
        g = self.grid
        with_data = {k for per in scrapes.values() for k, n in per.items() if n > 0}
        inner = f"max without (version) (last_over_time({AGENT_INFO}[{g.step}s]))"
        # The subquery's points are the fine points of the block ending at its evaluation time:
        # a range of (block_steps − ½) steps holds exactly block_steps of them, whether the
        # store reads ranges as closed (Prometheus 2) or left-open (Prometheus 3, VictoriaMetrics).
        rng = _ms((g.block_steps - 0.5) * g.step)
        expr = f"count_over_time(({inner})[{rng}:{g.step}s])"
        per_request = max(1, SUBQUERY_POINTS // g.block_steps)
        out: dict[Identity, dict[int, float]] = defaultdict(dict)
        for a, b in _ranges(with_data):
            for c in range(a, b + 1, per_request):
                part = range(c, min(b, c + per_request - 1) + 1)
                for s in self._per_block(expr, part):
                    out[_identity(s.labels)].update(self._index(s))
        return out

    def _read_samples(self, refine: dict[str, set[int]], out: dict[str, _Observed]) -> None:
        """Raw samples of state and since in the services' refined blocks, into ``out``."""
        g = self.grid
        by_block: dict[int, set[str]] = defaultdict(set)
        for svc, ks in refine.items():
            for k in ks:
                by_block[k].add(svc)
        for a, b, names in plan_refinement(by_block):
            sel = service_selector(names)
            for c in range(a, b + 1, RAW_BLOCKS):
                d = min(b, c + RAW_BLOCKS - 1)
                # (first sample of block c, last sample of block d]: closed or left-open
                # ranges differ only in a sample of block c − 1, which is the same sample
                at, rng = g.last_point(d), f"[{(d - c + 1) * g.block}s]"
                for s in self.client.query(f"{STATE}{sel}{rng}", at):
                    svc, state = s.labels.get("service", ""), s.labels.get("state", "")
                    if svc not in out:
                        continue
                    mine = out[svc].samples[_identity(s.labels, "service", "state")]
                    for t, v in s.values:
                        if v == 1:
                            mine.setdefault(t, [None, None])[0] = state
                for s in self.client.query(f"{SINCE}{sel}{rng}", at):
                    svc = s.labels.get("service", "")
                    if svc not in out:
                        continue
                    mine = out[svc].samples[_identity(s.labels, "service")]
                    for t, v in s.values:
                        if not math.isnan(v):
                            mine.setdefault(t, [None, None])[1] = v


def _open_at_end(tl: ServiceTimeline) -> bool:
    """Whether the service's last gangguan has not ended in what was read."""
    found = episodes(tl.service, tl.intervals)
    return bool(found) and found[-1].end is None
