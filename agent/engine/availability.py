"""Availability of a service over calendar periods (SPEC §4) — pure: no I/O, no clock reads.

Pipeline: transitions (from :mod:`agent.engine.statemachine`) → :func:`intervals_from_transitions`
→ :func:`compute_availability` / :func:`monthly_series`.

Counting rules, in order of precedence for every instant of a period:

1. outside ``[max(period start, monitored_since), min(period end, now))`` → not counted at all
   (before the first round ever the report says *dipantau sejak*; the future has not happened);
2. inside a maintenance window (configured, or an operator override ``as_="maintenance"``) →
   ``maintenance``, whatever the data says; overlapping windows are merged, never counted twice;
3. not covered by any state interval → ``unknown`` (agent stopped, clock jump, isolated);
4. ``down``/``degraded`` inside a ``false_positive`` override → ``up`` (the operator says the
   probe was wrong); unknown time stays unknown — a false positive does not invent data;
5. otherwise the interval's state.

``availability = (up + degraded) / (up + degraded + down) × 100`` (``None`` without observed
time) and ``coverage = observed / (counted − maintenance) × 100``.

Month boundaries are computed in the report zone (default Asia/Jakarta) and subtracted in UTC:
WIB midnight of 1 February 2026 is 2026-01-31T17:00Z, so a failure at 17:30Z counts in
February. Time is handled internally as integer microseconds since the epoch so long sums are
exact; results are reported in seconds.

Period labels use the Indonesian month abbreviations of CLDR ``id`` (Jan Feb Mar Apr Mei Jun
Jul Agu Sep Okt Nov Des): the Pedoman's example ``Sep-2024`` reads the same in English and
Indonesian, every other label on the Formulir is in Bahasa Indonesia (SPEC §8), and the
machine-readable key stays ``YYYY-MM``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from agent.core.errors import ReportRequestError
from agent.core.model import State, StateInterval, Transition

DEFAULT_ZONE = ZoneInfo("Asia/Jakarta")
MONTH_ABBR_ID = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

OverrideKind = Literal["maintenance", "false_positive"]


# ---------------------------------------------------------------------------------- periods
def month_bounds(year: int, month: int, tz: ZoneInfo = DEFAULT_ZONE) -> tuple[datetime, datetime]:
    """The calendar month in ``tz`` as aware UTC ``[start, end)``."""
    start = datetime(year, month, 1, tzinfo=tz)
    nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), nxt.astimezone(UTC)


def period_of(ts: datetime, tz: ZoneInfo = DEFAULT_ZONE) -> tuple[int, int]:
    """``(year, month)`` of the calendar month in ``tz`` that contains ``ts``."""
    local = ts.astimezone(tz)
    return local.year, local.month


def parse_period(text: str) -> tuple[int, int]:
    """Parse ``YYYY-MM`` (the ``--period`` option) into ``(year, month)``."""
    m = _PERIOD.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
        raise ReportRequestError(f"invalid period {text!r}: use YYYY-MM, e.g. 2024-09")
    return int(m.group(1)), int(m.group(2))


def period_label(year: int, month: int) -> str:
    """The Formulir's Periode label, e.g. ``Sep-2024``, ``Agu-2024`` (see module docstring)."""
    return f"{MONTH_ABBR_ID[month - 1]}-{year}"


