"""The monthly CSV: SPEC §8 columns, number formats, empty cells, quoting, Excel dialect."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from agent.core.errors import ReportError
from exporters import csv_report
from exporters.csv_report import COLUMNS, Column, Num, rows, write_csv
from tests.reports.sample import sample_report

# Copied from SPEC §8 (line breaks of the spec's code block joined with nothing).
SPEC_HEADER = (
    "service_id,nama_layanan,periode,penyedia_layanan,kelompok,klasifikasi,"
    "target_ketersediaan_pct,realisasi_ketersediaan_pct,tercapai,"
    "downtime_menit,degradasi_menit,pemeliharaan_menit,tanpa_data_menit,cakupan_data_pct,"
    "jumlah_gangguan,"
    "cpu_rata_pct,cpu_p95_pct,ram_rata_pct,ram_p95_pct,storage_pct,bandwidth_rata_mbps,"
    "bandwidth_p95_mbps,"
    "rpo_jam,umur_backup_maks_jam,kepatuhan_rpo_pct,rto_jam,pemulihan_terlama_menit,"
    "gangguan_melebihi_rto,"
    "penyebab,rencana_pemeliharaan,rencana_peningkatan_kapasitas"
)

SIPD_ROW = {
    "service_id": "sipd",
    "nama_layanan": "Sistem Informasi Pemerintahan Daerah",
    "periode": "Sep-2024",
    "penyedia_layanan": "Bappeda",
    "kelompok": "administrasi_pemerintahan",
    "klasifikasi": "kritis",
    "target_ketersediaan_pct": "99.500",
    "realisasi_ketersediaan_pct": "99.950",
    "tercapai": "ya",
    "downtime_menit": "21.60",  # 21 min 36 s = 21.6 min
    "degradasi_menit": "0.25",  # 15 s
    "pemeliharaan_menit": "240.00",  # 4 h
    "tanpa_data_menit": "12.50",  # 12 min 30 s
    "cakupan_data_pct": "99.971",
    "jumlah_gangguan": "2",
    "cpu_rata_pct": "35.250",
    "cpu_p95_pct": "86.400",
    "ram_rata_pct": "60.125",
    "ram_p95_pct": "72.000",
    "storage_pct": "90.000",  # fullest filesystem: 180 / 200 GiB
    "bandwidth_rata_mbps": "12.3",  # 12.34
    "bandwidth_p95_mbps": "40.1",  # 40.06
    "rpo_jam": "24.00",
    "umur_backup_maks_jam": "26.50",  # 26 h 30 min
    "kepatuhan_rpo_pct": "97.500",
    "rto_jam": "4.00",
    "pemulihan_terlama_menit": "21.60",  # G-0001, the only Mayor gangguan
    "gangguan_melebihi_rto": "0",
    "penyebab": "",  # target met, no operator cause
    "rencana_pemeliharaan": "2024-10-14 22:00–2024-10-15 02:00 WIB: Upgrade RAM",
    "rencana_peningkatan_kapasitas": (
        "Penambahan disk 500 GB pada Triwulan IV; "
        "Saran: Filesystem /var/lib/postgresql diperkirakan penuh dalam ±20 hari (bertambah "
        "1,0 GiB/hari, terpakai 90,0 %): tambah kapasitas atau kurangi data; "
        "Saran: CPU p95 86,4 % (> 80 %): beban tinggi berkelanjutan, tambah vCPU atau "
        "optimalkan beban"
    ),
}

NOT_APPLICABLE_WITHOUT_HOST_OR_DRP = [
    "cpu_rata_pct",
    "cpu_p95_pct",
    "ram_rata_pct",
    "ram_p95_pct",
    "storage_pct",
    "bandwidth_rata_mbps",
    "bandwidth_p95_mbps",
    "rpo_jam",
    "umur_backup_maks_jam",
    "kepatuhan_rpo_pct",
    "rto_jam",
    "gangguan_melebihi_rto",
]


def read_rows(path: Path, *, excel: bool = False) -> list[dict[str, str]]:
    encoding, delimiter = ("utf-8-sig", ";") if excel else ("utf-8", ",")
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    return write_csv(sample_report(), tmp_path / "laporan-2024-09.csv")


@pytest.fixture
def excel(tmp_path: Path) -> Path:
    return write_csv(sample_report(), tmp_path / "laporan-2024-09-excel.csv", excel=True)


def test_header_is_exactly_the_spec(plain: Path) -> None:
    first_line = plain.read_bytes().split(b"\n", 1)[0].decode("utf-8")
    assert first_line == SPEC_HEADER
    assert ",".join(c.name for c in COLUMNS) == SPEC_HEADER


def test_one_row_per_service_in_report_order(plain: Path) -> None:
    assert [r["service_id"] for r in read_rows(plain)] == ["sipd", "aduan", "portal"]


def test_every_cell_of_a_full_row(plain: Path) -> None:
    assert read_rows(plain)[0] == SIPD_ROW


def test_service_without_host_or_drp_has_empty_cells(plain: Path) -> None:
    aduan = read_rows(plain)[1]
    for column in NOT_APPLICABLE_WITHOUT_HOST_OR_DRP:
        assert aduan[column] == "", column
    assert aduan["realisasi_ketersediaan_pct"] == "98.765"  # 98.7654 floored
    assert aduan["tercapai"] == "tidak"
    assert aduan["downtime_menit"] == "533.25"  # 533 min 15 s
    assert aduan["pemulihan_terlama_menit"] == "10.00"  # a Mayor gangguan lasts 10 min
    assert aduan["jumlah_gangguan"] == "4"
    # target missed, no operator cause: derived from the gangguan, longest total first
    assert aduan["penyebab"] == (
        'Server aplikasi mati (2×, 20 menit); Jaringan putus, "ISP" (2×, 10 menit)'
    )


def test_service_without_data_has_empty_realisation_and_verdict(plain: Path) -> None:
    portal = read_rows(plain)[2]
    assert portal["realisasi_ketersediaan_pct"] == ""
    assert portal["tercapai"] == ""
    assert portal["tanpa_data_menit"] == "43200.00"  # 30 days
    assert portal["cakupan_data_pct"] == "0.000"
    # RPO configured but no backup seen: the RPO applies, the age is unknown
    assert (portal["rpo_jam"], portal["umur_backup_maks_jam"]) == ("12.00", "")
    assert (portal["rto_jam"], portal["gangguan_melebihi_rto"]) == ("8.00", "0")


def test_text_with_commas_quotes_and_newlines_is_quoted(plain: Path) -> None:
    raw = plain.read_text(encoding="utf-8")
    assert '"Layanan ""Aduan"", Kota Magelang"' in raw
    # A cause that would start a formula is neutralised in the plain file too.
    assert '"\'=Agen berhenti\nsejak 1 Sep; Host dimatikan"' in raw
    rows = read_rows(plain)
    assert rows[1]["nama_layanan"] == 'Layanan "Aduan", Kota Magelang'
    assert rows[2]["penyebab"] == "'=Agen berhenti\nsejak 1 Sep; Host dimatikan"


def test_plain_file_is_utf8_without_bom_with_lf(plain: Path) -> None:
    data = plain.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" not in data
    assert "±20 hari".encode() in data


def test_excel_dialect_has_bom_semicolons_and_decimal_commas(excel: Path) -> None:
    data = excel.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    header, first = data[3:].decode("utf-8").split("\r\n")[:2]
    assert header == SPEC_HEADER.replace(",", ";")
    assert first.startswith(
        "sipd;Sistem Informasi Pemerintahan Daerah;Sep-2024;Bappeda;administrasi_pemerintahan;"
        "kritis;99,500;99,950;ya;21,60;0,25;240,00;12,50;99,971;2;35,250;86,400;60,125;72,000;"
        "90,000;12,3;40,1;24,00;26,50;97,500;4,00;21,60;0;;"
    )


def test_excel_round_trips_with_the_same_cells_except_decimal_marks(excel: Path) -> None:
    rows = read_rows(excel, excel=True)
    assert [r["service_id"] for r in rows] == ["sipd", "aduan", "portal"]
    assert rows[0]["downtime_menit"] == "21,60"
    assert rows[1]["nama_layanan"] == 'Layanan "Aduan", Kota Magelang'
    # list cells contain "; " and so are quoted, not split
    assert rows[0]["rencana_peningkatan_kapasitas"].count("; Saran: ") == 2


def test_text_that_looks_like_a_formula_stays_text_in_both_dialects(
    excel: Path, plain: Path
) -> None:
    assert read_rows(excel, excel=True)[2]["penyebab"].startswith("'=Agen berhenti")
    assert read_rows(plain)[2]["penyebab"].startswith("'=Agen berhenti")


def test_missing_directory_is_a_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot write CSV report"):
        write_csv(sample_report(), tmp_path / "absent" / "x.csv")


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    write_csv(sample_report(), tmp_path / "a.csv")
    write_csv(sample_report(), tmp_path / "a.csv")  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_rows_match_header_width(plain: Path) -> None:
    with plain.open(encoding="utf-8", newline="") as fh:
        widths = {len(row) for row in csv.reader(io.StringIO(fh.read()))}
    assert widths == {len(COLUMNS)}


def test_a_column_is_one_entry_giving_its_header_and_every_cell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = (
        Column("nilai", lambda r, s: Num(1.25, 1)),
        Column("kosong", lambda r, s: Num(None, 2)),
        Column("catatan", lambda r, s: f"={s.id}"),
    )
    monkeypatch.setattr(csv_report, "COLUMNS", (*COLUMNS, *extra))
    header, *body = rows(sample_report(), excel=True)
    assert header[-3:] == ["nilai", "kosong", "catatan"]
    # 1.25 to 1 place rounds half up in decimal: 1,3 in the Excel dialect; None is empty;
    # text that would start a formula is neutralised.
    assert [row[-3:] for row in body] == [
        ["1,3", "", "'=sipd"],
        ["1,3", "", "'=aduan"],
        ["1,3", "", "'=portal"],
    ]
    _, *plain = rows(sample_report())
    assert plain[0][-3:] == ["1.3", "", "'=sipd"]
