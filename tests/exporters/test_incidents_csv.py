"""The gangguan CSV: Formulir fields with Indonesian headers, times in the report zone."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.config.models import WorkingHours
from agent.core.errors import ReportError
from agent.core.model import Episode, State
from agent.engine.incidents import FORM_FIELDS, ack, add_note, reclassify, set_cause, sync_incidents
from exporters.incidents_csv import (
    COLUMNS,
    month_tickets,
    write_incidents_csv,
)
from tests.engine.katalog import SETTINGS, ticket

WIB, WIT = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Jayapura")
START = datetime(2024, 9, 14, 15, 0, tzinfo=UTC)  # 22:00 WIB, Saturday
NOW = START + timedelta(days=3)


def read(path: Path, *, encoding: str = "utf-8", delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def test_header_is_the_sixteen_form_fields_then_the_handling_columns() -> None:
    assert len(FORM_FIELDS) == 16
    assert COLUMNS[:16] == FORM_FIELDS
    assert COLUMNS[16:21] == (
        "Penyebab",
        "Catatan",
        "Waktu Respons",
        "Respons Sesuai Target",
        "Reklasifikasi",
    )


def test_a_handled_ticket_as_a_csv_row(tmp_path: Path) -> None:
    g = ticket(start=START, end=START + timedelta(minutes=95), now=START + timedelta(minutes=1))
    g = ack(g, START + timedelta(minutes=20), "budi")
    g = set_cause(
        add_note(g, START + timedelta(minutes=25), "ganti kabel", "budi"), NOW, "UPS mati"
    )
    out = write_incidents_csv(
        [g], tmp_path / "g.csv", tz=WIB, working_hours=WorkingHours(), now=NOW
    )
    (row,) = read(out)
    assert list(row) == list(COLUMNS)
    assert row["Nomor Tiket"] == "G-2024-09-0001"
    assert row["Tanggal/Waktu Laporan"] == "2024-09-14 22:01:00 WIB"
    assert row["Waktu Mulai Gangguan"] == "2024-09-14 22:00:00 WIB"
    assert row["Waktu Selesai/Ditutup"] == "2024-09-14 23:35:00 WIB"  # 22:00 + 95 min
    assert row["Dampak"] == "Mayor"
    assert row["Prioritas"] == "P2"
    assert row["Target Respons"] == "30 menit"
    assert row["Deskripsi/Gejala"] == "Layanan tidak dapat diakses (timeout)"
    assert row["Komponen Terdampak"] == "https://sipd.example.go.id/health; host local"
    assert row["Status"] == "Selesai"
    assert row["Penyebab"] == "UPS mati"
    assert row["Catatan"] == "2024-09-14 22:25:00 WIB budi: ganti kabel"
    assert row["Waktu Respons"] == "20 menit"
    # Saturday start: the 30 working minutes run Mon 07:30 → 08:00, so an ack at 22:20 is in time
    assert row["Respons Sesuai Target"] == "ya"
    assert row["Durasi (menit)"] == "95.00"
    assert row["Melebihi RTO"] == "tidak"
    assert row["Reklasifikasi"] == ""


def test_times_follow_the_report_zone(tmp_path: Path) -> None:
    g = ticket(start=START, now=START)
    out = write_incidents_csv(
        [g], tmp_path / "g.csv", tz=WIT, working_hours=WorkingHours(), now=NOW
    )
    (row,) = read(out)
    assert row["Waktu Mulai Gangguan"] == "2024-09-15 00:00:00 WIT"
    assert row["Waktu Selesai/Ditutup"] == ""
    assert row["Status"] == "Terbuka"
    assert row["Respons Sesuai Target"] == "tidak"  # deadline Mon 08:00 WIT passed unacked
    assert row["Durasi (menit)"] == "4320.00"  # ongoing: 3 days × 1440 min


def test_reclassification_and_flapping_are_shown(tmp_path: Path) -> None:
    ep = Episode(
        "sipd", State.DOWN, START, START + timedelta(minutes=3), ("timeout",), flapping=True
    )
    (g,) = sync_incidents([], [ep], SETTINGS, now=START)
    g = reclassify(g, START + timedelta(hours=1), "false_positive", "probe salah", "ani")
    out = write_incidents_csv(
        [g], tmp_path / "g.csv", tz=WIB, working_hours=WorkingHours(), now=NOW
    )
    (row,) = read(out)
    assert row["Reklasifikasi"] == "Positif palsu: probe salah (ani, 2024-09-14 23:00:00 WIB)"
    assert row["Deskripsi/Gejala"].endswith("naik-turun berulang (flapping)")
    assert row["Status"] == "Ditutup"
    assert row["Waktu Selesai/Ditutup"] == "2024-09-14 23:00:00 WIB"


def test_excel_dialect_has_bom_semicolons_decimal_comma_and_no_formulas(tmp_path: Path) -> None:
    g = ticket(start=START, end=START + timedelta(seconds=90), now=START)
    g = set_cause(g, NOW, '=HYPERLINK("x")')
    path = write_incidents_csv(
        [g], tmp_path / "g.csv", tz=WIB, working_hours=WorkingHours(), now=NOW, excel=True
    )
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in raw
    (row,) = read(path, encoding="utf-8-sig", delimiter=";")
    assert row["Durasi (menit)"] == "1,50"  # 90 s
    assert row["Penyebab"] == '\'=HYPERLINK("x")'


def test_the_default_csv_neutralises_formulas_too(tmp_path: Path) -> None:
    g = ticket(start=START, end=START + timedelta(seconds=90), now=START)
    g = set_cause(g, NOW, "@SUM(1+1)*cmd")
    (row,) = read(
        write_incidents_csv([g], tmp_path / "g.csv", tz=WIB, working_hours=WorkingHours(), now=NOW)
    )
    assert row["Penyebab"] == "'@SUM(1+1)*cmd"
    assert row["Durasi (menit)"] == "1.50"  # numbers are written as numbers


def test_month_list_holds_tickets_overlapping_the_month() -> None:
    sep_end = datetime(2024, 9, 30, 16, 0, tzinfo=UTC)  # 23:00 WIB on 30 Sep
    across = ticket(start=sep_end, end=sep_end + timedelta(hours=2))
    early = ticket(start=datetime(2024, 9, 2, tzinfo=UTC), end=datetime(2024, 9, 2, 1, tzinfo=UTC))
    assert month_tickets([across, early], 2024, 9, WIB) == [early, across]
    assert month_tickets([across, early], 2024, 10, WIB) == [across]


def test_unwritable_directory_is_a_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot write gangguan CSV"):
        write_incidents_csv(
            [], tmp_path / "missing" / "g.csv", tz=WIB, working_hours=WorkingHours(), now=NOW
        )
