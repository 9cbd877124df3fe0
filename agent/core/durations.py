"""Parsing and formatting of durations such as ``500ms``, ``30s``, ``5m``, ``4h``, ``1d``, ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")


def parse_duration(value: object) -> timedelta:
    """Parse a duration string; raise ``ValueError`` with a helpful message otherwise."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("a duration must be a string with a unit, e.g. 30s, 5m, 4h, 1d")
    text = value.strip()
    if not _WHOLE.match(text):
        raise ValueError(f"invalid duration {text!r}: use a number and a unit (ms, s, m, h, d, w)")
    total = timedelta()
    for number, unit in _PART.findall(text):
        total += float(number) * _UNITS[unit]
    return total


def format_duration(td: timedelta) -> str:
    """Format a timedelta compactly (``1h30m``, ``45s``, ``500ms``)."""
    ms = round(td.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    if ms:
        out.append(f"{ms}ms")
    return sign + "".join(out)
