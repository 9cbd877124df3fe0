"""RPO / RTO / drill-age math, with the arithmetic of every expectation written out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.core.model import BackupObservation, Episode, State
from agent.engine.rpo import (
    RpoState,
    SourceState,
    drill_status,
    max_backup_age,
    merge,
    rpo_compliance_pct,
    rpo_status,
    rto_status,
)

H = timedelta(hours=1)
D = timedelta(days=1)


def t(day: int, hour: int = 0, minute: int = 0, month: int = 6) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def ok(at: datetime, size: int | None = 10) -> BackupObservation:
    return BackupObservation("restic-0", True, at, size, "", "")


def bad(reason: str = "wrong_password") -> BackupObservation:
    return BackupObservation("restic-0", False, None, None, reason, "boom")


# -- merge ---------------------------------------------------------------------------------------


def test_failed_check_keeps_last_known_good_backup() -> None:
    state = merge(None, ok(t(1, 2)))
    state = merge(state, bad("repo_locked"))
    state = merge(state, bad("timeout"))
    assert state.last_success_at == t(1, 2)
    assert state.size_bytes == 10
    assert (state.ok, state.reason, state.consecutive_failures) == (False, "timeout", 2)
    state = merge(state, ok(t(2, 2), size=20))
    assert (state.last_success_at, state.size_bytes, state.ok) == (t(2, 2), 20, True)
    assert state.consecutive_failures == 0


def test_failure_before_any_success_is_unknown() -> None:
    state = merge(None, bad("future_mtime"))
    assert state.last_success_at is None
    assert rpo_status([state.last_success_at], 24 * H, t(2)).state is RpoState.UNKNOWN


def test_successful_check_is_authoritative_unless_keep_newest() -> None:
    state = merge(None, ok(t(5)))
    # the newest snapshot was deleted: the age must grow back, not hide it
    assert merge(state, ok(t(4))).last_success_at == t(4)
    # a late push of an older backup must not move the time back
    assert merge(state, ok(t(4)), keep_newest=True).last_success_at == t(5)


def test_restart_starts_from_the_persisted_time() -> None:
    # FAULTS 24: after a restart the first check may be 15 min away; the age is known at once.
    state = SourceState.restored("restic-0", t(1, 2))
    status = rpo_status([state.last_success_at], 24 * H, t(2, 3))
    assert status.age == 25 * H  # 2 Jun 03:00 − 1 Jun 02:00
    assert status.breached


# -- RPO status ----------------------------------------------------------------------------------


def test_age_is_from_the_newest_source() -> None:
    status = rpo_status([t(1, 2), None, t(1, 20)], 24 * H, t(2, 8))
    assert status.newest == t(1, 20)
    assert status.age == 12 * H  # 2 Jun 08:00 − 1 Jun 20:00
    assert status.state is RpoState.OK


def test_age_exactly_at_rpo_is_not_breached() -> None:
    assert rpo_status([t(1)], 24 * H, t(2)).state is RpoState.OK
    assert rpo_status([t(1)], 24 * H, t(2) + timedelta(seconds=1)).state is RpoState.BREACHED


def test_no_backup_is_unknown_never_fresh() -> None:
    status = rpo_status([None, None], 24 * H, t(2))
    assert (status.state, status.age, status.breached) == (RpoState.UNKNOWN, None, False)


def test_future_backup_beyond_skew_is_unknown() -> None:
    assert rpo_status([t(2, 1)], 24 * H, t(2)).state is RpoState.UNKNOWN  # 1 h ahead
    small = rpo_status([t(2, 0, 3)], 24 * H, t(2))  # 3 min ahead: clock skew
    assert (small.state, small.age) == (RpoState.OK, timedelta(0))


def test_without_rpo_nothing_is_breached() -> None:
    status = rpo_status([t(1)], None, t(20))
    assert (status.state, status.age) == (RpoState.OK, 19 * D)


# -- RPO compliance over a period ------------------------------------------------------------------

# daily backups at 02:00 from 31 May to 10 June, except 5 June (missed)
DAILY = [t(31, 2, month=5)] + [t(d, 2) for d in range(1, 11) if d != 5]


def test_compliance_with_one_missed_backup() -> None:
    # Period 1–11 Jun = 240 h. Each backup covers 24 h; the 4 Jun 02:00 backup covers to
    # 5 Jun 02:00, the next is 6 Jun 02:00: 24 h outside RPO. (240 − 24) / 240 = 90 %.
    pct = rpo_compliance_pct(DAILY, 24 * H, t(1), t(11), now=t(20), monitored_since=t(1, month=1))
    assert pct == pytest.approx(90.0)


def test_compliance_counts_only_monitored_time() -> None:
    # Observed 3–11 Jun = 192 h, gap still 24 h: 168 / 192 = 87.5 %.
    pct = rpo_compliance_pct(DAILY, 24 * H, t(1), t(11), now=t(20), monitored_since=t(3))
    assert pct == pytest.approx(87.5)


def test_compliance_of_an_open_period_stops_at_now() -> None:
    # Now = 6 Jun 00:00: observed 1–6 Jun = 120 h; outside RPO 5 Jun 02:00 → 6 Jun 00:00 = 22 h.
    # (120 − 22) / 120 = 81.666… %.
    pct = rpo_compliance_pct(DAILY, 24 * H, t(1), t(11), now=t(6))
    assert pct == pytest.approx(98 / 120 * 100)


def test_time_before_the_first_backup_is_not_compliant() -> None:
    # Observed 1–3 Jun = 48 h, first backup 2 Jun 12:00 covers to 3 Jun 00:00 = 12 h → 25 %.
    assert rpo_compliance_pct([t(2, 12)], 24 * H, t(1), t(3), now=t(9)) == pytest.approx(25.0)


def test_overlapping_backups_are_not_counted_twice() -> None:
    # Backups every 6 h with RPO 24 h cover everything from the first one on: 1 Jun 00:00 → 100 %.
    times = [t(1) + 6 * H * i for i in range(8)]
    assert rpo_compliance_pct(times, 24 * H, t(1), t(3), now=t(9)) == pytest.approx(100.0)


def test_compliance_of_an_unobserved_period_is_none() -> None:
    assert rpo_compliance_pct(DAILY, 24 * H, t(1, month=7), t(2, month=7), now=t(20)) is None


def test_max_backup_age_in_period() -> None:
    # Worst gap: 4 Jun 02:00 → 6 Jun 02:00 = 48 h.
    assert max_backup_age(DAILY, t(1), t(11), now=t(20)) == 48 * H
    # Open period, now = 5 Jun 12:00: the live age 5 Jun 12:00 − 4 Jun 02:00 = 34 h is the worst.
    assert max_backup_age(DAILY, t(1), t(11), now=t(5, 12)) == 34 * H
    # Only the tail counts when it is the worst: last backup 1 Jun 02:00, period 1–4 Jun closed:
    # 4 Jun 00:00 − 1 Jun 02:00 = 70 h.
    assert max_backup_age([t(31, 2, month=5), t(1, 2)], t(1), t(4), now=t(20)) == 70 * H
    assert max_backup_age([], t(1), t(11), now=t(20)) is None


# -- RTO -----------------------------------------------------------------------------------------


def _ep(start: datetime, end: datetime | None, state: State = State.DOWN) -> Episode:
    return Episode("sipd", state, start, end)


EPISODES = [
    _ep(t(1, 10), t(1, 12, 30)),  # 2.5 h
    _ep(t(5, 8), t(5, 14)),  # 6 h
    _ep(t(7, 8), t(8, 8), State.DEGRADED),  # Minor: not an outage
    _ep(t(10, 9), None),  # ongoing
]


def test_rto_per_episode_and_live_outage() -> None:
    status = rto_status(EPISODES, 4 * H, now=t(10, 14))
    assert [e.duration for e in status.episodes] == [2.5 * H, 6 * H, 5 * H]
    assert [e.breached for e in status.episodes] == [False, True, True]
    assert status.outage == 5 * H  # 10 Jun 14:00 − 09:00
    assert status.breached  # 5 h > 4 h
    assert status.longest == 6 * H
    assert status.breaches == 2


def test_ongoing_outage_breaches_only_after_rto() -> None:
    status = rto_status([_ep(t(10, 9), None)], 4 * H, now=t(10, 12))
    assert (status.outage, status.breached) == (3 * H, False)


def test_rto_in_a_period_measures_episodes_from_their_original_start() -> None:
    # An outage from 30 Jun 22:00 to 1 Jul 03:00 is 5 h in July's report, not 3 h.
    eps = [_ep(t(30, 22), t(1, 3, month=7)), _ep(t(10, 1), t(10, 2))]
    status = rto_status(eps, 4 * H, now=t(20, month=7), start=t(1, month=7), end=t(1, month=8))
    assert [e.duration for e in status.episodes] == [5 * H]
    assert (status.longest, status.breaches, status.outage) == (5 * H, 1, timedelta(0))


def test_rto_without_target_never_breaches() -> None:
    status = rto_status(EPISODES, None, now=t(10, 14))
    assert status.breaches == 0
    assert not status.breached
    assert status.longest == 6 * H


# -- drill age -----------------------------------------------------------------------------------


def test_drill_overdue_after_a_year() -> None:
    # configured 10 Jun 2024 (a date: 00:00 in Jakarta = 9 Jun 17:00Z); recorded 15 Jan 2025
    jakarta = ZoneInfo("Asia/Jakarta")
    recorded = [datetime(2025, 1, 15, 3, 0, tzinfo=UTC)]
    now = datetime(2026, 1, 20, tzinfo=UTC)
    status = drill_status(date(2024, 6, 10), recorded, now, zone=jakarta)
    assert status.last_drill_at == recorded[0]
    assert status.age == timedelta(days=369, hours=21)  # 15 Jan 2025 03:00 → 20 Jan 2026 00:00
    assert status.overdue
    fresh = drill_status(date(2024, 6, 10), [], datetime(2024, 12, 1, tzinfo=UTC), zone=jakarta)
    assert fresh.last_drill_at == datetime(2024, 6, 9, 17, tzinfo=UTC)
    assert not fresh.overdue


def test_never_drilled_is_overdue() -> None:
    status = drill_status(None, [], t(1))
    assert (status.last_drill_at, status.age, status.overdue) == (None, None, True)
