"""RPO, RTO and drill-age math (SPEC §4). Pure: no I/O, ``now`` is always a parameter.

- :func:`merge` folds a source's new observation into its state. A failed observation never
  resets the last known good backup time (FAULTS 24/25): after a restart the agent starts from
  the persisted time, so a breach is visible before the first check has even run.
- :func:`rpo_status`: backup age = now − newest successful backup across sources. No known
  backup → ``unknown`` (never fresh); RPO breached when age > rpo.
- :func:`rpo_compliance_pct` / :func:`max_backup_age`: the month's view of the same age.
- :func:`rto_status`: each Mayor (down) episode's duration vs RTO, the live outage, the longest.
- :func:`drill_status`: whether the newest restore drill is older than the allowed age.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from agent.core.model import CLOCK_SKEW, BackupObservation, Episode, State

ZERO = timedelta(0)


@dataclass(frozen=True)
class SourceState:
    """What the agent knows about one backup source between checks (persisted by the store)."""

    source: str
    last_success_at: datetime | None  # aware UTC; survives failed checks and restarts
    size_bytes: int | None  # size of that backup, when known
    ok: bool  # the latest observation succeeded
    reason: str  # the latest observation's reason ('' when ok)
    detail: str
    consecutive_failures: int = 0

    @classmethod
    def restored(cls, source: str, last_success_at: datetime | None) -> SourceState:
        """State rebuilt from the store after a restart, before the first check."""
        return cls(source, last_success_at, None, last_success_at is not None, "", "")


def merge(
    previous: SourceState | None, observation: BackupObservation, *, keep_newest: bool = False
) -> SourceState:
    """Fold ``observation`` into ``previous``.

    A failed observation keeps the previous last success and size. A successful one is
    authoritative about what exists now — if the newest snapshot was deleted, the age must grow
    back, not hide it — unless ``keep_newest`` (for event-like sources such as push, where an
    older report arriving late must not move the time back).
    """
    prev_time = previous.last_success_at if previous else None
    prev_size = previous.size_bytes if previous else None
    if not observation.ok or observation.last_success_at is None:
        failures = (previous.consecutive_failures if previous else 0) + 1
        return SourceState(
            observation.source,
            prev_time,
            prev_size,
            False,
            observation.reason or "unknown",
            observation.detail,
            failures,
        )
    new_time, new_size = observation.last_success_at, observation.size_bytes
    if keep_newest and prev_time is not None and prev_time > new_time:
        new_time, new_size = prev_time, prev_size
    return SourceState(observation.source, new_time, new_size, True, "", observation.detail, 0)


class RpoState(StrEnum):
    """RPO verdict of a service."""

    OK = "ok"
    BREACHED = "breached"
    UNKNOWN = "unknown"  # no backup known, or dated in the future: never "fresh"


@dataclass(frozen=True)
class RpoStatus:
    """Backup age of a service at ``now`` and its RPO verdict."""

    state: RpoState
    newest: datetime | None
    age: timedelta | None
    rpo: timedelta | None

    @property
    def breached(self) -> bool:
        return self.state is RpoState.BREACHED


def newest_success(times: Iterable[datetime | None]) -> datetime | None:
    """The newest of the sources' last successes (``None`` when no source has one)."""
    known = [t for t in times if t is not None]
    return max(known) if known else None


def rpo_status(
    last_successes: Iterable[datetime | None], rpo: timedelta | None, now: datetime
) -> RpoStatus:
    """Backup age = now − newest successful backup across sources; breached when age > rpo.

    A backup within :data:`CLOCK_SKEW` in the future has age 0; beyond it the age is unknown.
    Without an ``rpo`` nothing can be breached (state ``ok`` when the age is known).
    """
    newest = newest_success(last_successes)
    if newest is None or newest > now + CLOCK_SKEW:
        return RpoStatus(RpoState.UNKNOWN, newest, None, rpo)
    age = max(now - newest, ZERO)
    state = RpoState.BREACHED if rpo is not None and age > rpo else RpoState.OK
    return RpoStatus(state, newest, age, rpo)


def _window(
    start: datetime, end: datetime, now: datetime, monitored_since: datetime | None
) -> tuple[datetime, datetime]:
    lo = max(start, monitored_since) if monitored_since is not None else start
    return lo, min(end, now)


