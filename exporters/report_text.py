"""Indonesian text of the report's values, shared by the model, the CSV and the PDF.

Number, byte and minute/hour formatting: pure functions of plain values, no I/O, below
:mod:`exporters.report_model` (the prose drawn from a service's figures is in
:mod:`exporters.advice`; periods and month names are :mod:`agent.core.periods`). Numbers are
rounded in decimal (``0.125`` → ``0.13``, not ``0.12`` as
binary floats would give); Indonesian prose uses ``,`` for decimals and ``.`` for thousands.
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from agent.core.errors import ReportError


def format_number(
    value: float, places: int, *, decimal_mark: str = ".", group: str = "", floor: bool = False
) -> str:
    """Fixed-point text without binary rounding surprises (``0.125`` → ``0.13``).

    Rounds half up, or toward minus infinity with ``floor`` (used for availability, so a month
    with any downtime never shows ``100.000`` and a missed target never shows as reached).
    ``group`` is the thousands separator (``'.'`` in Indonesian prose, none in CSV).
    """
    if not math.isfinite(value):
        raise ReportError(f"cannot format {value!r} as a number in a report")
    quantum = Decimal(1).scaleb(-places)
    # repr() is the shortest text that round-trips, so 0.1 is 0.1 and not 0.1000000000000000055.
    exact = Decimal(repr(float(value)))
    if floor:
        # Absorb float noise: 99.5 computed as 99.49999999999999 must still floor to 99.500.
        exact += Decimal("1e-9")
    text = f"{exact.quantize(quantum, ROUND_FLOOR if floor else ROUND_HALF_UP):,f}"
    if text.startswith("-") and Decimal(text.replace(",", "")) == 0:
        text = text[1:]  # "-0.00" reads like a negative outage
    integer, _, fraction = text.partition(".")
    integer = integer.replace(",", group)
    return f"{integer}{decimal_mark}{fraction}" if fraction else integer


def availability_shown(pct: float) -> Decimal:
    """The realisation as the report shows it: floored to 3 decimals."""
    return Decimal(format_number(pct, 3, floor=True))


def minutes(td: timedelta) -> float:
    """A duration in minutes (15 s → 0.25)."""
    return td.total_seconds() / 60.0


def hours(td: timedelta) -> float:
    """A duration in hours."""
    return td.total_seconds() / 3600.0


def num_id(value: float, places: int, *, floor: bool = False) -> str:
    """Indonesian decimal text: ``1440.5`` → ``'1.440,50'`` with 2 places."""
    return format_number(value, places, decimal_mark=",", group=".", floor=floor)


def format_bytes(value: float) -> str:
    """Binary units in Indonesian notation: ``1.5 * 2**30`` → ``'1,5 GiB'``."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{num_id(size, 0 if unit == 'B' else 1)} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
