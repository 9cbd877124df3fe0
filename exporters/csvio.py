"""The CSV dialects pantau writes and the one guard against CSV injection.

Two dialects, chosen by ``--excel``:

- plain: UTF-8 without BOM, ``,`` between cells, ``.`` for decimals, LF line ends — for
  scripts. Text is written as it is.
- Excel in an Indonesian locale: UTF-8 with BOM (else Excel guesses the code page), ``;``
  between cells (``,`` is the decimal mark there), decimal comma, CRLF line ends. A text cell
  that a spreadsheet would run as a formula is neutralised (:func:`neutralise`).

Files are written with :func:`exporters.files.write_atomic`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from exporters.files import write_atomic

# A cell starting with one of these is run as a formula by spreadsheet programs (CSV
# injection); an operator's free-text cause must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """``value`` made inert for spreadsheets: a leading ``'`` when it would start a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a CSV file is encoded and how its text and number cells read."""

    encoding: str
    delimiter: str
    line_end: str
    decimal_mark: str
    guard_formulas: bool

    def text(self, value: str) -> str:
        """A text cell in this dialect (formulas neutralised where the dialect guards)."""
        return neutralise(value) if self.guard_formulas else value


PLAIN = Dialect("utf-8", ",", "\n", ".", guard_formulas=False)
EXCEL = Dialect("utf-8-sig", ";", "\r\n", ",", guard_formulas=True)


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
