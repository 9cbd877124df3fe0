"""``pantau report``: the monthly Formulir from the local store (or Prometheus, SPEC §9)."""

from __future__ import annotations

import contextlib
import sys
from datetime import timedelta
from pathlib import Path

import click

from agent.cli.incident import open_store
from agent.config.models import Config
from agent.core.clock import SystemClock
from agent.core.durations import parse_duration
from agent.core.errors import ReportError
from agent.core.periods import parse_period
from agent.reports.fleet.client import PromAuth, auth_from_env, load_auth
from agent.reports.monthly import generate


def run_report(
    config: Config,
    period: str,
    formats: list[str],
    out_dir: Path,
    services: list[str],
    excel: bool,
    source: str,
    prometheus_url: str | None,
    prom: dict[str, str | None] | None = None,
) -> None:
    """Write the files, with a progress bar on a terminal; exit 2 on a bad period, 1 on no data."""
    try:
        year, month = parse_period(period)
    except ReportError as exc:
        click.echo(f"pantau: --period: {exc}", err=True)
        sys.exit(2)
    auth, step = None, None
    if source == "prometheus":
        try:
            auth, step = _prom_options(prom or {})
        except ReportError as exc:
            click.echo(f"pantau: {exc}", err=True)
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
                from agent.reports.fleet.report import generate_from_prometheus

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
                    step=step,
                    auth=auth,
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


def _prom_options(prom: dict[str, str | None]) -> tuple[PromAuth | None, timedelta | None]:
    """Command-line Prometheus options; unset ones fall back to PANTAU_PROM_* variables."""
    env = auth_from_env() if not any(prom.get(k) for k in _AUTH_KEYS) else None
    auth = env or load_auth(
        prom.get("username"),
        prom.get("password_file"),
        prom.get("bearer_token_file"),
        prom.get("ca_file"),
        names={
            "username": "--prometheus-user",
            "password_file": "--prometheus-password-file",
            "bearer_token_file": "--prometheus-bearer-token-file",
            "ca_file": "--prometheus-ca-file",
        },
    )
    step = None
    if prom.get("step"):
        try:
            step = parse_duration(prom["step"])
        except ValueError as exc:
            raise ReportError(f"--step: {exc}") from None
    return auth, step


_AUTH_KEYS = ("username", "password_file", "bearer_token_file", "ca_file")
