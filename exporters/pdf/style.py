"""Fonts, paragraph styles, colours and Indonesian text formatting for the PDF report.

Font: Bitstream Vera Sans, the TrueType family that ships inside the reportlab wheel
(``reportlab/fonts/Vera*.ttf``), so nothing beyond ``pip install`` is needed and every glyph
is embedded (subset) in the PDF. It covers Latin-1 plus the typographic punctuation we use
(– — • … ≤ ≥ ±); characters outside it are folded to their base letter or ``?`` instead of
being drawn as empty boxes (:func:`safe`).

Numbers follow Indonesian convention in the PDF (``99,950 %``, ``1.440,00 menit``); the CSV
keeps ``.`` unless the Excel dialect is asked for.
"""

from __future__ import annotations

import functools
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph

from agent.core.periods import MONTH_ABBR, MONTH_NAME
from exporters.report_text import hours, minutes, num_id

FONT = "PantauSans"
FONT_BOLD = "PantauSans-Bold"
FONT_ITALIC = "PantauSans-Italic"
FONT_BOLD_ITALIC = "PantauSans-BoldItalic"
_FONT_FILES = {
    FONT: "Vera.ttf",
    FONT_BOLD: "VeraBd.ttf",
    FONT_ITALIC: "VeraIt.ttf",
    FONT_BOLD_ITALIC: "VeraBI.ttf",
}

PAGE_MARGIN = 16 * mm
NAVY = colors.HexColor("#1F3A5F")
HEAD_BG = colors.HexColor("#E3E9F1")
LABEL_BG = colors.HexColor("#F3F5F8")
GRID = colors.HexColor("#B8C2CE")
GREEN = colors.HexColor("#2E7D32")
RED = colors.HexColor("#C62828")
AMBER = colors.HexColor("#B26A00")
GREY = colors.HexColor("#6B7785")
BLUE = colors.HexColor("#1565C0")

EMPTY = "–"  # shown where a value is missing
NOT_APPLICABLE = "tidak berlaku"


@functools.cache
def register_fonts() -> frozenset[int]:
    """Register the Vera family once; returns the code points the regular face can draw."""
    folder = Path(reportlab.__file__).parent / "fonts"
    for name, filename in _FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / filename)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC, boldItalic=FONT_BOLD_ITALIC
    )
    face = pdfmetrics.getFont(FONT).face
    return frozenset(face.charToGlyph)


#: ASCII stand-ins for symbols operators like to type that Vera does not have.
_SUBSTITUTES = {"→": "->", "←": "<-", "⇒": "=>", "↔": "<->", "✓": "v", "✔": "v", "✗": "x"}


@functools.lru_cache(maxsize=4096)
def safe(text: str) -> str:
    """``text`` with every character the font lacks substituted (→ to ->), folded (ā to a) or
    replaced by ``?`` — never drawn as an empty box."""
    drawable = register_fonts()
    if all(ord(c) in drawable for c in text):
        return text
    out = []
    for char in text:
        if ord(char) in drawable or char in "\n\t":
            out.append(char)
            continue
        if char in _SUBSTITUTES:
            out.append(_SUBSTITUTES[char])
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(base if base and all(ord(c) in drawable for c in base) else "?")
    return "".join(out)


def markup(text: str) -> str:
    """User text made safe for a Paragraph: escaped markup, drawable glyphs, kept newlines."""
    return escape(safe(text)).replace("\n", "<br/>")


