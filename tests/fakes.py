"""Hand-written fakes of pantau's own protocols, shared by the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


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

    def step(self, seconds: float) -> None:
        """Step the wall clock alone (NTP, an operator, a wrong BIOS clock): ``-3600`` is an
        hour back; the monotonic clock does not move."""
        self._now += timedelta(seconds=seconds)
