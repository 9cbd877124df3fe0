"""Episodes: confirmed bad stretches of a service, found in its transitions (pure).

An episode is a contiguous stretch of confirmed non-UP state (down and degraded, across
unknown gaps and down↔degraded switches); it starts at its first bad transition and ends at
the next UP transition (``None`` while ongoing). Its state is DOWN (Mayor) if it ever was down,
else DEGRADED (Minor). It is ``flapping`` when some ``flap_window`` containing its start or its
end holds at least ``flap_threshold`` up↔bad changes (Checkmk/Nagios-style, parameters).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from agent.core.model import Episode, State, Transition

_BAD = (State.DOWN, State.DEGRADED)
_NOT_CAUSES = frozenset({"", "resumed", "no_data", "agent_isolated"})


def episodes_from_transitions(
    transitions: Sequence[Transition],
    *,
    flap_threshold: int = 4,
    flap_window: timedelta = timedelta(hours=1),
) -> list[Episode]:
    """Confirmed bad episodes of one service, oldest first (see the module docstring)."""
    changes: list[datetime] = []  # times of up↔bad changes, for flap detection
    # service, worst state, start, end, reasons, index in ``changes`` of its opening / closing
    found: list[tuple[str, State, datetime, datetime | None, tuple[str, ...], int, int]] = []
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
    flapping = _flapping_changes(changes, flap_threshold, flap_window)
    return [
        Episode(
            svc, state, a, b, why, flapping=(o >= 0 and flapping[o]) or (c >= 0 and flapping[c])
        )
        for svc, state, a, b, why, o, c in found
    ]


def _flapping_changes(changes: list[datetime], threshold: int, window: timedelta) -> list[bool]:
    """For each change: does some ``window`` containing it hold ≥ ``threshold`` changes?

    A window holding ``threshold`` changes can slide right until it starts at its first
    change without losing any, so only windows starting at a change need checking; each such
    window marks the changes inside it (a difference array keeps this linear).
    """
    n = len(changes)
    marks = [0] * (n + 1)
    j = 0
    for i, at in enumerate(changes):
        j = max(j, i)
        while j < n and changes[j] <= at + window:
            j += 1
        if j - i >= threshold:
            marks[i] += 1
            marks[j] -= 1
    out, running = [], 0
    for k in range(n):
        running += marks[k]
        out.append(running > 0)
    return out