@functools.cache
def styles() -> dict[str, ParagraphStyle]:
    """The report's paragraph styles by name."""
    register_fonts()
    base = ParagraphStyle("body", fontName=FONT, fontSize=8.5, leading=11, bulletFontName=FONT)
    return {
        "body": base,
        "small": ParagraphStyle("small", base, fontSize=7.5, leading=9.2),
        "cell": ParagraphStyle("cell", base, fontSize=7.5, leading=9.2),
        "cellb": ParagraphStyle("cellb", base, fontName=FONT_BOLD, fontSize=7.5, leading=9.2),
        "cellr": ParagraphStyle("cellr", base, fontSize=7.5, leading=9.2, alignment=TA_RIGHT),
        "head": ParagraphStyle(
            "head", base, fontName=FONT_BOLD, fontSize=7.5, leading=9.2, textColor=NAVY
        ),
        "title": ParagraphStyle(
            "title", base, fontName=FONT_BOLD, fontSize=20, leading=26, textColor=NAVY,
            alignment=TA_CENTER, spaceAfter=6,
        ),
        "subtitle": ParagraphStyle(
            "subtitle", base, fontSize=12, leading=16, alignment=TA_CENTER, textColor=NAVY
        ),
        "cover": ParagraphStyle("cover", base, fontSize=10, leading=14, alignment=TA_CENTER),
        "h1": ParagraphStyle(
            "h1", base, fontName=FONT_BOLD, fontSize=13, leading=17, textColor=NAVY,
            spaceBefore=4, spaceAfter=6,
        ),
        "h2": ParagraphStyle(
            "h2", base, fontName=FONT_BOLD, fontSize=9.5, leading=13, textColor=colors.white,
            backColor=NAVY, borderPadding=(2, 4, 2, 4), spaceBefore=9, spaceAfter=5,
        ),
        "bullet": ParagraphStyle(
            "bullet", base, leftIndent=10, bulletIndent=2, spaceAfter=1.5, bulletFontName=FONT
        ),
        "bullet_small": ParagraphStyle(
            "bullet_small", base, fontSize=7.5, leading=9.5, leftIndent=10, bulletIndent=2,
            spaceAfter=1, bulletFontName=FONT, bulletFontSize=7.5,
        ),
        "sign": ParagraphStyle("sign", base, fontSize=9, leading=12, alignment=TA_CENTER),
    }  # fmt: skip


def para(text: str, style: str = "body") -> Paragraph:
    """A Paragraph of plain (untrusted) text."""
    return Paragraph(markup(text), styles()[style])


def rich(trusted_markup: str, style: str = "body") -> Paragraph:
    """A Paragraph of markup built by this package (values inside already escaped)."""
    return Paragraph(trusted_markup, styles()[style])


def pct(value: float | None, places: int = 3, *, floor: bool = False) -> str:
    """``'99,950 %'`` or the empty mark."""
    if value is None:
        return EMPTY
    return num_id(value, places, floor=floor) + " %"


def minutes_text(td: timedelta) -> str:
    """``'12,25 menit'`` (2 decimals, like the CSV)."""
    return f"{num_id(minutes(td), 2)} menit"


def hours_text(td: timedelta | None) -> str:
    return EMPTY if td is None else f"{num_id(hours(td), 2)} jam"


def date_long(day: date) -> str:
    """``'1 Oktober 2024'``."""
    return f"{day.day} {MONTH_NAME[day.month - 1]} {day.year}"


def date_short(day: date) -> str:
    """``'01 Okt 2024'``."""
    return f"{day.day:02d} {MONTH_ABBR[day.month - 1]} {day.year}"


def datetime_text(moment: datetime, zone: ZoneInfo, *, with_zone: bool = True) -> str:
    """``'14 Sep 2024 22:00 WIB'`` in the report zone."""
    local = moment.astimezone(zone)
    text = f"{date_short(local.date())} {local:%H:%M}"
    return f"{text} {local.tzname()}" if with_zone else text


def datetime_lines(moment: datetime, zone: ZoneInfo, *, with_zone: bool = True) -> str:
    """``'14 Sep 2024\\n22:00 WIB'``: date and time on two lines of a narrow table column."""
    local = moment.astimezone(zone)
    clock = f"{local:%H:%M} {local.tzname()}" if with_zone else f"{local:%H:%M}"
    return f"{date_short(local.date())}\n{clock}"


def yes_no(value: bool | None, yes: str = "Ya", no: str = "Tidak") -> str:
    return EMPTY if value is None else (yes if value else no)


def colored(text: str, ok: bool | None) -> str:
    """Bold markup in green (ok), red (not ok) or amber (unknown / warning)."""
    color = {True: GREEN, False: RED, None: AMBER}[ok].hexval()[2:]
    return f'<font color="#{color}"><b>{markup(text)}</b></font>'
