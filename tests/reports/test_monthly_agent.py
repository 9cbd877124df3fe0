"""The running agent's monthly report (agent.reports.monthly.MonthlyReporter) on a fake clock.

The agent writes the previous month's report on ``agent.report.day`` at ``agent.report.at``
in the configured zone, never twice (also not after a restart), catches up at start, and
e-mails the files when an SMTP host is configured — here a real aiosmtpd server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from agent.reports.monthly import MonthlyReporter
from tests.fakes import FakeClock
from tests.reports.history import History, shared_history

WIB = ZoneInfo("Asia/Jakarta")
STEM = "pantau-srv-app-01-2024-09"
#: Not the defaults (day 1, 01:00), so the test shows the settings are read.
SCHEDULE = {"day": 2, "at": "06:30"}


def wib(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 10, day, hour, minute, tzinfo=WIB).astimezone(UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> History:
    return shared_history(tmp_path_factory.getbasetemp())


def setup(template: History, tmp_path: Path, **report: Any) -> tuple[History, Path]:
    """A private copy of the history whose agent writes reports to ``tmp_path/reports``."""
    out = tmp_path / "reports"
    history = template.copy_to(tmp_path / "agent", {**SCHEDULE, "output_dir": str(out), **report})
    return history, out


def run_due(history: History, clock: FakeClock) -> list[Path]:
    """One agent life: open the store, configure the reporter, run what is due, stop."""

    async def life() -> list[Path]:
        with history.open_store(clock) as store:
            reporter = MonthlyReporter(store, clock)
            reporter.configure(history.config)
            return await reporter.run_due()

    return asyncio.run(life())


def listing(directory: Path) -> dict[str, int]:
    """File name → modification time (ns); empty when the directory does not exist."""
    if not directory.exists():
        return {}
    return {p.name: p.stat().st_mtime_ns for p in sorted(directory.iterdir())}


def generated(history: History) -> Any:
    with history.open_store() as store:
        return store.reports.generated("2024-09")


def test_nothing_is_written_before_the_scheduled_day_and_time(
    template: History, tmp_path: Path
) -> None:
    history, out = setup(template, tmp_path)
    for moment in (wib(1, 1, 0), wib(1, 23, 59), wib(2, 6, 29)):  # 2 Oct 06:30 WIB is due
        assert run_due(history, FakeClock(moment)) == []
    assert listing(out) == {}
    assert generated(history) is None


def test_previous_month_is_written_once_at_the_scheduled_time(
    template: History, tmp_path: Path
) -> None:
    history, out = setup(template, tmp_path)
    clock = FakeClock(wib(2, 6, 30))
    files = run_due(history, clock)
    assert files == [out / f"{STEM}.csv", out / f"{STEM}.pdf"]
    assert files[1].read_bytes().startswith(b"%PDF-")
    with files[0].open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["service_id"], r["periode"]) for r in rows] == [
        ("sipd", "Sep-2024"),
        ("lapor", "Sep-2024"),
        ("jdih", "Sep-2024"),
        ("ppid", "Sep-2024"),
    ]
    record = generated(history)
    assert record is not None
    assert (record.generated_at, record.files) == (clock.now(), [str(f) for f in files])
    written = listing(out)

    clock.advance(60)
    assert run_due(history, clock) == []  # a second run the same morning
    clock.advance(3 * 86_400)
    assert run_due(history, clock) == []  # and days later
    assert listing(out) == written  # not rewritten either


def test_a_restarted_agent_does_not_write_the_month_again(
    template: History, tmp_path: Path
) -> None:
    history, out = setup(template, tmp_path)
    assert len(run_due(history, FakeClock(wib(2, 6, 30)))) == 2
    written = listing(out)
    # run_due opens a new store and a new reporter: a restart of the agent
    for moment in (wib(2, 6, 45), wib(20, 12, 0)):
        assert run_due(history, FakeClock(moment)) == []
    assert listing(out) == written


def test_an_agent_started_after_the_scheduled_time_catches_up_once(
    template: History, tmp_path: Path
) -> None:
    history, out = setup(template, tmp_path)
    clock = FakeClock(wib(5, 9, 0))  # the agent was down on 2 Oct
    assert run_due(history, clock) == [out / f"{STEM}.csv", out / f"{STEM}.pdf"]
    clock.advance(3600)
    assert run_due(history, clock) == []


def test_a_disabled_report_is_never_written(template: History, tmp_path: Path) -> None:
    history, out = setup(template, tmp_path, enabled=False)
    assert run_due(history, FakeClock(wib(5, 9, 0))) == []
    assert listing(out) == {}


# ---------------------------------------------------------------------------------- e-mail
class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_the_report_is_e_mailed_with_the_pdf_attached(
    template: History, tmp_path: Path, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    history, out = setup(
        template,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        email_from="pantau@magelangkota.go.id",
        email_to=["pj.layanan@magelangkota.go.id", "kominfo@magelangkota.go.id"],
    )
    files = run_due(history, FakeClock(wib(2, 6, 30)))
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["Subject"] == "Formulir Pemantauan dan Pemeliharaan Layanan Sep-2024"
    assert inbox.envelopes == [
        (
            "pantau@magelangkota.go.id",
            ["pj.layanan@magelangkota.go.id", "kominfo@magelangkota.go.id"],
        )
    ]
    body = msg.get_body(("plain",))
    assert body is not None
    assert "Terlampir laporan Sep-2024 dari srv-app-01." in body.get_content()
    attached = {str(part.get_filename()): part for part in msg.iter_attachments()}
    assert sorted(attached) == [f"{STEM}.csv", f"{STEM}.pdf"]
    pdf = attached[f"{STEM}.pdf"]
    assert pdf.get_content_type() == "application/pdf"
    content = pdf.get_content()
    assert content.startswith(b"%PDF")
    assert content == files[1].read_bytes() == (out / f"{STEM}.pdf").read_bytes()
    assert attached[f"{STEM}.csv"].get_content_type() == "text/csv"


def test_an_unreachable_mail_server_does_not_lose_the_report(
    template: History, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    history, out = setup(
        template,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),  # nothing listens there
        smtp_starttls=False,
        email_to=["pj.layanan@magelangkota.go.id"],
    )
    with caplog.at_level(logging.ERROR, logger="pantau.report"):
        files = run_due(history, FakeClock(wib(2, 6, 30)))
    assert files == [out / f"{STEM}.csv", out / f"{STEM}.pdf"]
    assert all(f.exists() for f in files)
    assert generated(history) is not None  # written and recorded: not retried, not lost
    assert "monthly report e-mail failed" in caplog.text
