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
scrapes (``count`` = ``scrapes``) and each sample said up (``ups`` = ``count``): exactly the
condition under which every fine point of the block would read ``up``. The other blocks that
hold samples are fetched point by point (``last_over_time(pantau_service_state[step]) == 1``),
together with the Mayor episode starts (``timestamp(o) - o`` of
``pantau_service_outage_duration_seconds``), for just the services that need them.

The windows line up: the aggregates of block ``k`` are evaluated at its last fine point with a
window of one block, which is the union of the windows of its fine points.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from agent.core.model import StateInterval
from agent.reports.fleet.client import Labels, PromClient, Series
from agent.reports.fleet.timeline import (
    Grid,
    Observation,
    backdate_down,
    merge_points,
    spans_from_observations,
    to_intervals,
)

STATE = "pantau_service_state"
AGENT_INFO = "pantau_agent_info"
OUTAGE = "pantau_service_outage_duration_seconds"
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
    first_seen: float | None = None  # first fine point with a sample (unix seconds)
    last_seen: float | None = None  # end of the last observed point
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


class TimelineFetcher:
    """Reads the timelines of all (or the chosen) services over ``[lo, hi)``."""

    def __init__(self, client: PromClient, grid: Grid, services: Sequence[str] = ()) -> None:
        self.client = client
        self.grid = grid
        self.services = list(services)
        #: wall seconds of the last fetch per phase (aggregates, fresh, points), for figures
        self.timings: dict[str, float] = {}

    def _per_block(self, expr: str, blocks: range) -> list[Series]:
        g = self.grid
        if not blocks:
            return []
        return self.client.query_range(
            expr, g.last_point(blocks.start), g.last_point(blocks.stop - 1), g.block
        )

    def _index(self, series: Series) -> dict[int, float]:
        return {self.grid.block_of(t): v for t, v in series.values}

    def fetch(self, lo: float, hi: float) -> dict[str, ServiceTimeline]:
        """Timelines of every service with samples in ``[lo, hi)``."""
        g = self.grid
        began = time.monotonic()
        blocks = g.blocks(lo, hi)
        sel = service_selector(self.services, 'state="up"')
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
        self.timings["aggregates"] = time.monotonic() - began
        fresh = self._fresh(scrapes)
        self.timings["fresh"] = time.monotonic() - began - self.timings["aggregates"]

        # service → block → identities that exported it there
        seen: dict[str, dict[int, list[Identity]]] = defaultdict(lambda: defaultdict(list))
        full: dict[str, set[int]] = defaultdict(set)
        for (svc, ident), per_block in counts.items():
            for k, n in per_block.items():
                if n > 0:
                    seen[svc][k].append(ident)
        for (svc, ident), per_block in counts.items():
            for k, n in per_block.items():
                if (
                    n > 0
                    and len(seen[svc][k]) == 1
                    and fresh.get(ident, {}).get(k, 0) >= g.block_steps
                    and scrapes.get(ident, {}).get(k) == n
                    and abs(ups.get((svc, ident), {}).get(k, -1) - n) < 1e-9
                ):
                    full[svc].add(k)
        refine = {svc: set(per) - full[svc] for svc, per in seen.items()}
        mark = time.monotonic()
        points, starts = self._refine(refine, hi)
        self.timings["points"] = time.monotonic() - mark

        out: dict[str, ServiceTimeline] = {}
        for svc, per in seen.items():
            tl = ServiceTimeline(svc, agents={i for ids in per.values() for i in ids})
            obs: list[Observation] = [(g.block_start(k), g.block_steps, "up") for k in full[svc]]
            mine = refine[svc]
            obs += [(t, 1, st) for t, st in points.get(svc, {}).items() if g.block_of(t) in mine]
            if obs:
                first = min(obs)
                last = max(obs)
                tl.first_seen = float(first[0])
                tl.last_seen = float(last[0] + last[1] * g.step)
            spans = spans_from_observations(obs, g.step)
            tl.intervals = to_intervals(svc, backdate_down(spans, starts.get(svc, {}), g.step))
            tl.full_blocks, tl.refined_blocks = len(full[svc]), len(mine)
            out[svc] = tl
        return out

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

    def _refine(
        self, refine: dict[str, set[int]], hi: float
    ) -> tuple[dict[str, dict[int, str]], dict[str, dict[int, float]]]:
        """Fine points and Mayor episode starts of the services' refined blocks."""
        g = self.grid
        by_block: dict[int, set[str]] = defaultdict(set)
        for svc, ks in refine.items():
            for k in ks:
                by_block[k].add(svc)
        raw: dict[str, list[tuple[int, str]]] = defaultdict(list)
        starts: dict[str, dict[int, float]] = defaultdict(dict)
        last = g.floor(hi)
        for a, b, names in plan_refinement(by_block):
            start, end = g.block_start(a), min(g.last_point(b), last)
            if end < start:
                continue
            sel = service_selector(names)
            fine = f"last_over_time({STATE}{sel}[{g.step}s]) == 1"
            for s in self.client.query_range(fine, start, end, g.step):
                svc, state = s.labels.get("service", ""), s.labels.get("state", "")
                raw[svc] += [(round(t), state) for t, _ in s.values]
            o = f"{OUTAGE}{sel}"
            hint = f"(timestamp({o}) - {o}) and ({o} > 0)"
            for s in self.client.query_range(hint, start, end, g.step):
                mine = starts[s.labels.get("service", "")]
                for t, v in s.values:
                    mine[round(t)] = min(v, mine.get(round(t), v))
        return {svc: merge_points(pts) for svc, pts in raw.items()}, starts
