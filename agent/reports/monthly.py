"""The monthly Formulir: produced on demand (``pantau report``) or by the running agent.

The agent writes the previous month's report by itself on the configured day and time of
the month (``agent.report``: day, at, output_dir, formats), in the configured zone: its
calendar (:mod:`agent.runtime.cron`) calls :meth:`MonthlyReporter.run_due` then. It never
writes a month twice: the ``reports`` table records every period done, and a start-up after
the scheduled time catches up once. Optionally the PDF is e-mailed.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import smtplib
import ssl
from collections.abc import Callable, Sequence
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.config.models import Config, ReportSettings
from agent.core.clock import Clock
from agent.core.errors import ReportError
from agent.core.periods import add_months, period_key, period_label, period_of
from agent.reports.builder import build_report, has_data
from agent.reports.formulir import no_data, write_report
from agent.store.database import Store

log = logging.getLogger("pantau.report")

Progress = Callable[[int, int], None]


def generate(
    store: Store,
    config: Config,
    year: int,
    month: int,
    now: datetime,
    out_dir: Path,
    *,
    formats: Sequence[str] = ("csv", "pdf"),
    excel: bool = False,
    services: Sequence[str] = (),
    progress: Progress | None = None,
) -> list[Path]:
    """Build and write one month's report; return the files written."""
    if not has_data(store, config, year, month, now):
        raise no_data(
            year,
            month,
            "no service was monitored before the end of that month (is this the right data_dir?)",
        )
    data = build_report(store, config, year, month, now, services=services)
    return write_report(
        data, out_dir, config.agent.name, formats=formats, excel=excel, progress=progress
    )


def send_mail(rs: ReportSettings, subject: str, body: str, files: Sequence[Path]) -> None:
    """E-mail ``files`` to ``rs.email_to`` through ``rs.smtp_host`` (STARTTLS by default)."""
    if not rs.smtp_host or not rs.email_to:
        return
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = rs.email_from or (rs.smtp_username or "pantau@localhost")
    msg["To"] = ", ".join(rs.email_to)
    msg.set_content(body)
    for path in files:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    with smtplib.SMTP(rs.smtp_host, rs.smtp_port, timeout=30) as smtp:
        if rs.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if rs.smtp_username:
            password = rs.smtp_password_file.read_text().strip() if rs.smtp_password_file else ""
            smtp.login(rs.smtp_username, password)
        smtp.send_message(msg)


class MonthlyReporter:
    """The previous month's report in the running agent: due or not, written once, e-mailed."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.config: Config | None = None
        self._lock = asyncio.Lock()

    def configure(self, config: Config) -> None:
        """Use ``config`` (at start and on every reload) for what is due and where it goes."""
        self.config = config

    def output_dir(self) -> Path:
        assert self.config is not None
        rs = self.config.agent.report
        return rs.output_dir or Path(self.config.agent.data_dir) / "reports"

    def due_now(self) -> tuple[int, int] | None:
        """The previous month, when its scheduled time has passed and it is not written yet."""
        assert self.config is not None
        rs = self.config.agent.report
        zone = ZoneInfo(self.config.agent.timezone)
        local = self.clock.now().astimezone(zone)
        scheduled = local.replace(
            day=rs.day, hour=rs.at.hour, minute=rs.at.minute, second=0, microsecond=0
        )
        if not rs.enabled or local < scheduled:
            return None
        year, month = add_months(*period_of(self.clock.now(), zone), -1)
        if self.store.reports.generated(period_key(year, month)) is not None:
            return None
        return year, month

    async def run_due(self) -> list[Path]:
        """Write the previous month's report unless already done (also the start-up catch-up)."""
        async with self._lock:
            due = await asyncio.to_thread(self.due_now)
            if due is None or self.config is None:
                return []
            year, month = due
            config = self.config
            try:
                files = await asyncio.to_thread(self._write, config, year, month)
            except ReportError as exc:
                log.warning("monthly report %04d-%02d not written: %s", year, month, exc)
                return []
            except Exception:
                log.exception("monthly report %04d-%02d failed", year, month)
                return []
            log.info(
                "monthly report %04d-%02d written: %s", year, month, ", ".join(map(str, files))
            )
            rs = config.agent.report
            if rs.smtp_host and rs.email_to:
                subject = (
                    f"Formulir Pemantauan dan Pemeliharaan Layanan {period_label(year, month)}"
                )
                try:
                    await asyncio.to_thread(
                        send_mail,
                        rs,
                        subject,
                        f"Terlampir laporan {period_label(year, month)} dari {config.agent.name}.",
                        files,
                    )
                except (OSError, smtplib.SMTPException) as exc:
                    log.error("monthly report e-mail failed: %s", exc)
            return files

    def _write(self, config: Config, year: int, month: int) -> list[Path]:
        rs = config.agent.report
        files = generate(
            self.store, config, year, month, self.clock.now(), self.output_dir(), formats=rs.formats
        )
        if not self.store.reports.mark(period_key(year, month), [str(f) for f in files]):
            log.warning("report %04d-%02d was already recorded", year, month)
        return files
