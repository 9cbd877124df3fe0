"""Helpers for the store tests: every test runs on a real SQLite file under ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.core.model import CheckOutcome, Outcome, Round
from agent.store.database import Store
from tests.fakes import FakeClock

T0 = datetime(2024, 9, 1, tzinfo=UTC)


def at(minutes: float = 0.0, *, days: float = 0.0) -> datetime:
    """``T0`` plus an offset."""
    return T0 + timedelta(days=days, minutes=minutes)


def make_round(
    service: str,
    started: datetime,
    outcome: Outcome = Outcome.UP,
    reason: str = "",
    detail: str = "",
) -> Round:
    """A round with one http check whose reason/detail can carry a tag."""
    check = CheckOutcome(
        check="http-0",
        type="http",
        outcome=outcome,
        reason=reason,
        latency=0.125,
        status_code=200 if outcome is Outcome.UP else 503,
        detail=detail,
    )
    return Round(service, started, outcome, (reason,) if reason else (), (check,))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    s = Store.open(tmp_path, clock=clock)
    yield s
    s.close()
