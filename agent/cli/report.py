"""``pantau report``: the monthly Formulir from the local store (or Prometheus, SPEC §9)."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import click

from agent.cli.store import open_store
from agent.config.models import Config
from agent.core.clock import SystemClock
from agent.core.durations import parse_duration
from agent.core.errors import ReportError, UsageError
from agent.core.periods import parse_period
from agent.reports.fleet.client import PromAuth, auth_from_env, load_auth
from agent.reports.monthly import generate

FORMATS = ("csv", "pdf")


def report_formats(formats: str) -> list[str]:
    """``--format``: ``csv``, ``pdf`` or both, comma-separated."""
    chosen = [f.strip() for f in formats.split(",") if f.strip()]
    if not chosen or any(f not in FORMATS for f in chosen):
        raise UsageError(f"--format: expected csv, pdf or csv,pdf, not {formats!r}")
    return chosen


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
) -> list[Path]:
    """Write the files, with a progress bar on a terminal; return them.

    The period and the Prometheus options are checked before anything is fetched: a wrong
    one is a :class:`UsageError` naming the option.
    """
    if source == "prometheus" and not prometheus_url:
        raise UsageError("--source prometheus needs --prometheus-url URL")
    try:
        year, month = parse_period(period)
    except ReportError as exc:
        raise UsageError(f"--period: {exc}") from None
    write: Callable[..., list[Path]]
    with contextlib.ExitStack() as stack:
        if prometheus_url and source == "prometheus":
            from agent.reports.fleet.report import generate_from_prometheus

            auth, step = _prom_options(prom or {})
            write = functools.partial(
                generate_from_prometheus, config, prometheus_url, step=step, auth=auth
            )
        else:
            write = functools.partial(
                generate, stack.enter_context(open_store(config, read_only=True)), config
            )
        bar_cm = click.progressbar(
            length=len(services) or len(config.services), label="Formulir", file=sys.stderr
        )
        # A progress bar only on a terminal; scripts and cron get just the file names.
        bar = stack.enter_context(bar_cm if sys.stderr.isatty() else contextlib.nullcontext())

        def progress(done: int, total: int) -> None:
            if bar is not None and done:
                bar.update(1)

        return write(
            year,
            month,
            SystemClock().now(),
            out_dir,
            formats=formats,
            excel=excel,
            services=services,
            progress=progress,
        )


def _prom_options(prom: dict[str, str | None]) -> tuple[PromAuth | None, timedelta | None]:
    """Command-line Prometheus options; unset ones fall back to PANTAU_PROM_* variables."""
    try:
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
    except ReportError as exc:  # the credentials named on the command line are wrong
        raise UsageError(str(exc)) from None
    step = None
    if prom.get("step"):
        try:
            step = parse_duration(prom["step"])
        except ValueError as exc:
            raise UsageError(f"--step: {exc}") from None
    return auth, step


_AUTH_KEYS = ("username", "password_file", "bearer_token_file", "ca_file")
