"""Episodes: confirmed bad stretches of a service, found in its transitions (pure).

An episode is a contiguous stretch of confirmed non-UP state (down and degraded, across
unknown gaps and down↔degraded switches); it starts at its first bad transition and ends at
the next UP transition (``None`` while ongoing). Its state is DOWN (Mayor) if it ever was down,
else DEGRADED (Minor).

**Flapping** (Checkmk/Nagios-style, as a count): an up↔bad change is flapping when some
``flap_window`` containing it holds at least ``flap_threshold`` changes; an episode is
flapping when its start or its end is. A **flapping period is one episode**: when the short up
spell between two episodes lies inside such a window, the two are one episode, from the first
bad round of the first to the first good round after the last (the service was never reliably
back; one gangguan, not one per bounce). Availability never reads episodes — it follows the
transitions, so the up spells inside a flapping period still count as up.

Adding transitions can only add flapping windows, never remove one, so an episode once joined
stays joined: the tickets built on episodes only ever merge, never split.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.core.model import FLAP_THRESHOLD, FLAP_WINDOW, Episode, State, Transition

_BAD = (State.DOWN, State.DEGRADED)
_NOT_CAUSES = frozenset({"", "resumed", "no_data", "agent_isolated"})

# service, worst state, start, end, reasons, index in ``changes`` of its opening / closing
_Raw = tuple[str, State, datetime, datetime | None, tuple[str, ...], int, int]


def episodes_from_transitions(
    transitions: Sequence[Transition],
    *,
    flap_threshold: int = FLAP_THRESHOLD,
    flap_window: timedelta = FLAP_WINDOW,
) -> list[Episode]:
    """Confirmed bad episodes of one service, oldest first (see the module docstring)."""
    changes, found = _scan(transitions)
    flapping, joined = _flapping_changes(changes, flap_threshold, flap_window)
    out: list[_Joined] = []
    last_closing = -1
    for svc, state, a, b, why, o, c in found:
        # The up spell between the previous episode and this one lies in a flapping window.
        if out and o >= 0 and o == last_closing + 1 and joined[last_closing]:
            prev = out[-1]
            prev.worst = State.DOWN if state is State.DOWN else prev.worst
            prev.end = b
            prev.reasons.update(dict.fromkeys(why))
            prev.flapping = True
        else:
            flap = (o >= 0 and flapping[o]) or (c >= 0 and flapping[c])
            out.append(_Joined(svc, state, a, b, dict.fromkeys(why), flap))
        last_closing = c
    return [
        Episode(j.service, j.worst, j.start, j.end, tuple(j.reasons), flapping=j.flapping)
        for j in out
    ]


@dataclass(slots=True)
class _Joined:
    """An episode being built: a bounce, and those joined to it while flapping."""

    service: str
    worst: State
    start: datetime
    end: datetime | None
    reasons: dict[str, None]
    flapping: bool


def up_bad_changes(transitions: Sequence[Transition]) -> list[datetime]:
    """Times of the up↔bad changes in ``transitions`` (what flap detection counts)."""
    return _scan(transitions)[0]


def flapping_at(
    changes: Sequence[datetime],
    now: datetime,
    *,
    flap_threshold: int = FLAP_THRESHOLD,
    flap_window: timedelta = FLAP_WINDOW,
) -> bool:
    """The flap state at ``now``: the last ``flap_window`` holds ≥ ``flap_threshold`` changes.

    ``changes`` are sorted (:func:`up_bad_changes`). It holds while the service is momentarily
    up between bounces, and ends once the bounces have left the window.
    """
    recent = bisect_right(changes, now) - bisect_left(changes, now - flap_window)
    return recent >= flap_threshold


def _scan(transitions: Sequence[Transition]) -> tuple[list[datetime], list[_Raw]]:
    changes: list[datetime] = []  # times of up↔bad changes, for flap detection
    found: list[_Raw] = []
    level: str | None = None
    start: datetime | None = None
    opening = -1
    worst = State.DEGRADED
    reasons: dict[str, None] = {}
    service = ""
    for tr in transitions:
        if tr.state in _BAD:
            if start is None:
                start, worst, reasons, service, opening = tr.at, State.DEGRADED, {}, tr.service, -1
                if level == "up":
                    opening = len(changes)
                    changes.append(tr.at)
            if tr.state is State.DOWN:
                worst = State.DOWN
            reasons.update(dict.fromkeys(r for r in tr.reason.split(",") if r not in _NOT_CAUSES))
            level = "bad"
        elif tr.state is State.UP:
            closing = -1
            if level == "bad":
                closing = len(changes)
                changes.append(tr.at)
            if start is not None:
                found.append((service, worst, start, tr.at, tuple(reasons), opening, closing))
                start = None
            level = "up"
    if start is not None:
        found.append((service, worst, start, None, tuple(reasons), opening, -1))
    return changes, found


def _flapping_changes(
    changes: list[datetime], threshold: int, window: timedelta
) -> tuple[list[bool], list[bool]]:
    """Per change: does some ``window`` containing it hold ≥ ``threshold`` changes? And per
    gap ``k`` (between changes ``k`` and ``k + 1``): does one such window hold both ends?

    A window holding ``threshold`` changes can slide right until it starts at its first
    change without losing any, so only windows starting at a change need checking; each such
    window marks the changes and the gaps inside it (difference arrays keep this linear).
    """
    n = len(changes)
    marks = [0] * (n + 1)
    gap_marks = [0] * (n + 1)
    j = 0
    for i, at in enumerate(changes):
        j = max(j, i)
        while j < n and changes[j] <= at + window:
            j += 1
        if j - i >= threshold:
            marks[i] += 1
            marks[j] -= 1
            gap_marks[i] += 1  # gaps i .. j-2 lie between two changes of this window
            gap_marks[j - 1] -= 1
    flapping, joined = [], []
    running = gap_running = 0
    for k in range(n):
        running += marks[k]
        gap_running += gap_marks[k]
        flapping.append(running > 0)
        joined.append(gap_running > 0)
    return flapping, joined
