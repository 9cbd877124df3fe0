"""Small vector charts for the Formulir, drawn straight onto the page canvas.

- :class:`TrendChart`: monthly availability bars (green = target met, red = missed) with the
  target as a dashed line, on a zoomed axis (availability lives between 95 and 100 %).
- :class:`DailyChart`: daily lines (CPU and RAM average/p95, bandwidth) over the month.

Why not ``reportlab.graphics.charts``: its widgets build and validate ~120 shape nodes per
chart, which made charts 40 % of the render time of a 500-service report; these flowables
issue a few dozen canvas operations each. All text uses the embedded report font.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reportlab.lib.colors import Color, HexColor
from reportlab.platypus import Flowable

from exporters.pdf.style import FONT, FONT_BOLD, GREEN, GREY, GRID, NAVY, RED, safe
from exporters.report_model import TrendPoint
from exporters.report_text import num_id

_STEPS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0)
_GRIDLINE = HexColor("#E2E6EB")


def nice_axis(low: float, high: float, max_ticks: int = 5) -> tuple[float, float, float]:
    """(min, max, step) with a round step covering ``low..high`` in at most ``max_ticks``."""
    if high <= low:
        high = low + 1.0
    for step in _STEPS:
        lo = math.floor(low / step) * step
        hi = math.ceil(high / step) * step
        if (hi - lo) / step <= max_ticks:
            return lo, hi, step
    step = 10 ** math.ceil(math.log10(high - low))
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


class _Chart(Flowable):  # type: ignore[misc]  # reportlab ships no type hints
    """A framed box with a title and a value axis; subclasses draw the data."""

    # plot area inside the box (points from the left/bottom/right/top edges)
    pad_left, pad_bottom, pad_right, pad_top = 30.0, 16.0, 8.0, 24.0

    def __init__(self, title: str, width: float, height: float) -> None:
        super().__init__()
        self.title = safe(title)
        self.width, self.height = width, height

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    @property
    def plot(self) -> tuple[float, float, float, float]:
        """x, y, width, height of the plot area."""
        return (
            self.pad_left,
            self.pad_bottom,
            self.width - self.pad_left - self.pad_right,
            self.height - self.pad_bottom - self.pad_top,
        )

    def draw_frame(self) -> None:
        c: Any = self.canv
        c.setStrokeColor(GRID)
        c.setLineWidth(0.4)
        c.rect(0, 0, self.width, self.height, stroke=1, fill=0)
        c.setFillColor(NAVY)
        c.setFont(FONT_BOLD, 7)
        c.drawString(3, self.height - 9, self.title)

    def draw_message(self, text: str) -> None:
        c: Any = self.canv
        c.setFillColor(GREY)
        c.setFont(FONT, 7)
        c.drawCentredString(self.width / 2, self.height / 2 - 3, text)

    def draw_value_axis(self, lo: float, hi: float, step: float, places: int, unit: str) -> None:
        c: Any = self.canv
        x, y, w, h = self.plot
        c.setFont(FONT, 6)
        c.setLineWidth(0.4)
        ticks = round((hi - lo) / step)
        for i in range(ticks + 1):
            value = lo + i * step
            ty = y + h * i / ticks
            c.setStrokeColor(_GRIDLINE if i else GRID)
            c.line(x, ty, x + w, ty)
            c.setFillColor(GREY)
            c.drawRightString(x - 3, ty - 2, num_id(value, places) + unit)
        c.setStrokeColor(GRID)
        c.line(x, y, x, y + h)

    def y_of(self, value: float, lo: float, hi: float) -> float:
        _x, y, _w, h = self.plot
        return y + (min(max(value, lo), hi) - lo) / (hi - lo) * h


class TrendChart(_Chart):
    """Availability per month with the target line of the latest month."""

    pad_bottom = 26.0

    def __init__(self, points: Sequence[TrendPoint], width: float, height: float) -> None:
        super().__init__("Tren ketersediaan bulanan (%)", width, height)
        self.points = list(points)

    def draw(self) -> None:
        c: Any = self.canv
        self.draw_frame()
        if not self.points:
            self.draw_message("belum ada data tren")
            return
        target = self.points[-1].target_pct
        seen = [p.pct for p in self.points if p.pct is not None]
        low = min([*seen, target])
        # Headroom under the lowest bar so a 99.1 % month is visibly a bar, not nothing.
        lo, hi, step = nice_axis(max(0.0, low - max(0.1, (100.0 - low) * 0.15)), 100.0)
        hi = min(hi, 100.0)
        self.draw_value_axis(lo, hi, step, 2 if step < 0.1 else 1, "")
        x, y, w, _h = self.plot
        slot = w / len(self.points)
        bar = slot * 0.7
        for i, point in enumerate(self.points):
            left = x + i * slot + (slot - bar) / 2
            if point.pct is not None:
                c.setFillColor(GREEN if point.pct >= point.target_pct else RED)
                c.rect(left, y, bar, self.y_of(point.pct, lo, hi) - y, stroke=0, fill=1)
            c.saveState()
            c.translate(left + bar / 2 + 2, y - 3)
            c.rotate(40)
            c.setFillColor(GREY)
            c.setFont(FONT, 5.5)
            c.drawRightString(0, -4, safe(point.label))
            c.restoreState()
        ty = self.y_of(target, lo, hi)
        c.setStrokeColor(NAVY)
        c.setLineWidth(0.9)
        c.setDash(3, 2)
        c.line(x, ty, x + w, ty)
        c.setDash()
        c.setFillColor(NAVY)
        c.setFont(FONT, 6)
        c.drawRightString(self.width - 4, self.height - 9, f"- - target {num_id(target, 2)} %")


@dataclass(frozen=True)
class Series:
    """One line of a daily chart."""

    label: str
    values: Sequence[float | None]
    color: Color
    dashed: bool = False


class DailyChart(_Chart):
    """Daily values over the month (x: day of month) with a legend under the title."""

    def __init__(
        self,
        title: str,
        days: Sequence[int],
        series: Sequence[Series],
        width: float,
        height: float,
        *,
        fixed_max: float | None = None,
        unit: str = "",
    ) -> None:
        super().__init__(title, width, height)
        self.days = list(days)
        self.series = [s for s in series if any(v is not None for v in s.values)]
        self.fixed_max = fixed_max
        self.unit = unit

    def draw(self) -> None:
        c: Any = self.canv
        self.draw_frame()
        if not self.days or not self.series:
            self.draw_message("tidak ada data harian")
            return
        top = max(v for s in self.series for v in s.values if v is not None)
        ceiling = self.fixed_max if self.fixed_max is not None else max(top, 1.0)
        lo, hi, step = nice_axis(0.0, ceiling, 4)
        self.draw_value_axis(lo, hi, step, 0 if step >= 1 else 1, self.unit)
        x, y, w, _h = self.plot
        n = len(self.days)
        slot = w / n

        def x_of(i: int) -> float:
            return x + slot * (i + 0.5)

        c.setFont(FONT, 5.5)
        c.setFillColor(GREY)
        for i, day in enumerate(self.days):
            # Label day 1 and every 5th: 31 labels do not fit in half a page width.
            if day == 1 or day % 5 == 0:
                c.drawCentredString(x_of(i), y - 8, str(day))
        legend_x = 3.0
        for s in self.series:
            c.setStrokeColor(s.color)
            c.setLineWidth(0.9)
            c.setDash(*((2, 1.5) if s.dashed else ()))
            path = c.beginPath()
            pen_down = False
            for i, value in enumerate(s.values[:n]):
                if value is None:
                    pen_down = False  # a missing day is a gap, not a line to zero
                    continue
                point = (x_of(i), self.y_of(value, lo, hi))
                if pen_down:
                    path.lineTo(*point)
                else:
                    path.moveTo(*point)
                    pen_down = True
            c.drawPath(path, stroke=1, fill=0)
            c.line(legend_x, self.height - 17, legend_x + 9, self.height - 17)
            c.setDash()
            label = safe(s.label)
            c.setFillColor(GREY)
            c.drawString(legend_x + 11, self.height - 19, label)
            legend_x += 16 + c.stringWidth(label, FONT, 5.5)
