"""Acceptance: ``pantau report`` as a real subprocess on the September 2024 history.

Run with real time as ``now``: the data is in the past, so the numbers are those checked in
:mod:`tests.reports.test_acceptance`; the dialects, the service filter and the refusals
(future period, no data, bad period, unknown service) are checked here.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.reports.monthly import generate
from tests.reports.history import History, shared_history
from tests.reports.test_acceptance import EXPECTED, NOW, STEM, form, pairs_present, pdf_pages


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return shared_history(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def api_csv(history: History, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The CSV agent.reports.monthly.generate writes on 1 Oct 2024 01:00 WIB."""
    with history.open_store() as store:
        (path,) = generate(
            store, history.config, 2024, 9, NOW, tmp_path_factory.mktemp("api"), formats=["csv"]
        )
    return path.read_bytes()


def pantau(history: History, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "report", "-c", str(history.config_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def listing(directory: Path) -> Iterator[str]:
    return (p.name for p in sorted(directory.iterdir())) if directory.exists() else iter(())


def test_cli_report_writes_the_same_csv_and_a_pdf(
    history: History, api_csv: bytes, tmp_path: Path
) -> None:
    proc = pantau(history, "--period", "2024-09", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(tmp_path / f"{STEM}.csv"), str(tmp_path / f"{STEM}.pdf")]
    # made now (real time), long after the month: the numbers are the same as on 1 Oct 2024
    assert (tmp_path / f"{STEM}.csv").read_bytes() == api_csv
    cli_pages = pdf_pages(tmp_path / f"{STEM}.pdf")
    assert len(cli_pages) == 11  # cover, 2 evaluation pages, 4 Formulir of 2 pages
    assert pairs_present(form(cli_pages, "lapor"), [("Realisasi ketersediaan", "99,379 %")]) == []


def test_cli_excel_dialect(history: History, tmp_path: Path) -> None:
    proc = pantau(
        history, "--period", "2024-09", "--format", "csv", "--excel", "--out", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    assert list(listing(tmp_path)) == [f"{STEM}.csv"]
    raw = (tmp_path / f"{STEM}.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM
    lines = raw[3:].decode("utf-8").split("\r\n")
    assert lines[0].startswith("service_id;nama_layanan;periode;")
    sipd = lines[1].split(";")
    assert sipd[:3] == ["sipd", "Sistem Informasi Pemerintahan Daerah", "Sep-2024"]
    assert sipd[6:10] == ["99,500", "99,848", "ya", "65,00"]
    assert sipd[20:22] == ["13,0", "20,2"]  # bandwidth with a decimal comma


def test_cli_service_filter(history: History, tmp_path: Path) -> None:
    proc = pantau(
        history,
        "--period",
        "2024-09",
        "--service",
        "ppid",
        "--service",
        "sipd",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    with (tmp_path / f"{STEM}.csv").open(encoding="utf-8") as fh:
        assert [r["service_id"] for r in csv.DictReader(fh)] == ["ppid", "sipd"]
    text = pdf_pages(tmp_path / f"{STEM}.pdf")
    assert "Jumlah layanan               2" in text[0]
    assert [s for s in EXPECTED if form(text, s)] == ["sipd", "ppid"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--period", "2099-01"], 2, "periode 2099-01 belum dimulai (the period is in the future)"),
        (["--period", "2024-07"], 1, "tidak ada data untuk periode Jul-2024"),
        (["--period", "2024-13"], 2, "--period: invalid period '2024-13': use YYYY-MM"),
        (["--period", "Sep-2024"], 2, "invalid period 'Sep-2024': use YYYY-MM, e.g. 2024-09"),
        (["--period", "2024-09", "--service", "sipdd"], 2, "unknown service(s): sipdd"),
    ],
    ids=["future", "no-data", "bad-month", "bad-format", "unknown-service"],
)
def test_cli_refuses_with_a_clear_message_and_writes_nothing(
    history: History, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    out = tmp_path / "out"
    proc = pantau(history, *args, "--out", str(out))
    assert (proc.returncode, proc.stdout) == (code, "")
    assert message in proc.stderr
    assert list(listing(out)) == []
