"""``pantau report``: the monthly Formulir from the local store (or Prometheus, SPEC §9)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from agent.availability import parse_period
from agent.clock import SystemClock
from agent.config import Config
from agent.errors import ReportError
from agent.incident_cmd import open_store
from agent.monthly import generate


def run_report(
    config: Config,
    period: str,
    formats: list[str],
    out_dir: Path,
    services: list[str],
    excel: bool,
    source: str,
    prometheus_url: str | None,
) -> None:
    """Write the files, with a progress bar on a terminal; exit 2 on a bad period, 1 on no data."""
    try:
        year, month = parse_period(period)
    except ReportError as exc:
        click.echo(f"pantau: --period: {exc}", err=True)
        sys.exit(2)
    now = SystemClock().now()
    bar_cm = click.progressbar(
        length=len(services) or len(config.services), label="Formulir", file=sys.stderr
    )
    # A progress bar only on a terminal; scripts and cron get just the file names.
    with bar_cm if sys.stderr.isatty() else contextlib.nullcontext() as bar:

        def progress(done: int, total: int) -> None:
            if bar is not None and done:
                bar.update(1)

        try:
            if source == "prometheus":
                from agent.prom_report import generate_from_prometheus

                assert prometheus_url is not None
                files = generate_from_prometheus(
                    config,
                    prometheus_url,
                    year,
                    month,
                    now,
                    out_dir,
                    formats=formats,
                    excel=excel,
                    services=services,
                    progress=progress,
                )
            else:
                with open_store(config) as store:
                    files = generate(
                        store,
                        config,
                        year,
                        month,
                        now,
                        out_dir,
                        formats=formats,
                        excel=excel,
                        services=services,
                        progress=progress,
                    )
        except ReportError as exc:
            click.echo(f"pantau: {exc}", err=True)
            sys.exit(2 if "future" in str(exc) or "unknown service" in str(exc) else 1)
    for f in files:
        click.echo(str(f))
