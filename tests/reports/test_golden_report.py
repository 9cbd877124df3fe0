"""Golden: the September 2024 report and gangguan CSV, byte for byte, through the real CLI.

The history of :mod:`tests.reports.history` is read by ``pantau report`` and ``pantau
incidents`` subprocesses whose wall clock is frozen at 1 Oct 2024 01:00 WIB (``NOW`` of
:mod:`tests.reports.test_acceptance`), so the dates that depend on "now" (the PDF's "Dibuat
pada", the signature date) are pinned and nothing is normalised. The PDF is compared as its
``pdftotext -layout`` text, so its charts and styling are not pinned. Golden files are in
``tests/reports/golden``; rewrite them with ``PANTAU_UPDATE_GOLDEN=1`` (see :mod:`tests.golden`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.golden import assert_golden, pantau_at
from tests.reports.history import History, shared_history
from tests.reports.test_acceptance import NOW, STEM

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return shared_history(tmp_path_factory.getbasetemp())


def report(history: History, out: Path, *args: str) -> Path:
    """Run ``pantau report --period 2024-09`` at ``NOW``; return ``out``."""
    proc = pantau_at(
        NOW,
        "report",
        "-c",
        str(history.config_path),
        "--period",
        "2024-09",
        "--out",
        str(out),
        *args,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def report_dir(history: History, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report(history, tmp_path_factory.mktemp("golden-report"))


def test_report_writes_csv_and_pdf(report_dir: Path) -> None:
    assert sorted(p.name for p in report_dir.iterdir()) == [f"{STEM}.csv", f"{STEM}.pdf"]


def test_report_csv_equals_golden(report_dir: Path) -> None:
    assert_golden(GOLDEN / "report-2024-09.csv", (report_dir / f"{STEM}.csv").read_bytes())


def test_report_pdf_text_equals_golden(report_dir: Path) -> None:
    text = subprocess.run(
        [require_binary("pdftotext"), "-layout", str(report_dir / f"{STEM}.pdf"), "-"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert_golden(GOLDEN / "report-2024-09.pdf.txt", text)


def test_report_excel_csv_equals_golden(history: History, tmp_path: Path) -> None:
    out = report(history, tmp_path, "--format", "csv", "--excel")
    assert [p.name for p in out.iterdir()] == [f"{STEM}.csv"]
    assert_golden(GOLDEN / "report-2024-09.excel.csv", (out / f"{STEM}.csv").read_bytes())


def test_incidents_csv_equals_golden(history: History, tmp_path: Path) -> None:
    path = tmp_path / "incidents.csv"
    proc = pantau_at(
        NOW, "incidents", "-c", str(history.config_path), "--period", "2024-09", "--csv", str(path)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"8 gangguan written to {path}\n"
    assert_golden(GOLDEN / "incidents-2024-09.csv", path.read_bytes())
