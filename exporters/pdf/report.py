"""The monthly report as PDF: cover, evaluations, then one Formulir per service (SPEC §8).

Library: reportlab (already a dependency, pure-Python wheel ≈2 MB + Pillow): platypus tables
whose header row repeats across pages, vector charts from ``reportlab.graphics`` and TrueType
embedding, with no system libraries. Font: Bitstream Vera from the reportlab wheel (see
:mod:`exporters.pdf.style`).

Pages carry a running header (organisation, period, the service whose form it is) and
"Halaman X dari Y": the canvas holds every page until the end so the total is known (the
classic reportlab "NumberedCanvas"), which costs no more memory than the PDF itself.

The file is written atomically (:func:`exporters.files.write_atomic`), so a reader never sees
half a report.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas
from reportlab.platypus import Flowable, PageBreak, SimpleDocTemplate
from reportlab.platypus.doctemplate import LayoutError

from agent.core.errors import ReportError
from exporters.files import write_atomic
from exporters.pdf.recap import cover, monitoring_evaluation, recovery_evaluation
from exporters.pdf.service import service_form
from exporters.pdf.style import (
    FONT,
    FONT_BOLD,
    GREY,
    GRID,
    NAVY,
    PAGE_MARGIN,
    datetime_text,
    register_fonts,
    safe,
)
from exporters.report_model import ReportData

Progress = Callable[[int, int], None]

_TITLE = "Laporan Pemantauan dan Pemeliharaan Layanan SPBE"


class _Mark(Flowable):  # type: ignore[misc]  # reportlab ships no type hints
    """Zero-size flowable: records which form the page belongs to, reports progress."""

    def __init__(self, section: str | None, progress: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.section = section
        self.progress = progress

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return 0.0, 0.0

    def draw(self) -> None:
        self.canv.pantau_section = self.section
        if self.progress is not None:
            self.progress()


class _NumberedCanvas(canvas.Canvas):  # type: ignore[misc]
    """Defers pages until ``save`` so each can say "Halaman X dari Y"."""

    def __init__(self, *args: Any, report: ReportData, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report = report
        self.pantau_section: str | None = None
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # reportlab's method name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, 1):
            self.__dict__.update(state)
            self._decorate(number, total)
            super().showPage()
        super().save()

    def _decorate(self, number: int, total: int) -> None:
        r = self.report
        width, height = self._pagesize
        left, right = PAGE_MARGIN, width - PAGE_MARGIN
        self.saveState()
        if number > 1:
            top = height - PAGE_MARGIN + 14
            self.setFont(FONT_BOLD, 7)
            self.setFillColor(NAVY)
            period = f"Periode {r.period_label}"
            room = right - left - self.stringWidth(period, FONT_BOLD, 7) - 12
            self.drawString(left, top, _fit(f"{r.organization} — {_TITLE}", FONT_BOLD, 7, room))
            self.drawRightString(right, top, period)
            if self.pantau_section:
                self.setFont(FONT, 7)
                self.setFillColor(GREY)
                self.drawString(left, top - 9, _fit(self.pantau_section, FONT, 7, right - left))
            self._rule(left, right, top - 12)
        bottom = PAGE_MARGIN - 16
        self._rule(left, right, bottom + 9)
        self.setFont(FONT, 7)
        self.setFillColor(GREY)
        self.drawString(left, bottom, f"Dibuat {datetime_text(r.generated_at, r.zone)} · pantau")
        self.drawRightString(right, bottom, f"Halaman {number} dari {total}")
        self.restoreState()

    def _rule(self, left: float, right: float, y: float) -> None:
        """The hairline under the running header and above the footer."""
        self.setStrokeColor(GRID)
        self.setLineWidth(0.5)
        self.line(left, y, right, y)


def _fit(text: str, font: str, size: float, width: float) -> str:
    """``text`` shortened with an ellipsis to fit ``width`` (running headers are one line)."""
    text = safe(text)
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[: max(len(text) - max(len(text) // 10, 1), 0)]
    return text.rstrip() + "…"


def build_story(report: ReportData, width: float, progress: Progress | None = None) -> list[Any]:
    """All flowables of the report, in page order."""
    total = len(report.services)
    story: list[Any] = [_Mark(None), *cover(report, width), PageBreak()]
    story += [_Mark("Evaluasi"), *monitoring_evaluation(report, width), PageBreak()]
    story += [*recovery_evaluation(report, width)]
    for index, service in enumerate(report.services, 1):
        tick = None if progress is None else (lambda i=index: progress(i, total))
        label = f"Formulir Pemantauan dan Pemeliharaan Layanan: {service.name} ({service.id})"
        story += [PageBreak(), _Mark(label), *service_form(report, service, width)]
        story.append(_Mark(label, tick))
    return story


def write_pdf(
    report: ReportData,
    path: str | os.PathLike[str],
    progress: Progress | None = None,
) -> Path:
    """Write the report's PDF to ``path`` atomically and return the path written.

    ``progress(done, total)`` is called with ``(0, n)`` first and then once per service as
    its form is laid out; the file is complete when this function returns. Raises
    :class:`~agent.core.errors.ReportError` when the PDF cannot be laid out or written.
    """
    register_fonts()
    total = len(report.services)
    if progress is not None:
        progress(0, total)

    def write(tmp: Path) -> None:
        doc = SimpleDocTemplate(
            str(tmp),
            pagesize=A4,
            leftMargin=PAGE_MARGIN,
            rightMargin=PAGE_MARGIN,
            topMargin=PAGE_MARGIN + 8,
            bottomMargin=PAGE_MARGIN,
            title=f"{_TITLE} — {report.period_label}",
            author=report.organization,
            subject="Formulir Pemantauan dan Pemeliharaan Layanan (Pedoman Tabel 4.8)",
            creator="pantau",
            lang="id-ID",
            # The canvas starts in Helvetica unless told otherwise: an unembedded font.
            initialFontName=FONT,
        )
        story = build_story(report, doc.width, progress)

        def make_canvas(*args: Any, **kwargs: Any) -> _NumberedCanvas:
            return _NumberedCanvas(*args, report=report, **kwargs)

        doc.build(story, canvasmaker=make_canvas)

    try:
        return write_atomic(
            path, write, what="PDF report", hint="check the --out directory", suffix=".pdf"
        )
    except LayoutError as exc:
        raise ReportError(f"cannot lay out PDF report {Path(path)}: {exc}") from exc
