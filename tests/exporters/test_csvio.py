"""The CSV dialects and the formula guard shared by the report and gangguan CSVs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.errors import ReportError
from exporters.csvio import EXCEL, PLAIN, dialect, neutralise, write_rows, yes_no


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://x")',
        "+62 812",
        "-1+1",  # a sum, not a number
        "-A1",
        "-2,5;x",
        "@SUM(A1)",
        "\tcmd",
        "\rcmd",
        "-",
    ],
)
def test_a_cell_that_would_start_a_formula_gets_a_quote(value: str) -> None:
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["", "disk penuh", "a=b", " =1", "'=1", "62+1", "-1", "-12.5", "-2,5", "+5"]
)
def test_other_text_is_left_alone(value: str) -> None:
    assert neutralise(value) == value


def test_both_dialects_guard_formulas() -> None:
    # The plain file is opened in spreadsheets too: it is guarded as well.
    assert EXCEL.text("=1+1") == "'=1+1"
    assert PLAIN.text("=1+1") == "'=1+1"
    assert PLAIN.text("-3") == "-3"


def test_excel_flag_picks_the_dialect() -> None:
    assert dialect(True) is EXCEL
    assert dialect(False) is PLAIN


def test_yes_no_is_empty_when_unknown() -> None:
    assert [yes_no(True), yes_no(False), yes_no(None)] == ["ya", "tidak", ""]


ROWS = [["id", "nilai", "catatan"], ["a", "1.5", "x, y"], ["b", "", "=1"]]


def test_plain_file_is_utf8_commas_and_lf(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "p.csv", ROWS, PLAIN, what="CSV", hint="check")
    # the cell holding the delimiter is quoted; the plain dialect writes text as given
    assert path.read_bytes() == b'id,nilai,catatan\na,1.5,"x, y"\nb,,=1\n'


def test_excel_file_has_bom_semicolons_and_crlf(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "e.csv", ROWS, EXCEL, what="CSV", hint="check")
    # write_rows writes cells as given: guarding and the decimal mark are the cells' business
    assert path.read_bytes() == b"\xef\xbb\xbfid;nilai;catatan\r\na;1.5;x, y\r\nb;;=1\r\n"


def test_a_missing_directory_is_a_report_error_with_the_hint(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"cannot write laporan .* \(check the --out directory\)"):
        write_rows(
            tmp_path / "no" / "x.csv", ROWS, PLAIN, what="laporan", hint="check the --out directory"
        )
