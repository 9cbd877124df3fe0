"""The monthly PDF, read back with poppler's real tools (pdftotext, pdffonts, pdftoppm)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.core.errors import ReportError
from exporters.pdf.report import write_pdf
from tests.conftest import require_binary
from tests.reports.sample import aduan, sample_report, sipd, wib

LONG_LIST = 60  # gangguan of "aduan": enough rows to span several pages


@dataclass(frozen=True)
class Rendered:
    path: Path
    pages: list[str]  # pdftotext -layout, one string per page
    progress: list[tuple[int, int]]

    def service_pages(self, service_id: str) -> list[str]:
        """Pages whose running header names the service (its Formulir)."""
        return [p for p in self.pages if f"({service_id})" in p.split("\n", 3)[1]]

    def service_text(self, service_id: str) -> str:
        return "\n".join(self.service_pages(service_id))


def flat(text: str) -> str:
    """Whitespace collapsed: wrapped paragraph lines read as one sentence."""
    return " ".join(text.split())


def pdftotext(path: Path) -> list[str]:
    binary = require_binary("pdftotext")
    out = subprocess.run(
        [binary, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return out.split("\f")[:-1]  # the text ends with a form feed


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    calls: list[tuple[int, int]] = []
    path = tmp_path_factory.mktemp("pdf") / "laporan-2024-09.pdf"
    written = write_pdf(sample_report(LONG_LIST), path, progress=lambda a, b: calls.append((a, b)))
    assert written == path
    return Rendered(path, pdftotext(path), calls)


def test_cover_names_organisation_period_time_and_agents(rendered: Rendered) -> None:
    cover = flat(rendered.pages[0])
    for expected in [
        "Pemerintah Kota Magelang",
        "Dinas Komunikasi, Informatika dan Statistik",
        "Laporan Pemantauan dan Pemeliharaan Layanan SPBE",
        "Periode September 2024 (Sep-2024)",
        "Agen pemantau srv-app-01, srv-db-01",
        "Zona waktu Asia/Jakarta (WIB)",
        "Dibuat pada 01 Okt 2024 01:00 WIB",  # 2024-09-30T18:00Z in WIB
        "Jumlah layanan 3",
    ]:
        assert expected in cover, expected


def test_recap_counts_targets_met_by_classification(rendered: Rendered) -> None:
    recap = flat(rendered.pages[1])
    assert "Evaluasi Pemantauan dan Pemeliharaan Layanan" in recap
    assert (
        "dipantau 3 layanan: 1 memenuhi target ketersediaan, 1 tidak memenuhi target, "
        "dan 1 tanpa data pemantauan" in recap
    )
    # Klasifikasi | Jumlah | Memenuhi | Tidak memenuhi | Tanpa data
    for row in ["Kritis 1 1 0 0", "Esensial 1 0 1 0", "Normal 1 0 0 1", "Jumlah 3 1 1 1"]:
        assert row in recap, row
    # analysis of the service that missed, with its derived causes
    assert "mencapai 98,765 % dari target 99,000 %" in recap
    assert "Server aplikasi mati (30×, 5 jam)" in recap  # 30 × 10 min
    assert 'Jaringan putus, "ISP" (30×, 2 jam 30 menit)' in recap  # 30 × 5 min


def test_recap_of_recovery(rendered: Rendered) -> None:
    text = flat("\n".join(rendered.pages[1:3]))
    assert "Evaluasi Pemulihan Layanan" in text
    assert "RPO: 0 dari 2 layanan yang memiliki RPO" in text
    assert "1 terlampaui, 1 tanpa data backup" in text
    assert "dari 1 gangguan Mayor pada 2 layanan yang memiliki RTO, 0 pulih melebihi RTO" in text
    assert "1 uji dilaksanakan, 1 berhasil sesuai RTO" in text


def test_form_of_a_service_with_host_and_drp(rendered: Rendered) -> None:
    text = rendered.service_text("sipd")
    pairs = [
        ("Nama Layanan", "Sistem Informasi Pemerintahan"),
        ("Periode", "Sep-2024"),
        ("ID Layanan", "sipd"),
        ("Penyedia Layanan", "Bappeda"),
        ("Pengelola Teknis", "Diskominfo"),
        ("Kelompok", "RAL.02 Administrasi Pemerintahan"),
        ("Klasifikasi", "Kritis"),
        ("Cara Akses", "https://sipd.example.go.id"),
        ("Host", "srv-app-01"),
        # Karakteristik Utilisasi: rata-rata, p95
        ("CPU", "35,3 %"),
        ("CPU", "86,4 %"),
        ("RAM", "60,1 %"),
        ("RAM", "72,0 %"),
        ("Storage", "90,0 %"),
        ("Bandwidth", "12,3 Mbps"),
        ("Bandwidth", "40,1 Mbps"),
        ("/var/lib/postgresql", "±20 hari (21 Okt 2024)"),  # 1 Oct + 20 days
        ("/", "±120 hari (29 Jan 2025)"),  # 1 Oct + 120 days
        # Pencapaian Ketersediaan
        ("Target ketersediaan", "99,500 %"),
        ("Realisasi ketersediaan", "99,950 %"),
        ("Status target", "Tercapai"),
        ("Waktu down (Mayor)", "21,60 menit"),
        ("Waktu degradasi (Minor)", "0,25 menit"),
        ("Pemeliharaan terencana", "240,00 menit"),
        ("Tanpa data", "12,50 menit"),
        ("Cakupan data", "99,971 %"),
        ("Jumlah gangguan", "2"),
        # Pemulihan Layanan
        ("RPO", "24,00 jam"),
        ("RTO", "4,00 jam"),
        ("Umur backup", "26,50 jam"),
        ("Kepatuhan RPO", "97,500 %"),
        ("Status RPO", "Terlampaui"),
        ("Pemulihan terlama", "21,60 menit (21 menit)"),
        ("Dokumen DRP", "DRP-SIPD-2024.pdf"),
        ("Uji pemulihan terakhir", "20 Sep 2024"),
    ]
    lines = text.splitlines()
    for label, value in pairs:
        assert any(label in line and value in line for line in lines), (label, value)
    for heading in [
        "Formulir Pemantauan dan Pemeliharaan Layanan",
        "Karakteristik Utilisasi",
        "Pencapaian Ketersediaan",
        "Daftar Gangguan (2)",
        "Pemulihan Layanan",
        "Peluang Peningkatan",
        "Utilisasi CPU dan RAM harian (%)",
        "Tren ketersediaan bulanan (%)",
    ]:
        assert heading in text, heading


def test_form_lists_gangguan_drills_plans_and_signature(rendered: Rendered) -> None:
    text = rendered.service_text("sipd")
    words = flat(text)
    assert re.search(r"G-0001\s+03 Sep 2024\s+03 Sep 2024\s+21 menit\s+Mayor\s+P2", text)
    assert "Database penuh" in text
    assert "Reklasifikasi: Mayor -> Minor" in words  # "→" folded: Vera has no arrow
    assert "Riwayat reklasifikasi gangguan" in text
    assert re.search(
        r"20 Sep 2024\s+otomatis\s+Berhasil\s+1 jam 35 menit\s+6,00 jam\s+Ya\s+Ya", text
    )
    assert "Rencana pemeliharaan periode berikutnya (Okt-2024)" in words
    assert "14 Okt 2024 22:00 – 15 Okt 2024 02:00 WIB: Upgrade RAM" in words
    assert "Penambahan disk 500 GB pada Triwulan IV" in words
    assert "Filesystem /var/lib/postgresql diperkirakan penuh dalam ±20 hari" in words
    assert "CPU p95 86,4 % (> 80 %)" in words
    for line in [
        "Magelang, 1 Oktober 2024",
        "Kepala Bidang Persandian",
        "Budi Santoso, S.Kom.",
        "NIP. 19800101 200501 1 001",
    ]:
        assert line in text, line


def test_form_of_a_service_without_host_or_drp(rendered: Rendered) -> None:
    text = rendered.service_text("aduan")
    words = flat(text)
    assert 'Layanan "Aduan", Kota Magelang — Periode Sep-2024 (September 2024)' in words
    assert "Tidak berlaku: layanan ini tidak dikaitkan dengan host yang dipantau" in words
    assert re.search(r"Realisasi ketersediaan\s+98,765 %", text)
    assert re.search(r"Status target\s+Tidak tercapai", text)
    assert "Penyebab tidak tercapainya target:" in text
    assert "Server aplikasi mati (30×, 5 jam)" in text
    assert re.search(r"RPO\s+tidak berlaku\s+RTO\s+tidak berlaku", text)
    assert "Tidak ada pemeliharaan terencana." in text
    assert f"Daftar Gangguan ({LONG_LIST})" in text


def test_form_of_a_service_without_data(rendered: Rendered) -> None:
    text = rendered.service_text("portal")
    assert re.search(r"Realisasi ketersediaan\s+–", text)
    assert re.search(r"Status target\s+Tanpa data", text)
    assert re.search(r"Tanpa data\s+43\.200,00 menit", text)  # 30 days
    assert re.search(r"Status RPO\s+tanpa data backup", text)
    assert "Catatan penyebab:" in text
    assert "=Agen berhenti" in text
    assert "Tidak ada gangguan pada periode ini." in text
    assert "belum ada data tren" in text


def test_long_gangguan_list_repeats_its_header_on_every_page(rendered: Rendered) -> None:
    pages = [p for p in rendered.service_pages("aduan") if re.search(r"A-\d{4}", p)]
    assert len(pages) >= 2, "the list should span pages"
    header = re.compile(r"No\s+ID\s+Mulai \(WIB\)\s+Selesai\s+Durasi\s+Dampak\s+Prioritas")
    for page in pages:
        assert header.search(page), page[:400]
    ids = {m for p in pages for m in re.findall(r"A-\d{4}", p)}
    assert ids == {f"A-{i:04d}" for i in range(1, LONG_LIST + 1)}


def test_pages_are_numbered_x_of_y(rendered: Rendered) -> None:
    total = len(rendered.pages)
    for number, page in enumerate(rendered.pages, 1):
        assert f"Halaman {number} dari {total}" in page


def test_every_form_starts_on_its_own_page_with_its_name_in_the_header(
    rendered: Rendered,
) -> None:
    for service_id in ["sipd", "aduan", "portal"]:
        first = rendered.service_pages(service_id)[0]
        body = [line.strip() for line in first.splitlines()[2:] if line.strip()]
        assert body[0] == "Formulir Pemantauan dan Pemeliharaan Layanan", body[:2]
        index = rendered.pages.index(first)
        assert f"({service_id})" not in rendered.pages[index - 1].split("\n", 2)[1]


def test_progress_is_reported_per_service(rendered: Rendered) -> None:
    assert rendered.progress == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_all_fonts_are_embedded(rendered: Rendered) -> None:
    binary = require_binary("pdffonts")
    out = subprocess.run([binary, str(rendered.path)], capture_output=True, text=True, check=True)
    rows = out.stdout.splitlines()[2:]
    assert rows, out.stdout
    for row in rows:
        # name, type (may be two words), encoding, emb, sub, uni, object, generation
        emb = row.split()[-5]
        assert emb == "yes", row
    assert "Helvetica" not in out.stdout
    assert "BitstreamVeraSans-Roman" in out.stdout


def test_every_page_renders(rendered: Rendered, tmp_path: Path) -> None:
    binary = require_binary("pdftoppm")
    proc = subprocess.run(
        [binary, "-png", "-r", "50", str(rendered.path), str(tmp_path / "page")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == len(rendered.pages)
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 1000


def test_characters_outside_the_font_are_folded_not_boxes(tmp_path: Path) -> None:
    odd = dataclasses.replace(
        sipd(),
        name="Layanan Pāsar → Daring 漢",
        monitored_since=wib(2024, 9, 12, 8, 0),
    )
    report = dataclasses.replace(sample_report(), services=[odd])
    text = flat("\n".join(pdftotext(write_pdf(report, tmp_path / "odd.pdf"))))
    assert "Layanan Pasar -> Daring ?" in text
    assert "Layanan dipantau sejak 12 Sep 2024 08:00 WIB" in text
    assert "Dipantau sejak 12 Sep 2024 08:00 WIB" in text


def test_markup_in_user_text_is_shown_literally(tmp_path: Path) -> None:
    nasty = dataclasses.replace(aduan(1), name="A <b>&amp; B</b> <font>")
    report = dataclasses.replace(sample_report(), services=[nasty])
    text = flat("\n".join(pdftotext(write_pdf(report, tmp_path / "m.pdf"))))
    assert "A <b>&amp; B</b> <font>" in text


def test_unwritable_target_is_a_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot write PDF report"):
        write_pdf(sample_report(), tmp_path / "absent" / "x.pdf")


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    write_pdf(sample_report(), tmp_path / "r.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.pdf"]


def test_text_taller_than_a_page_flows_on_instead_of_failing(tmp_path: Path) -> None:
    service = aduan(3)
    first = dataclasses.replace(service.gangguan[0], cause="Catatan panjang sekali. " * 400)
    service = dataclasses.replace(
        service,
        name="Nama " * 200,  # the running header is cut with an ellipsis, not overflowed
        gangguan=[first, *service.gangguan[1:]],
        capacity_plan=["rencana " * 1500],
    )
    report = dataclasses.replace(sample_report(), services=[service])
    pages = pdftotext(write_pdf(report, tmp_path / "long.pdf"))
    list_pages = [p for p in pages if "Catatan panjang sekali." in p and "Mulai (WIB)" in p]
    assert len(list_pages) >= 2  # the row was split across pages, header repeated
    headers = [p.splitlines()[1].strip() for p in pages]
    form_headers = [h for h in headers if h.startswith("Formulir Pemantauan") and "Nama" in h]
    assert form_headers
    assert all(h.endswith("…") and len(h) < 150 for h in form_headers), form_headers


def test_report_without_services_still_has_cover_and_recap(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    report = dataclasses.replace(sample_report(), services=[])
    pages = pdftotext(write_pdf(report, tmp_path / "empty.pdf", lambda a, b: calls.append((a, b))))
    assert "dipantau 0 layanan" in flat(pages[1])
    assert calls == [(0, 0)]