def previous_months(year: int, month: int, count: int) -> list[tuple[int, int]]:
    """``count`` months ending with ``(year, month)``, oldest first."""
    index = year * 12 + month - 1
    return [(i // 12, i % 12 + 1) for i in range(index - count + 1, index + 1)]


# -------------------------------------------------------------------------------- intervals
def intervals_from_transitions(
    transitions: Sequence[Transition],
    *,
    last_round_at: datetime | None,
    stale_after: timedelta,
    now: datetime,
) -> list[StateInterval]:
    """Closed state intervals of one service from its transitions (oldest first).

    Each non-``UNKNOWN`` transition holds until the next transition; the last one holds until
    ``min(now, last_round_at + stale_after)`` and the time after that is unknown (no interval).
    Nothing is returned beyond ``now``. A transition stamped before its predecessor is taken
    at the predecessor's time (as the state machine does), so no instant is counted twice.
    """
    if not transitions:
        return []
    last = transitions[-1]
    tail_end = (last_round_at if last_round_at is not None else last.at) + stale_after
    spans: list[tuple[Transition, datetime, datetime]] = []  # (transition, start, end)
    floor = transitions[0].at
    for k, tr in enumerate(transitions):
        start = tr.at if tr.at > floor else floor
        floor = start
        end = transitions[k + 1].at if k + 1 < len(transitions) else tail_end
        end = now if end > now else end
        if end <= start or tr.state is State.UNKNOWN:
            continue
        if spans and spans[-1][0].state is tr.state and spans[-1][2] == start:
            spans[-1] = (spans[-1][0], spans[-1][1], end)  # e.g. a restart without a gap
        else:
            spans.append((tr, start, end))
    return [StateInterval(t.service, t.state, a, b, t.reason) for t, a, b in spans]


# ----------------------------------------------------------------------------- computation
@dataclass(frozen=True)
class Override:
    """An operator reclassifying ``[start, end)``: as maintenance, or as a false positive (up)."""

    start: datetime
    end: datetime
    as_: OverrideKind
    reason: str = ""


@dataclass(frozen=True)
class PeriodAvailability:
    """Counted time of one period; the five ``*_seconds`` sum to ``counted_seconds``."""

    start: datetime  # period bounds, aware UTC
    end: datetime
    counted_start: datetime  # max(start, monitored_since); == counted_end when nothing counted
    counted_end: datetime  # min(end, now)
    up_seconds: float
    degraded_seconds: float
    down_seconds: float
    maintenance_seconds: float
    unknown_seconds: float
    monitored_since: datetime | None
    target_pct: float | None = None

    @property
    def counted_seconds(self) -> float:
        return (self.counted_end - self.counted_start).total_seconds()

    @property
    def observed_seconds(self) -> float:
        """Time with data, outside maintenance: up + degraded + down."""
        return self.up_seconds + self.degraded_seconds + self.down_seconds

    @property
    def availability_pct(self) -> float | None:
        """(up + degraded) / (up + degraded + down) × 100, ``None`` without observed time."""
        observed = self.observed_seconds
        if observed <= 0:
            return None
        return (self.up_seconds + self.degraded_seconds) / observed * 100.0

    @property
    def coverage_pct(self) -> float | None:
        """observed / (counted − maintenance) × 100, ``None`` when nothing could be observed."""
        base = self.counted_seconds - self.maintenance_seconds
        return None if base <= 0 else self.observed_seconds / base * 100.0

    @property
    def target_met(self) -> bool | None:
        """Realisasi ≥ target; ``None`` without a target or without observed time."""
        pct = self.availability_pct
        if pct is None or self.target_pct is None:
            return None
        return pct >= self.target_pct


def _require_aware(**values: datetime | None) -> None:
    # a naive datetime would silently be read as the host's local time by .timestamp()
    for name, ts in values.items():
        if ts is not None and ts.utcoffset() is None:
            raise ValueError(f"{name}={ts.isoformat()} is naive: pass an aware UTC datetime")


def _us(ts: datetime) -> int:
    return round(ts.timestamp() * _US)


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _merge(spans: Iterable[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """Clip spans to ``[lo, hi)`` and merge overlapping/touching ones (sorted, disjoint)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted((max(a, lo), min(b, hi)) for a, b in spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _split(
    a: int, b: int, spans: list[tuple[int, int]], i: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int]:
    """Split ``[a, b)`` by sorted disjoint ``spans`` into (outside, inside) pieces.

    ``i`` is where to start scanning ``spans``; the returned index lets a caller whose segments
    come in increasing order scan each span once overall.
    """
    while i < len(spans) and spans[i][1] <= a:
        i += 1
    outside: list[tuple[int, int]] = []
    inside: list[tuple[int, int]] = []
    j = i
    while j < len(spans) and spans[j][0] < b and a < b:
        sa, sb = spans[j]
        if sa > a:
            outside.append((a, sa))
        inside.append((max(a, sa), min(b, sb)))
        a = sb
        j += 1
    if a < b:
        outside.append((a, b))
    return outside, inside, i


_UP, _DEGRADED, _DOWN, _MAINT = range(4)
_KIND = {State.UP: _UP, State.DEGRADED: _DEGRADED, State.DOWN: _DOWN, State.MAINTENANCE: _MAINT}


def _sweep(
    intervals: Sequence[StateInterval],
    maintenance: Sequence[tuple[datetime, datetime]],
    overrides: Sequence[Override],
    bins: list[tuple[int, int]],
    now: datetime,
    monitored_since: datetime | None,
) -> list[list[int]]:
    """Microseconds of [up, degraded, down, maintenance] per bin, in one pass over the data.

    ``bins`` are sorted disjoint ``[start, end)`` periods; unknown is what remains of each.
    """
    sums = [[0, 0, 0, 0] for _ in bins]
    if monitored_since is None or not bins:
        return sums
    lo, hi = max(bins[0][0], _us(monitored_since)), min(bins[-1][1], _us(now))
    if hi <= lo:
        return sums
    maint = _merge(
        [(_us(s), _us(e)) for s, e in maintenance]
        + [(_us(o.start), _us(o.end)) for o in overrides if o.as_ == "maintenance"],
        lo,
        hi,
    )
    fp = _merge(
        [(_us(o.start), _us(o.end)) for o in overrides if o.as_ == "false_positive"], lo, hi
    )
    pieces: list[tuple[int, int, int]] = [(a, b, _MAINT) for a, b in maint]
    _accumulate(pieces, bins, sums)
    pieces.clear()
    mi = fi = 0
    n_maint, n_fp = len(maint), len(fp)
    floor = lo
    for iv in sorted(intervals, key=lambda iv: iv.start):
        kind = _KIND.get(iv.state)
        if kind is None or iv.end is None:
            continue  # unknown stretches and open intervals carry no counted time
        a, b = round(iv.start.timestamp() * _US), round(iv.end.timestamp() * _US)  # inlined _us
        a = floor if a < floor else a
        b = hi if b > hi else b
        if b <= a:
            continue
        floor = b  # overlapping (malformed) input must not count an instant twice
        while mi < n_maint and maint[mi][1] <= a:
            mi += 1
        if mi == n_maint or maint[mi][0] >= b:  # the common case: no maintenance here
            kept = [(a, b)]
        else:
            kept, _, mi = _split(a, b, maint, mi)
        for pa, pb in kept:
            if kind in (_DEGRADED, _DOWN):
                while fi < n_fp and fp[fi][1] <= pa:
                    fi += 1
            if kind in (_DEGRADED, _DOWN) and fi < n_fp and fp[fi][0] < pb:
                bad, cleared, fi = _split(pa, pb, fp, fi)
                # in time order: _accumulate walks the bins forward only
                pieces += sorted([(x, y, _UP) for x, y in cleared] + [(x, y, kind) for x, y in bad])
            else:
                pieces.append((pa, pb, kind))
    _accumulate(pieces, bins, sums)
    return sums


def _accumulate(
    pieces: list[tuple[int, int, int]], bins: list[tuple[int, int]], sums: list[list[int]]
) -> None:
    """Add each piece's length to its bins; pieces come in increasing order of start."""
    k, n = 0, len(bins)
    for a, b, kind in pieces:
        while k < n and bins[k][1] <= a:
            k += 1
        if k == n:
            return
        start, end = bins[k]
        if start <= a and b <= end:  # the common case: inside one bin
            sums[k][kind] += b - a
            continue
        j = k
        while j < n and bins[j][0] < b:
            overlap = min(b, bins[j][1]) - max(a, bins[j][0])
            if overlap > 0:
                sums[j][kind] += overlap
            j += 1


def _result(
    bin_: tuple[int, int],
    sums: list[int],
    now: datetime,
    monitored_since: datetime | None,
    target_pct: float | None,
) -> PeriodAvailability:
    start, end = _dt(bin_[0]), _dt(bin_[1])
    c_end = max(min(end, now), start)
    c_start = c_end if monitored_since is None else min(max(start, monitored_since), c_end)
    counted = _us(c_end) - _us(c_start)
    return PeriodAvailability(
        start=start,
        end=end,
        counted_start=c_start,
        counted_end=c_end,
        up_seconds=sums[_UP] / _US,
        degraded_seconds=sums[_DEGRADED] / _US,
        down_seconds=sums[_DOWN] / _US,
        maintenance_seconds=sums[_MAINT] / _US,
        unknown_seconds=(counted - sum(sums)) / _US,
        monitored_since=monitored_since,
        target_pct=target_pct,
    )


def compute_availability(
    intervals: Sequence[StateInterval],
    maintenance: Sequence[tuple[datetime, datetime]],
    overrides: Sequence[Override],
    start: datetime,
    end: datetime,
    now: datetime,
    monitored_since: datetime | None,
    target_pct: float | None = None,
) -> PeriodAvailability:
    """Availability of ``[start, end)`` clipped to ``now`` and to ``monitored_since``.

    ``monitored_since`` is the first round ever (``None``: never monitored, nothing counted).
    See the module docstring for the precedence of maintenance, overrides and unknown time.
    """
    _require_aware(start=start, end=end, now=now, monitored_since=monitored_since)
    bin_ = (_us(start), _us(end))
    sums = _sweep(intervals, maintenance, overrides, [bin_], now, monitored_since)
    return _result(bin_, sums[0], now, monitored_since, target_pct)


def monthly_series(
    intervals: Sequence[StateInterval],
    maintenance: Sequence[tuple[datetime, datetime]],
    overrides: Sequence[Override],
    *,
    year: int,
    month: int,
    now: datetime,
    monitored_since: datetime | None,
    tz: ZoneInfo = DEFAULT_ZONE,
    months: int = 12,
    target_pct: float | None = None,
) -> dict[tuple[int, int], PeriodAvailability]:
    """Availability of the ``months`` calendar months ending with ``(year, month)``.

    One pass over the intervals for all months (the 12-month trend of the Formulir); the
    result is keyed by ``(year, month)``, oldest first, and each value equals what
    :func:`compute_availability` gives for that month alone.
    """
    _require_aware(now=now, monitored_since=monitored_since)
    periods = previous_months(year, month, months)
    bins = [(_us(s), _us(e)) for s, e in (month_bounds(y, m, tz) for y, m in periods)]
    sums = _sweep(intervals, maintenance, overrides, bins, now, monitored_since)
    return {
        p: _result(b, s, now, monitored_since, target_pct)
        for p, b, s in zip(periods, bins, sums, strict=True)
    }