def rpo_compliance_pct(
    backup_times: Sequence[datetime],
    rpo: timedelta,
    start: datetime,
    end: datetime,
    now: datetime,
    monitored_since: datetime | None = None,
) -> float | None:
    """Percent of the period's observed time during which the backup age was within ``rpo``.

    The observed time is [max(start, monitored_since), min(end, now)). At instant t the age is
    t − (newest backup ≤ t); it is within RPO on [b, b + rpo] after each backup b. Time before any
    known backup counts as not within RPO. Pass the successful backup times of the period plus
    the last one before it. ``None`` when nothing of the period was observed.
    """
    lo, hi = _window(start, end, now, monitored_since)
    if hi <= lo:
        return None
    covered = ZERO
    reach = lo  # everything before ``reach`` is already counted
    for b in sorted(backup_times):
        seg_start = max(b, reach)
        seg_end = min(b + rpo, hi)
        if seg_end > seg_start:
            covered += seg_end - seg_start
            reach = seg_end
    return 100.0 * (covered / (hi - lo))


def max_backup_age(
    backup_times: Sequence[datetime],
    start: datetime,
    end: datetime,
    now: datetime,
    monitored_since: datetime | None = None,
) -> timedelta | None:
    """The largest backup age reached during the observed part of the period.

    The age peaks just before each backup and at the end of the window. Time before the first
    known backup has no age and is left out (it already shows as non-compliance). ``None`` when
    no backup precedes the end of the window.
    """
    lo, hi = _window(start, end, now, monitored_since)
    times = sorted(t for t in backup_times if t <= hi)
    if hi <= lo or not times:
        return None
    worst = ZERO
    for prev, nxt in zip(times, [*times[1:], hi], strict=True):
        if nxt > lo:  # the age just before ``nxt`` counts only inside the window
            worst = max(worst, nxt - prev)
    return worst


@dataclass(frozen=True)
class EpisodeRto:
    """One Mayor episode measured against the RTO."""

    start: datetime
    end: datetime | None  # None while ongoing
    duration: timedelta  # to ``end``, or to ``now`` while ongoing
    breached: bool


@dataclass(frozen=True)
class RtoStatus:
    """RTO view of a service: the live outage and every Mayor episode considered."""

    rto: timedelta | None
    outage: timedelta  # current Mayor episode's duration; 0 when the service is not down
    breached: bool  # the current outage exceeds the RTO
    episodes: tuple[EpisodeRto, ...]
    longest: timedelta | None  # the longest recovery among ``episodes``
    breaches: int  # episodes (ended or ongoing) that exceeded the RTO


def rto_status(
    episodes: Iterable[Episode],
    rto: timedelta | None,
    now: datetime,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> RtoStatus:
    """Each Mayor episode's duration vs ``rto`` (an ongoing one is measured to ``now``).

    With ``start``/``end`` only episodes overlapping that period count for ``longest`` and
    ``breaches``; an episode is always measured whole, from its original start (FAULTS 23), even
    when it began in an earlier period. Minor (degraded) episodes are not outages.
    """
    measured: list[EpisodeRto] = []
    outage = ZERO
    live_breach = False
    for ep in episodes:
        if ep.state is not State.DOWN:
            continue
        stop = ep.end if ep.end is not None else now
        duration = max(stop - ep.start, ZERO)
        over = rto is not None and duration > rto
        if ep.end is None and ep.start <= now:
            outage = max(outage, duration)
            live_breach = live_breach or over
        if start is not None and stop <= start:
            continue
        if end is not None and ep.start >= end:
            continue
        measured.append(EpisodeRto(ep.start, ep.end, duration, over))
    return RtoStatus(
        rto=rto,
        outage=outage,
        breached=live_breach,
        episodes=tuple(measured),
        longest=max((m.duration for m in measured), default=None),
        breaches=sum(m.breached for m in measured),
    )


@dataclass(frozen=True)
class DrillAge:
    """How long ago the newest restore drill was, and whether another is due."""

    last_drill_at: datetime | None
    age: timedelta | None
    overdue: bool  # never drilled, or older than the allowed age


def drill_status(
    configured: date | None,
    recorded: Iterable[datetime],
    now: datetime,
    *,
    max_age: timedelta = timedelta(days=365),
    zone: tzinfo = UTC,
) -> DrillAge:
    """The newest of ``drp.last_drill`` (a date: its start in ``zone``) and the recorded drills."""
    candidates = [t.astimezone(UTC) for t in recorded]
    if configured is not None:
        candidates.append(datetime.combine(configured, time(0), zone).astimezone(UTC))
    if not candidates:
        return DrillAge(None, None, True)
    last = max(candidates)
    age = max(now - last, ZERO)
    return DrillAge(last, age, age > max_age)
