"""Durations: the katalog's ``500ms``, ``30s``, ``5m``, ``4h``, ``1d``, ``1h30m``, and in words.

Two written forms, each said once: :func:`format_duration` writes what :func:`parse_duration`
reads (the katalog, rules, messages); :func:`format_duration_words` writes Indonesian for
people (``1 jam 30 menit``) in reports and the gangguan form.
"""

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
_HOUR = timedelta(hours=1)
_WORDS = ((86_400, "hari"), (3_600, "jam"), (60, "menit"), (1, "detik"))


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


def format_duration(td: timedelta, *, whole_hours: bool = False) -> str:
    """Format a timedelta compactly (``1h30m``, ``45s``, ``500ms``); :func:`parse_duration` reads it.

    ``whole_hours`` writes a whole number of hours in hours (``24h``, not ``1d``), as admins
    write RPO, RTO and targets in the katalog; other durations are unaffected.
    """
    if whole_hours and td >= _HOUR and td % _HOUR == timedelta(0):
        return f"{td // _HOUR}h"
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


def format_duration_words(td: timedelta, *, exact: bool = False) -> str:
    """A duration in Indonesian words, its non-zero units largest first: ``1 jam 30 menit``.

    Prose (the report's causes and tables) reads best rounded down: to the hour once it lasts
    a day (``3 hari 4 jam``), else to the minute once it lasts a minute (``21 menit``).
    ``exact`` keeps every unit down to the second (``1 hari 5 menit 3 detik``), as the gangguan
    form states response targets and times. Negative durations read ``0 detik``.
    """
    seconds = max(int(td.total_seconds()), 0)
    finest = 1 if exact or seconds < 60 else 3_600 if seconds >= 86_400 else 60
    parts = []
    for size, unit in _WORDS:
        if size >= finest and seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts) or "0 detik"
