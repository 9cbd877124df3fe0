"""The atomic writer: the whole new file or the old one, never half, never a stray temp file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agent.core.errors import ReportError
from exporters.files import write_atomic


def test_the_file_appears_whole_and_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    out = write_atomic(target, lambda tmp: tmp.write_text("baru\n"), what="CSV", hint="check")
    assert out == target
    assert target.read_text() == "baru\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_the_temporary_file_sits_beside_the_target_with_its_suffix(tmp_path: Path) -> None:
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(b"%PDF")

    write_atomic(tmp_path / "r.pdf", write, what="PDF", hint="check", suffix=".pdf")
    (tmp,) = seen
    assert tmp.parent == tmp_path
    assert tmp.name.startswith(".r.pdf.")
    assert tmp.name.endswith(".pdf")


def test_a_failing_writer_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    target.write_text("lama\n")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("setengah")
        raise RuntimeError("layout failed")

    with pytest.raises(RuntimeError, match="layout failed"):
        write_atomic(target, half_then_fail, what="CSV", hint="check")
    assert target.read_text() == "lama\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_an_os_error_while_writing_is_a_report_error(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    target.write_text("lama\n")

    def disk_full(tmp: Path) -> None:
        tmp.write_text("sebagian")
        raise OSError(28, "No space left on device")

    with pytest.raises(ReportError, match=r"cannot write CSV report .*: No space left on device$"):
        write_atomic(target, disk_full, what="CSV report", hint="check the --out directory")
    assert target.read_text() == "lama\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_a_missing_directory_names_the_file_and_the_hint(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"cannot write gangguan CSV .*g\.csv: .*\(check it\)"):
        write_atomic(
            tmp_path / "no" / "g.csv", lambda tmp: None, what="gangguan CSV", hint="check it"
        )
