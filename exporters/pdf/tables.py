"""Table builders shared by the report sections: one look for every grid in the PDF."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle

from exporters.pdf.style import (
    FONT,
    FONT_BOLD,
    GRID,
    HEAD_BG,
    LABEL_BG,
    NAVY,
    colored,
    markup,
    para,
    rich,
    safe,
    styles,
)

#: A table cell: plain text (escaped and wrapped) or a ready flowable.
Cell: TypeAlias = str | Flowable

_PAD = 3.0  # left and right cell padding
_SIZE, _LEADING = 7.5, 9.2  # the "cell" paragraph styles' metrics


def cell(value: Cell, style: str = "cell", width: float | None = None) -> Flowable | str:
    """A table cell for ``value``.

    Text that fits ``width`` on its lines stays a plain string, which the table draws itself
    (several times faster than a Paragraph — most cells are short numbers and dates); longer
    text becomes an escaped, wrapping Paragraph. Flowables pass through.
    """
    if not isinstance(value, str):
        return value
    st = styles()[style]
    if width is not None:
        text = safe(value)
        room = width - 2 * _PAD
        if all(stringWidth(line, st.fontName, _SIZE) <= room for line in text.split("\n")):
            return text
    return Paragraph(markup(value), st)


def _base_style(header_row: bool) -> list[tuple[object, ...]]:
    commands: list[tuple[object, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), _SIZE),
        ("LEADING", (0, 0), (-1, -1), _LEADING),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), _PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), _PAD),
    ]
    if header_row:
        commands += [
            ("FONTNAME", (0, 0), (-1, 0), FONT_BOLD),
            ("TEXTCOLOR", (0, 0), (-1, 0), NAVY),
            ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
        ]
    return commands


def grid_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    widths: Sequence[float],
    *,
    right: Sequence[int] = (),
    extra: Sequence[tuple[object, ...]] = (),
) -> Table:
    """A ruled table whose header row repeats on every page it spans.

    ``right`` lists column indexes to right-align (numbers); ``extra`` adds TableStyle
    commands (e.g. a red background on a missed target).
    """
    data: list[list[Flowable | str]] = [
        [cell(h, "head", w) for h, w in zip(header, widths, strict=True)]
    ]
    for row in rows:
        data.append(
            [cell(v, "cellr" if i in right else "cell", widths[i]) for i, v in enumerate(row)]
        )
    # splitInRow: a row taller than a page (a very long cause) continues on the next page.
    table = Table(
        data, colWidths=list(widths), repeatRows=1, splitByRow=1, splitInRow=1, hAlign="LEFT"
    )
    commands = _base_style(header_row=True)
    commands += [("ALIGN", (i, 1), (i, -1), "RIGHT") for i in right]
    if len(data) > 3:
        commands.append(("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, LABEL_BG]))
    table.setStyle(TableStyle([*commands, *extra]))
    return table


def kv_table(
    pairs: Sequence[tuple[str, Cell]],
    width: float,
    *,
    columns: int = 2,
    label_share: float = 0.42,
) -> Table:
    """Label/value pairs laid out ``columns`` pairs per row (labels shaded)."""
    pair_width = width / columns
    label_w, value_w = pair_width * label_share, pair_width * (1 - label_share)
    data: list[list[Flowable | str]] = []
    for start in range(0, len(pairs), columns):
        row: list[Flowable | str] = []
        for label, value in pairs[start : start + columns]:
            row += [cell(label, "cellb", label_w), cell(value, "cell", value_w)]
        row += [""] * (2 * columns - len(row))
        data.append(row)
    table = Table(data, colWidths=[label_w, value_w] * columns, splitInRow=1, hAlign="LEFT")
    commands = _base_style(header_row=False)
    for c in range(0, 2 * columns, 2):
        commands += [
            ("BACKGROUND", (c, 0), (c, -1), LABEL_BG),
            ("FONTNAME", (c, 0), (c, -1), FONT_BOLD),
        ]
    table.setStyle(TableStyle(commands))
    return table


def section_title(text: str) -> Flowable:
    """A white-on-navy section band."""
    return para(text, "h2")


def bullets(items: list[str], empty: str) -> list[Flowable]:
    """A bullet list of plain-text items, or ``empty`` in small type when there are none."""
    if not items:
        return [para(empty, "small")]
    return [rich(f"<bullet>&bull;</bullet>{markup(item)}", "bullet_small") for item in items]


def side_by_side(left: Flowable, right: Flowable, width: float) -> Table:
    """Two flowables in equal halves of ``width``, without a border."""
    table = Table([[left, right]], colWidths=[width / 2, width / 2], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),  # else cells start in Helvetica
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (1, 0), (1, 0), "RIGHT"),
            ]
        )
    )
    return table


def colored_cell(text: str, ok: bool | None) -> Flowable:
    """A table cell in bold green / red / amber (see :func:`exporters.pdf.style.colored`)."""
    return rich(colored(text, ok), "cell")
