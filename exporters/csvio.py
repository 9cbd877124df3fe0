"""The CSV dialects pantau writes and the one guard against CSV injection.

Two dialects, chosen by ``--excel``:

- plain: UTF-8 without BOM, ``,`` between cells, ``.`` for decimals, LF line ends — for
  scripts.
- Excel in an Indonesian locale: UTF-8 with BOM (else Excel guesses the code page), ``;``
  between cells (``,`` is the decimal mark there), decimal comma, CRLF line ends.

Both neutralise a text cell that a spreadsheet would run as a formula (:func:`neutralise`):
whoever opens the "plain" file may well do it in a spreadsheet, and an operator's free-text
cause or a service name from the katalog must stay text there. Numbers stay numbers: number
cells are never touched, and a text cell that is just a decimal number (``-1``, ``-2,5``) is
read by a spreadsheet as that number, not as a formula, so it is kept as it is.

Files are written with :func:`exporters.files.write_atomic`.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from exporters.files import write_atomic

# A cell starting with one of these is run as a formula by spreadsheet programs (CSV
# injection); an operator's free-text cause must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A signed decimal number (either decimal mark): a value, not a formula.
_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")


def neutralise(value: str) -> str:
    """``value`` made inert for spreadsheets: a leading ``'`` when it would start a formula
    (a plain signed number such as ``-1`` is left alone: it is a number)."""
    if value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a CSV file is encoded and how its text and number cells read."""

    encoding: str
    delimiter: str
    line_end: str
    decimal_mark: str

    def text(self, value: str) -> str:
        """A text cell (formulas neutralised: both dialects guard, see the module docstring)."""
        return neutralise(value)


PLAIN = Dialect("utf-8", ",", "\n", ".")
EXCEL = Dialect("utf-8-sig", ";", "\r\n", ",")


def dialect(excel: bool) -> Dialect:
    """The dialect ``--excel`` asks for."""
    return EXCEL if excel else PLAIN


def yes_no(value: bool | None) -> str:
    """``ya`` / ``tidak``, empty where the answer is unknown or does not apply."""
    return "" if value is None else ("ya" if value else "tidak")


def write_rows(
    path: str | os.PathLike[str],
    rows: Iterable[Sequence[str]],
    d: Dialect,
    *,
    what: str,
    hint: str,
) -> Path:
    """Write ``rows`` (header first) to ``path`` in dialect ``d``, atomically; return the path.

    ``what`` and ``hint`` word the :class:`~agent.core.errors.ReportError` raised when the file
    cannot be written (see :func:`~exporters.files.write_atomic`).
    """

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding=d.encoding, newline="") as fh:
            csv.writer(fh, delimiter=d.delimiter, lineterminator=d.line_end).writerows(rows)

    return write_atomic(path, write, what=what, hint=hint)
