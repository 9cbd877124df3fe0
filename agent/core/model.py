"""Domain records shared by the engine, the store and the exporters (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

#: The one resolution of event times (rounds, transitions, episodes, tickets): whole
#: milliseconds, what the store keeps. An episode is identified by its start, so the start the
#: running agent sees must be the very value it reads back from the store after a restart;
#: times are cut to this resolution where they are made (:func:`event_time`), never compared
#: with a tolerance.
EVENT_RESOLUTION = timedelta(milliseconds=1)


def event_time(at: datetime) -> datetime:
    """``at`` cut to :data:`EVENT_RESOLUTION` (rounded down, exactly as the store rounds)."""
    return at.replace(microsecond=at.microsecond - at.microsecond % 1000)


class Outcome(StrEnum):
    """Result of one check, or one round of a service."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


class State(StrEnum):
    """Confirmed state of a service over time (SPEC §4, metric pantau_service_state)."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CheckOutcome:
    """One check's part of a round."""

    check: str
    type: str
    outcome: Outcome
    reason: str
    latency: float
    status_code: int | None = None
    tls_expiry: datetime | None = None
    detail: str = ""


@dataclass(frozen=True)
class Round:
    """All checks of one service run once; ``outcome`` is the round's verdict (SPEC §4)."""

    service: str
    started_at: datetime  # aware UTC
    outcome: Outcome
    reasons: tuple[str, ...]
    checks: tuple[CheckOutcome, ...] = ()
    #: the agent's own connectivity failed: the round says nothing about the service.
    agent_isolated: bool = False


@dataclass(frozen=True)
class Transition:
    """From ``at`` on, the confirmed state of ``service`` is ``state`` (healthchecks' Flip).

    Stamped when the state changed (the first bad round), not when it was confirmed. A
    service's transitions are appended in non-decreasing ``at`` order; ``UNKNOWN`` marks the
    start of a stretch without data (agent stopped, clock jump, agent isolated).
    """

    service: str
    at: datetime  # aware UTC
    state: State
    reason: str = ""


@dataclass(frozen=True)
class StateInterval:
    """The confirmed state of a service from ``start`` (inclusive) to ``end`` (exclusive).

    ``end`` is ``None`` while the interval is open (the current state). Intervals of one service
    never overlap; gaps between them are time with no data (unknown).
    """

    service: str
    state: State
    start: datetime
    end: datetime | None
    reason: str = ""


#: Flap detection's defaults (``defaults.flap_threshold`` / ``defaults.flap_window``): an
#: up↔bad change is flapping when some window of this length holding it holds this many
#: changes — two full down/up cycles within an hour (Checkmk/Nagios-style, as a count).
FLAP_THRESHOLD = 4
FLAP_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Episode:
    """A confirmed bad stretch (down = Mayor, degraded = Minor) — the basis of a gangguan."""

    service: str
    state: State  # DOWN or DEGRADED
    start: datetime  # first bad round
    end: datetime | None  # first good round; None while ongoing
    reasons: tuple[str, ...] = ()
    flapping: bool = False
    extra: dict[str, str] = field(default_factory=dict)


#: How far in the future a backup time may be before it is distrusted: the writer's clock (an
#: NFS server, another host) may run a little ahead. Beyond it: ``future_*`` reasons, age unknown.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class BackupObservation:
    """What one check of one backup source saw.

    ``last_success_at`` is the finish time of the newest good backup the source can prove (aware
    UTC), ``None`` when it cannot prove any. ``size_bytes`` is that backup's size when cheaply
    known. ``detail`` is short human text with secrets scrubbed.
    """

    source: str
    ok: bool
    last_success_at: datetime | None
    size_bytes: int | None
    reason: str
    detail: str
