"""The two clocks pantau uses, behind one small interface so tests can fake them.

Wall-clock time (``now``) is for event timestamps and is always timezone-aware UTC.
Monotonic time (``monotonic``) is for latency, durations and scheduling: the wall clock
can step backwards or forwards (NTP, a wrong BIOS clock), the monotonic clock cannot.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
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
