"""A fake Prometheus query API over raw samples, for the fleet report's unit tests.

It evaluates exactly the expression shapes :mod:`agent.reports.fleet.fetch` and :mod:`agent.reports.fleet.extras`
send (anything else answers an empty matrix and is recorded): ranges are left-open
``(t − range, t]`` as in Prometheus 3 and VictoriaMetrics, or closed ``[t − range, t]`` as in
Prometheus 2 (``closed=True``); subquery points are multiples of their step; an instant query
of a range selector answers the stored samples with their own timestamps. Served through
``httpx.MockTransport``, so the real client code (form posts, chunking) runs.
``tests/integration/test_fleet_month_end.py`` asks a real Prometheus and this fake the same
queries over the same samples and compares the answers.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

Labels = tuple[tuple[str, str], ...]
_DUR = re.compile(r"(\d+)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def _seconds(text: str) -> float:
    m = _DUR.fullmatch(text)
    assert m, text
    return int(m.group(1)) * _UNIT[m.group(2)]


@dataclass
class FakeProm:
    """Raw samples per series (labels include ``__name__``); scrape times per agent."""

    series: dict[Labels, list[tuple[float, float]]] = field(default_factory=dict)
    queries: list[dict[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    max_points: int = 11_000
    closed: bool = False  # Prometheus 2: a range includes a sample exactly at t − range
    _selected: dict[tuple[str, str], list[tuple[dict[str, str], list[tuple[float, float]]]]] = (
        field(default_factory=dict)
    )

    def add(self, name: str, labels: dict[str, str], t: float, value: float) -> None:
        key = tuple(sorted({**labels, "__name__": name}.items()))
        samples = self.series.setdefault(key, [])
        samples.append((t, value))
        if len(samples) > 1 and samples[-2][0] > t:
            samples.sort()
        self._selected.clear()

    # -- selection -------------------------------------------------------------------------
    def select(
        self, name: str, selector: str
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        cached = self._selected.get((name, selector))
        if cached is None:
            cached = self._selected[(name, selector)] = self._select(name, selector)
        return cached

    def _select(
        self, name: str, selector: str
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        matchers = re.findall(r'(\w+)(=~|=)"((?:[^"\\]|\\.)*)"', selector)
        out = []
        for key, samples in self.series.items():
            labels = dict(key)
            if labels["__name__"] != name:
                continue
            ok = True
            for label, op, value in matchers:
                value = value.replace("\\\\", "\\")
                have = labels.get(label, "")
                ok &= have == value if op == "=" else re.fullmatch(value, have) is not None
            if ok:
                out.append(({k: v for k, v in labels.items() if k != "__name__"}, samples))
        return out

    def window(
        self, samples: list[tuple[float, float]], t: float, rng: float
    ) -> list[tuple[float, float]]:
        if self.closed:
            lo = bisect.bisect_left(samples, (t - rng, -math.inf))
        else:
            lo = bisect.bisect_right(samples, (t - rng, math.inf))
        hi = bisect.bisect_right(samples, (t, math.inf))
        return samples[lo:hi]

    def raw(self, expr: str, t: float) -> list[dict[str, Any]] | None:
        """The samples of ``name{…}[range]`` at ``t`` (``None``: not such an expression)."""
        m = re.fullmatch(r"(\w+)(\{[^}]*\})?\[(\w+)\]", expr)
        if m is None:
            return None
        out = []
        for labels, samples in self.select(m.group(1), m.group(2) or ""):
            w = self.window(samples, t, _seconds(m.group(3)))
            if w:
                values = [[ts, repr(v)] for ts, v in w]
                out.append({"metric": {**labels, "__name__": m.group(1)}, "values": values})
        return out

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, expr: str, t: float) -> dict[Labels, float]:
        """Value per output label set at time ``t``."""
        out: dict[Labels, float] = {}
        m = re.fullmatch(
            r"(count|sum|last|min|max|avg)_over_time\((\w+)(\{[^}]*\})?\[(\w+)\]\)", expr
        )
        if m:
            fn, name, sel, rng = m.group(1), m.group(2), m.group(3) or "", _seconds(m.group(4))
            for labels, samples in self.select(name, sel):
                w = self.window(samples, t, rng)
                if w:
                    values = [v for _, v in w]
                    value = {
                        "count": len(values),
                        "sum": sum(values),
                        "last": values[-1],
                        "min": min(values),
                        "max": max(values),
                        "avg": sum(values) / len(values),
                    }[fn]
                    # last_over_time keeps the metric name (it does not change the value)
                    kept = {**labels, "__name__": name} if fn == "last" else labels
                    out[tuple(sorted(kept.items()))] = float(value)
            return out
        m = re.fullmatch(
            r"sum without \(version\) \(count_over_time\(pantau_agent_info\[(\w+)\]\)\)", expr
        )
        if m:
            agg: dict[Labels, float] = defaultdict(float)
            for labels, samples in self.select("pantau_agent_info", ""):
                n = len(self.window(samples, t, _seconds(m.group(1))))
                if n:
                    agg[_without(labels, "version")] += n
            return dict(agg)
        m = re.fullmatch(
            r"count_over_time\(\(max without \(version\) \(last_over_time\(pantau_agent_info\[(\w+)\]\)\)\)\[(\w+):(\w+)\]\)",
            expr,
        )
        if m:
            fresh, rng, step = (_seconds(g) for g in m.groups())
            points = [
                p * step for p in range(math.floor((t - rng) / step) + 1, math.floor(t / step) + 1)
            ]
            counts: dict[Labels, set[float]] = defaultdict(set)
            for labels, samples in self.select("pantau_agent_info", ""):
                for p in points:
                    if self.window(samples, p, fresh):
                        counts[_without(labels, "version")].add(p)
            return {k: float(len(v)) for k, v in counts.items()}
        self.unknown.append(expr)
        return out

    # -- HTTP ------------------------------------------------------------------------------
    def handler(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.queries.append(form)
        if request.url.path.endswith("/api/v1/query_range"):
            start, end, step = float(form["start"]), float(form["end"]), float(form["step"])
            n = math.floor((end - start) / step + 1e-9) + 1
            if n > self.max_points:
                return httpx.Response(400, json={"status": "error", "errorType": "bad_data",
                                                 "error": "exceeded maximum resolution of 11,000 points per timeseries"})  # fmt: skip
            matrix: dict[Labels, list[list[Any]]] = defaultdict(list)
            unknown = len(self.unknown)
            for i in range(n):
                if len(self.unknown) > unknown:
                    break  # an expression the fake does not know answers nothing (recorded once)
                t = start + i * step
                for key, v in self.evaluate(form["query"], t).items():
                    matrix[key].append([t, repr(v)])
            result = [{"metric": dict(k), "values": vs} for k, vs in matrix.items()]
            return httpx.Response(
                200, json={"status": "success", "data": {"resultType": "matrix", "result": result}}
            )
        t = float(form["time"])
        raw = self.raw(form["query"], t)
        if raw is not None:
            return httpx.Response(
                200, json={"status": "success", "data": {"resultType": "matrix", "result": raw}}
            )
        vector = [
            {"metric": dict(k), "value": [t, repr(v)]}
            for k, v in self.evaluate(form["query"], t).items()
        ]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": vector}}
        )

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def _without(labels: dict[str, str], *drop: str) -> Labels:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))


StateAt = Callable[[float], str | None]


def scrape_agent(
    prom: FakeProm,
    instance: str,
    services: dict[str, StateAt],
    times: list[float],
    *,
    outage_start: Callable[[str, float], float | None] | None = None,
    since: Callable[[str, float], float | None] | None = None,
) -> None:
    """Record what scraping one agent at ``times`` stores: agent info, states, outages.

    ``services[sid](t)`` is the exported state at ``t`` (``None``: not exported then);
    ``since(sid, t)`` the exported first round of the confirmed state (``None``: absent).
    """
    base = {"instance": instance, "job": "pantau"}
    for t in times:
        prom.add("pantau_agent_info", {**base, "version": "0.1.0"}, t, 1)
        for sid, state_at in services.items():
            state = state_at(t)
            if state is None:
                continue
            for s in ("up", "degraded", "down", "maintenance", "unknown"):
                prom.add(
                    "pantau_service_state",
                    {**base, "service": sid, "state": s},
                    t,
                    float(s == state),
                )
            first = since(sid, t) if since else None
            if first is not None:
                prom.add(
                    "pantau_service_state_since_timestamp_seconds",
                    {**base, "service": sid},
                    t,
                    first,
                )
            began = outage_start(sid, t) if outage_start else None
            value = 0.0 if began is None else t - began
            prom.add("pantau_service_outage_duration_seconds", {**base, "service": sid}, t, value)
