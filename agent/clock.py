"""The two clocks pantau uses, behind one small interface so tests can fake them.

Wall-clock time (``now``) is for event timestamps and is always timezone-aware UTC.
Monotonic time (``monotonic``) is for latency, durations and scheduling: the wall clock
can step backwards or forwards (NTP, a wrong BIOS clock), the monotonic clock cannot.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of wall-clock and monotonic time."""

    def now(self) -> datetime:
        """Current wall-clock time, aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...


class SystemClock:
    """The real clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock for tests: both clocks advance together unless the wall clock is stepped."""

    def __init__(self, start: datetime, monotonic_start: float = 1000.0) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._mono = monotonic_start

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Let real time pass: both clocks move."""
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def step_wall(self, seconds: float) -> None:
        """Step only the wall clock (NTP correction, manual change)."""
        self._now += timedelta(seconds=seconds)
