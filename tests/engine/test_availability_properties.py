"""Properties of the availability engine over random timelines (hypothesis).

Timestamps are whole seconds from a base, so every sum is exact and equalities are strict.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.model import State, StateInterval, Transition
from agent.core.periods import month_bounds
from agent.engine.availability import (
    Override,
    OverrideKind,
    PeriodAvailability,
    compute_availability,
    intervals_from_transitions,
    monthly_series,
)

BASE = datetime(2024, 8, 25, tzinfo=UTC)
SPAN = 40 * 86_400  # timelines cover ~40 days around the August/September boundary
WIB = ZoneInfo("Asia/Jakarta")
STATES = [State.UP, State.DOWN, State.DEGRADED, State.UNKNOWN]

seconds = st.integers(min_value=0, max_value=SPAN)


def at(s: int) -> datetime:
    return BASE + timedelta(seconds=s)


@dataclass(frozen=True)
class TL:
    """A random service history: what the engine gets from the store."""

    transitions: list[Transition]
    last_round_at: datetime | None
    stale_after: timedelta
    maintenance: list[tuple[datetime, datetime]]
    overrides: list[Override]
    now: datetime
    monitored_since: datetime | None

    def intervals(self) -> list[StateInterval]:
        return intervals_from_transitions(
            self.transitions,
            last_round_at=self.last_round_at,
            stale_after=self.stale_after,
            now=self.now,
        )

    def avail(self, start: datetime, end: datetime) -> PeriodAvailability:
        return compute_availability(
            self.intervals(),
            self.maintenance,
            self.overrides,
            start,
            end,
            self.now,
            self.monitored_since,
        )

    def shifted(self, by: timedelta) -> TL:
        def opt(v: datetime | None) -> datetime | None:
            return None if v is None else v + by

        return TL(
            [Transition(t.service, t.at + by, t.state, t.reason) for t in self.transitions],
            opt(self.last_round_at),
            self.stale_after,
            [(a + by, b + by) for a, b in self.maintenance],
            [Override(o.start + by, o.end + by, o.as_, o.reason) for o in self.overrides],
            self.now + by,
            opt(self.monitored_since),
        )


@st.composite
def timelines(draw: st.DrawFn) -> TL:
    times = sorted(draw(st.lists(seconds, max_size=25)))
    transitions = [Transition("svc", at(t), draw(st.sampled_from(STATES))) for t in times]
    spans = st.tuples(seconds, st.integers(0, 5 * 86_400)).map(lambda p: (at(p[0]), at(sum(p))))
    kinds: st.SearchStrategy[OverrideKind] = st.sampled_from(["maintenance", "false_positive"])
    overrides = [Override(a, b, draw(kinds), "") for a, b in draw(st.lists(spans, max_size=3))]
    last = times[-1] + draw(st.integers(0, 86_400)) if times else None
    return TL(
        transitions=transitions,
        last_round_at=None if last is None else at(last),
        stale_after=timedelta(seconds=draw(st.integers(1, 3_600))),
        maintenance=draw(st.lists(spans, max_size=4)),
        overrides=overrides,
        now=at(draw(seconds)),
        monitored_since=draw(st.one_of(st.none(), seconds.map(at))),
    )


def parts(a: PeriodAvailability) -> tuple[float, ...]:
    return (
        a.up_seconds,
        a.degraded_seconds,
        a.down_seconds,
        a.maintenance_seconds,
        a.unknown_seconds,
    )


period = st.tuples(seconds, seconds).map(sorted).map(lambda p: (at(p[0]), at(p[1])))


@settings(max_examples=300, deadline=None)
@given(timelines(), period)
def test_the_five_durations_sum_to_the_clipped_period(tl: TL, p: tuple[datetime, datetime]) -> None:
    a = tl.avail(*p)
    assert all(x >= 0 for x in parts(a))
    assert sum(parts(a)) == a.counted_seconds
    expected = 0.0
    if tl.monitored_since is not None:
        lo, hi = max(p[0], tl.monitored_since), min(p[1], tl.now)
        expected = max((hi - lo).total_seconds(), 0.0)
    assert a.counted_seconds == expected


@settings(max_examples=300, deadline=None)
@given(timelines(), period)
def test_availability_and_coverage_are_percentages(tl: TL, p: tuple[datetime, datetime]) -> None:
    a = tl.avail(*p)
    for pct in (a.availability_pct, a.coverage_pct):
        assert pct is None or 0 <= pct <= 100
    assert (a.availability_pct is None) == (a.observed_seconds == 0)


@settings(max_examples=300, deadline=None)
@given(timelines(), st.lists(seconds, min_size=3, max_size=3).map(sorted))
def test_splitting_a_period_and_adding_the_parts_gives_the_whole(tl: TL, cuts: list[int]) -> None:
    s, mid, e = (at(c) for c in cuts)
    whole, left, right = tl.avail(s, e), tl.avail(s, mid), tl.avail(mid, e)
    assert parts(whole) == tuple(x + y for x, y in zip(parts(left), parts(right), strict=True))


@settings(max_examples=200, deadline=None)
@given(timelines(), period, st.integers(-400, 400))
def test_shifting_everything_by_whole_days_changes_nothing(
    tl: TL, p: tuple[datetime, datetime], days: int
) -> None:
    # WIB has no DST: a whole-day shift keeps every local time of day
    by = timedelta(days=days)
    before = tl.avail(*p)
    after = tl.shifted(by).avail(p[0] + by, p[1] + by)
    assert parts(before) == parts(after)
    assert before.availability_pct == after.availability_pct


@settings(max_examples=150, deadline=None)
@given(timelines())
def test_monthly_series_equals_each_month_computed_alone(tl: TL) -> None:
    series = monthly_series(
        tl.intervals(),
        tl.maintenance,
        tl.overrides,
        year=2024,
        month=10,
        now=tl.now,
        monitored_since=tl.monitored_since,
        tz=WIB,
        months=3,
    )
    assert list(series) == [(2024, 8), (2024, 9), (2024, 10)]
    for (y, mo), got in series.items():
        assert astuple(got) == astuple(tl.avail(*month_bounds(y, mo, WIB)))


@settings(max_examples=200, deadline=None)
@given(timelines(), period)
def test_repeating_maintenance_windows_does_not_double_count(
    tl: TL, p: tuple[datetime, datetime]
) -> None:
    twice = replace(tl, maintenance=tl.maintenance * 2)
    assert parts(tl.avail(*p)) == parts(twice.avail(*p))


@settings(max_examples=200, deadline=None)
@given(timelines())
def test_intervals_are_ordered_disjoint_and_never_beyond_now(tl: TL) -> None:
    ivs = tl.intervals()
    for iv in ivs:
        assert iv.end is not None
        assert iv.start < iv.end <= tl.now
        assert iv.state is not State.UNKNOWN
    for prev, nxt in pairwise(ivs):
        assert prev.end is not None
        assert prev.end <= nxt.start
