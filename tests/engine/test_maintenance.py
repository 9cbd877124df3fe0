"""The maintenance rule at an instant: which windows a service has and what state it shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.core.model import State
from agent.engine.availability import in_maintenance, maintenance_windows, shown_state
from tests.engine.katalog import with_maintenance

# 22:00–02:00 WIB on the night of 14 September 2024
START, END = datetime(2024, 9, 14, 15, tzinfo=UTC), datetime(2024, 9, 14, 19, tzinfo=UTC)
SIPD = with_maintenance((START, END, "upgrade"))
SECOND = timedelta(seconds=1)


def test_configured_windows_are_start_end_spans() -> None:
    assert maintenance_windows(SIPD) == [(START, END)]


@pytest.mark.parametrize(
    ("at", "inside"),
    [(START - SECOND, False), (START, True), (END - SECOND, True), (END, False)],
)
def test_a_window_is_half_open(at: datetime, inside: bool) -> None:
    assert in_maintenance(SIPD, at) is inside


def test_maintenance_is_shown_whatever_the_probes_say() -> None:
    assert shown_state(SIPD, State.DOWN, START) is State.MAINTENANCE
    assert shown_state(SIPD, State.UNKNOWN, START) is State.MAINTENANCE
    assert shown_state(SIPD, State.DOWN, END) is State.DOWN
