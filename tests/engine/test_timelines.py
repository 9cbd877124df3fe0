"""Hand-computed timelines: rounds → state machine → transitions → intervals → availability.

Unless a test says otherwise: one round a minute, timeout 10 s, so a round's state holds for
stale_after = 2 × 60 s + 10 s = 130 s; failure_threshold 2, recovery_threshold 1. Every
expectation is exact to the second; the arithmetic is beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.core.model import State
from agent.core.periods import month_bounds
from agent.engine.availability import Override, compute_availability, monthly_series
from tests.engine.timeline import DEG, DOWN, ISOLATED, MIN, UP, every, run

WIB = ZoneInfo("Asia/Jakarta")
T0 = datetime(2024, 9, 10, 9, 0, tzinfo=WIB).astimezone(UTC)  # a Tuesday morning
H = timedelta(hours=1)


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_outage_counts_from_first_bad_round_to_first_good_round() -> None:
    # up 0..9, down 10..14 (confirmed at 11, stamped 10), up from 15; report at 60
    tl = run(every(m(0), m(10), UP) + every(m(10), m(15), DOWN) + every(m(15), m(60), UP))
    assert tl.states() == [(m(0), State.UP), (m(10), State.DOWN), (m(15), State.UP)]
    a = tl.availability(m(0), m(60), now=m(60))
    assert a.down_seconds == 300  # 10:00 → 15:00
    assert a.up_seconds == 3300  # 3600 − 300
    assert a.unknown_seconds == 0  # last round 59:00 + 130 s reaches past now = 60:00
    assert a.availability_pct == pytest.approx(3300 / 3600 * 100)  # 91.666…
    assert a.coverage_pct == 100


def test_flapping_under_the_failure_threshold_is_no_downtime() -> None:
    # up on even minutes, down on odd ones: never 2 bad rounds in a row → never confirmed
    rounds = [(m(i), UP if i % 2 == 0 else DOWN) for i in range(60)]
    tl = run(rounds)
    assert tl.states() == [(m(0), State.UP)]
    a = tl.availability(m(0), m(60), now=m(60))
    assert (a.up_seconds, a.down_seconds, a.availability_pct) == (3600, 0, 100)


def test_agent_restart_gap_is_unknown_not_up_or_down() -> None:
    # up 0..29, agent stopped, up again 40..59
    tl = run(every(m(0), m(30), UP) + every(m(40), m(60), UP))
    a = tl.availability(m(0), m(60), now=m(60))
    assert a.unknown_seconds == 530  # 29:00 + 2:10 = 31:10 … 40:00 = 8 min 50 s
    assert a.up_seconds == 3070  # 31:10 + 20:00 = 1870 + 1200
    assert a.availability_pct == 100
    assert a.coverage_pct == pytest.approx(3070 / 3600 * 100)  # 85.277…


def test_restart_during_outage_continues_the_same_outage() -> None:
    # up 0..19, down 20..29, stopped, down 40..49, up from 50
    tl = run(
        every(m(0), m(20), UP)
        + every(m(20), m(30), DOWN)
        + every(m(40), m(50), DOWN)
        + every(m(50), m(60), UP)
    )
    assert [s for _, s in tl.states()] == [
        State.UP,
        State.DOWN,  # 20:00
        State.UNKNOWN,  # 29:00 + 2:10 = 31:10
        State.DOWN,  # resumed 40:00
        State.UP,  # 50:00
    ]
    a = tl.availability(m(0), m(60), now=m(60))
    assert a.down_seconds == 1270  # (31:10 − 20:00) + (50:00 − 40:00) = 670 + 600
    assert a.unknown_seconds == 530  # 40:00 − 31:10
    assert a.up_seconds == 1800  # 20:00 + 10:00
    assert a.availability_pct == pytest.approx(1800 / 3070 * 100)  # 58.631…


def test_maintenance_overlapping_an_outage_takes_precedence() -> None:
    # down 10..29, up from 30; maintenance 20:00–40:00
    tl = run(every(m(0), m(10), UP) + every(m(10), m(30), DOWN) + every(m(30), m(60), UP))
    a = tl.availability(m(0), m(60), now=m(60), maintenance=[(m(20), m(40))])
    assert a.maintenance_seconds == 1200  # 20:00 → 40:00
    assert a.down_seconds == 600  # 10:00 → 20:00 (20:00 → 30:00 is maintenance)
    assert a.up_seconds == 1800  # 0 → 10:00 and 40:00 → 60:00
    assert a.availability_pct == 75  # 1800 / (1800 + 600)
    assert a.coverage_pct == 100  # 2400 / (3600 − 1200)


def test_overlapping_maintenance_windows_are_not_counted_twice() -> None:
    tl = run(every(m(0), m(10), UP) + every(m(10), m(30), DOWN) + every(m(30), m(60), UP))
    windows = [(m(20), m(40)), (m(30), m(45)), (m(25), m(35))]
    a = tl.availability(m(0), m(60), now=m(60), maintenance=windows)
    assert a.maintenance_seconds == 1500  # union 20:00 → 45:00
    assert a.down_seconds == 600  # 10:00 → 20:00
    assert a.up_seconds == 1500  # 0 → 10:00 and 45:00 → 60:00
    assert a.up_seconds + a.down_seconds + a.maintenance_seconds == 3600


def test_maintenance_also_covers_time_without_data() -> None:
    # agent stopped 30..40 during a 25:00–45:00 maintenance: maintenance wins over unknown
    tl = run(every(m(0), m(30), UP) + every(m(40), m(60), UP))
    a = tl.availability(m(0), m(60), now=m(60), maintenance=[(m(25), m(45))])
    assert a.maintenance_seconds == 1200
    assert a.unknown_seconds == 0  # the gap 31:10 → 40:00 lies inside the window
    assert a.up_seconds == 2400  # 0 → 25:00 and 45:00 → 60:00


def test_outage_crossing_a_month_boundary_is_split_between_months() -> None:
    # 30 Sep 23:00 → 1 Oct 01:00 WIB, down 23:50 → 00:20
    t = datetime(2024, 9, 30, 23, 0, tzinfo=WIB).astimezone(UTC)
    tl = run(
        every(t, t + 50 * MIN, UP)
        + every(t + 50 * MIN, t + 80 * MIN, DOWN)
        + every(t + 80 * MIN, t + 120 * MIN, UP)
    )
    now = t + 2 * H
    sep, octo = month_bounds(2024, 9, WIB), month_bounds(2024, 10, WIB)
    a_sep = tl.availability(*sep, now=now)
    assert (a_sep.up_seconds, a_sep.down_seconds) == (3000, 600)  # 23:00–23:50, 23:50–24:00
    assert a_sep.unknown_seconds == 0  # counted only since the first round (dipantau sejak)
    a_oct = tl.availability(*octo, now=now)
    assert (a_oct.up_seconds, a_oct.down_seconds) == (2400, 1200)  # 00:20–01:00, 00:00–00:20
    series = monthly_series(
        tl.intervals(now), [], [], year=2024, month=10, now=now, monitored_since=t, months=2
    )
    assert series == {(2024, 9): a_sep, (2024, 10): a_oct}


def test_failure_at_17_30_utc_on_31_january_counts_in_february_in_wib() -> None:
    # FAULTS row 30: WIB February starts at 2026-01-31T17:00Z
    t = datetime(2026, 1, 31, 16, 0, tzinfo=UTC)
    tl = run(
        every(t, t + 90 * MIN, UP)
        + every(t + 90 * MIN, t + 100 * MIN, DOWN)  # 17:30Z → 17:40Z
        + every(t + 100 * MIN, t + 120 * MIN, UP)
    )
    now = t + 2 * H
    jan = tl.availability(*month_bounds(2026, 1, WIB), now=now)
    feb = tl.availability(*month_bounds(2026, 2, WIB), now=now)
    assert (jan.up_seconds, jan.down_seconds) == (3600, 0)  # 16:00Z → 17:00Z
    assert (feb.up_seconds, feb.down_seconds) == (3000, 600)  # 17:00Z → 18:00Z
    utc_jan = tl.availability(*month_bounds(2026, 1, ZoneInfo("UTC")), now=now)
    assert utc_jan.down_seconds == 600  # the same failure belongs to January in UTC


def test_period_without_any_data_is_all_unknown() -> None:
    # monitored in August until 20 Aug, nothing since; September is reported on 1 Oct
    t = datetime(2024, 8, 20, 8, 0, tzinfo=UTC)
    tl = run(every(t, t + 10 * MIN, UP))
    sep = month_bounds(2024, 9, WIB)
    a = tl.availability(*sep, now=sep[1])
    assert a.unknown_seconds == 30 * 86_400  # 30 days × 86 400 s = 2 592 000
    assert a.observed_seconds == 0
    assert a.availability_pct is None
    assert a.coverage_pct == 0


def test_never_monitored_service_counts_nothing() -> None:
    tl = run([])
    a = tl.availability(*month_bounds(2024, 9, WIB), now=datetime(2024, 10, 5, tzinfo=UTC))
    assert a.counted_seconds == 0
    assert (a.availability_pct, a.coverage_pct, a.target_met) == (None, None, None)


def test_month_to_date_is_clipped_to_now_and_the_future_counts_nothing() -> None:
    # rounds every 5 min (stale_after = 2 × 300 + 10 = 610 s) from 30 Sep 00:00 WIB
    start = datetime(2024, 9, 30, tzinfo=WIB).astimezone(UTC)
    now = datetime(2024, 10, 10, 12, 0, tzinfo=WIB).astimezone(UTC)
    five = timedelta(minutes=5)
    tl = run(every(start, now, UP, five), interval=five)
    a = tl.availability(*month_bounds(2024, 10, WIB), now=now)
    assert a.up_seconds == 9.5 * 86_400  # 1 Oct 00:00 → 10 Oct 12:00 = 820 800 s
    assert a.counted_seconds == a.up_seconds
    nov = tl.availability(*month_bounds(2024, 11, WIB), now=now)
    assert nov.counted_seconds == 0
    assert nov.availability_pct is None


def test_wall_clock_stepped_back_one_hour_counts_no_hour_twice() -> None:
    # FAULTS row 20: real minutes 0..29 at wall 0..29; then the wall clock is stepped back
    # 1 h, so real minute r is stamped r − 60. Real 85..94 are down (wall 25..34).
    rounds = [(m(r), UP) for r in range(30)]
    rounds += [(m(r - 60), DOWN if 85 <= r < 95 else UP) for r in range(30, 120)]
    tl = run(rounds)
    # wall 25..28 come before the last round (29:00): taken at 29:00, the outage starts there
    assert tl.states() == [(m(0), State.UP), (m(29), State.DOWN), (m(35), State.UP)]
    a = tl.availability(m(0), m(60), now=m(60))
    assert a.down_seconds == 360  # 29:00 → 35:00
    assert a.up_seconds == 3240  # 3600 − 360: 120 real minutes fill 60 wall minutes once
    assert a.unknown_seconds == 0
    assert min(a.up_seconds, a.down_seconds, a.unknown_seconds) >= 0


def test_wall_clock_stepped_forward_two_hours_is_unknown_not_down() -> None:
    # FAULTS row 21: wall 0..29 then +2 h: the next round is stamped 150:00
    tl = run(every(m(0), m(30), UP) + every(m(150), m(180), UP))
    a = tl.availability(m(0), m(180), now=m(180))
    assert a.down_seconds == 0
    assert a.unknown_seconds == 7130  # 31:10 → 150:00 = 118 min 50 s
    assert a.up_seconds == 3670  # 31:10 + 30:00 = 1870 + 1800
    assert a.availability_pct == 100


def test_agent_stopped_two_hours_lowers_coverage_not_availability() -> None:
    # FAULTS row 22: up 0..59, stopped, up 180..239
    tl = run(every(m(0), m(60), UP) + every(m(180), m(240), UP))
    a = tl.availability(m(0), m(240), now=m(240))
    assert a.unknown_seconds == 7130  # 61:10 → 180:00
    assert a.up_seconds == 7270  # 61:10 + 60:00 = 3670 + 3600
    assert a.availability_pct == 100
    assert a.coverage_pct == pytest.approx(7270 / 14_400 * 100)  # 50.486…


def test_agent_still_stopped_at_report_time_ends_the_data_at_stale_after() -> None:
    tl = run(every(m(0), m(30), UP))  # last round 29:00, report at 60:00
    a = tl.availability(m(0), m(60), now=m(60))
    assert a.up_seconds == 1870  # 29:00 + 2:10
    assert a.unknown_seconds == 1730  # 31:10 → 60:00


def test_degraded_time_counts_as_available() -> None:
    tl = run(every(m(0), m(10), UP) + every(m(10), m(20), DEG) + every(m(20), m(60), UP))
    a = tl.availability(m(0), m(60), now=m(60))
    assert (a.up_seconds, a.degraded_seconds, a.down_seconds) == (3000, 600, 0)
    assert a.availability_pct == 100  # (3000 + 600) / 3600


def test_down_and_degraded_switches_split_the_time() -> None:
    # down 10..14 (DOWN at 10), degraded 15..24 (DEGRADED at 15), up from 25
    tl = run(
        every(m(0), m(10), UP)
        + every(m(10), m(15), DOWN)
        + every(m(15), m(25), DEG)
        + every(m(25), m(60), UP)
    )
    a = tl.availability(m(0), m(60), now=m(60))
    assert (a.down_seconds, a.degraded_seconds, a.up_seconds) == (300, 600, 2700)
    assert a.availability_pct == pytest.approx(3300 / 3600 * 100)  # (2700 + 600) / 3600


def test_agent_isolated_rounds_are_unknown() -> None:
    tl = run(every(m(0), m(10), UP) + every(m(10), m(20), ISOLATED) + every(m(20), m(60), UP))
    a = tl.availability(m(0), m(60), now=m(60))
    assert (a.unknown_seconds, a.up_seconds, a.down_seconds) == (600, 3000, 0)  # 10:00 → 20:00


def test_operator_overrides_reclassify_an_outage() -> None:
    tl = run(every(m(0), m(10), UP) + every(m(10), m(15), DOWN) + every(m(15), m(60), UP))
    fp = tl.availability(
        m(0), m(60), now=m(60), overrides=[Override(m(10), m(15), "false_positive", "probe bug")]
    )
    assert (fp.up_seconds, fp.down_seconds, fp.availability_pct) == (3600, 0, 100)
    mt = tl.availability(
        m(0), m(60), now=m(60), overrides=[Override(m(10), m(15), "maintenance", "unplanned")]
    )
    assert (mt.maintenance_seconds, mt.down_seconds, mt.up_seconds) == (300, 0, 3300)
    assert mt.coverage_pct == 100  # 3300 / (3600 − 300)


def test_first_round_inside_the_month_starts_the_count_there() -> None:
    # dipantau sejak 15 Sep 00:00 WIB, rounds every 5 min until 1 Oct
    start = datetime(2024, 9, 15, tzinfo=WIB).astimezone(UTC)
    five = timedelta(minutes=5)
    sep = month_bounds(2024, 9, WIB)
    tl = run(every(start, sep[1], UP, five), interval=five)
    a = tl.availability(*sep, now=sep[1] + H)
    assert a.counted_start == start
    assert a.up_seconds == 16 * 86_400  # 15 Sep → 1 Oct = 16 days = 1 382 400 s
    assert a.unknown_seconds == 0
    assert a.monitored_since == start


def test_target_met_compares_realisation_with_the_target() -> None:
    # 7 min down in 24 h: 1 − 420 / 86 400 = 99.5138…% → meets 99.5, misses 99.9
    day = datetime(2024, 9, 3, tzinfo=WIB).astimezone(UTC)
    tl = run(
        every(day, day + 600 * MIN, UP)
        + every(day + 600 * MIN, day + 607 * MIN, DOWN)
        + every(day + 607 * MIN, day + 1440 * MIN, UP)
    )
    end = day + 24 * H
    intervals = tl.intervals(end)
    a = compute_availability(intervals, [], [], day, end, end, day, target_pct=99.5)
    assert a.down_seconds == 420
    assert a.availability_pct == pytest.approx((86_400 - 420) / 86_400 * 100)
    assert a.target_met is True
    b = compute_availability(intervals, [], [], day, end, end, day, target_pct=99.9)
    assert b.target_met is False


def test_false_positive_across_a_month_boundary_in_the_twelve_month_series() -> None:
    # down 30 Sep 23:30 → 1 Oct 00:30 WIB; the operator clears 23:40 → 00:10 as a false positive
    t = datetime(2024, 9, 30, 23, 0, tzinfo=WIB).astimezone(UTC)
    tl = run(
        every(t, t + 30 * MIN, UP)
        + every(t + 30 * MIN, t + 90 * MIN, DOWN)
        + every(t + 90 * MIN, t + 120 * MIN, UP)
    )
    now = t + 2 * H
    fp = [Override(t + 40 * MIN, t + 70 * MIN, "false_positive", "probe salah")]
    series = monthly_series(
        tl.intervals(now), [], fp, year=2024, month=10, now=now, monitored_since=t
    )
    assert len(series) == 12
    sep, octo = series[(2024, 9)], series[(2024, 10)]
    assert (sep.up_seconds, sep.down_seconds) == (
        3000,
        600,
    )  # 23:00–23:30 + 23:40–24:00; 23:30–23:40
    assert (octo.up_seconds, octo.down_seconds) == (
        2400,
        1200,
    )  # 00:00–00:10 + 00:30–01:00; 00:10–00:30
    assert series[(2024, 8)].counted_seconds == 0  # before dipantau sejak
    assert sep == tl.availability(*month_bounds(2024, 9, WIB), now=now, overrides=fp)


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2024, 9, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        compute_availability([], [], [], naive, m(60), m(60), m(0))
