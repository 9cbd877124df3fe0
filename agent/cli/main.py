"""The ``pantau`` command line (SPEC §5), and its one error boundary.

Exit codes: 0 ok, 1 a check or target failed (or no data), 2 usage or configuration error.
A command either returns its exit status (a down service or a failed drill is a result, not
an error) or raises a :class:`~agent.core.errors.PantauError`; :class:`PantauGroup` prints
``pantau: <message>`` and exits with the error's own code (the tree is drawn in
:mod:`agent.core.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from agent import __version__
from agent.config.loader import load_config
from agent.core.errors import EXIT_FAILED, EXIT_OK, PantauError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    """The ``-c/--config`` option shared by every command."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=Path("pantau.yaml"),
        show_default=True,
        help="Configuration file.",
    )(func)


class PantauGroup(click.Group):
    """The ``pantau`` group: every command of the tree runs inside :meth:`invoke`."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; exit with the status it returned or the code of what it raised."""
        try:
            status = super().invoke(ctx)
        except PantauError as exc:
            click.echo(f"pantau: {exc.describe()}", err=True)
            ctx.exit(exc.exit_code)
        ctx.exit(status or EXIT_OK)


@click.group(cls=PantauGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pantau")
def main() -> None:
    """pantau — uptime and disaster-recovery monitoring of Layanan SPBE."""


@main.command()
@config_option
def check(config_path: Path) -> None:
    """Validate the configuration and print a summary of the katalog."""
    from agent.reports.summary import summary_lines

    config = load_config(config_path)
    for line in summary_lines(config, str(config_path)):
        click.echo(line)


@main.command()
@config_option
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def run(config_path: Path, log_level: str) -> int:
    """Run the agent: probes, store, HTTP endpoint (SIGHUP reloads, SIGTERM stops)."""
    from agent.runtime.logs import setup_logging
    from agent.runtime.runner import run_agent

    setup_logging(log_level)
    config = load_config(config_path)  # every problem is printed before anything starts
    return run_agent(config_path, config)


@main.command()
@config_option
@click.argument("services", nargs=-1)
def probe(config_path: Path, services: tuple[str, ...]) -> int:
    """Run one round of SERVICE... (default: all) now and print the results."""
    import asyncio

    from agent.cli.probe import probe_table

    config = load_config(config_path)
    unknown = [s for s in services if s not in {svc.id for svc in config.services}]
    if unknown:
        raise UsageError(f"unknown service(s): {', '.join(unknown)} (see `pantau check`)")
    lines, any_down = asyncio.run(probe_table(config, list(services)))
    for line in lines:
        click.echo(line)
    return EXIT_FAILED if any_down else EXIT_OK


@main.command()
@config_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (as /api/v1/status), times in UTC."
)
@click.option(
    "--watch",
    type=click.IntRange(min=1),
    metavar="N",
    help="Redraw the table every N seconds until Ctrl-C.",
)
def status(config_path: Path, as_json: bool, watch: int | None) -> int:
    """State, month-to-date availability, backups vs RPO, drills vs RTO, open gangguan, hosts.

    Exit 1 when any service is down or any RPO is breached, else 0.
    """
    from agent.cli.status import show_status, watch_status

    if watch is not None and as_json:
        raise UsageError("--watch redraws the table; for JSON every N seconds poll /api/v1/status")
    config = load_config(config_path)
    if watch is not None:
        return watch_status(config, watch)
    return show_status(config, as_json)


@main.command()
@config_option
@click.option(
    "--job", default="pantau", show_default=True, help="Prometheus job name of the agents."
)
def rules(config_path: Path, job: str) -> None:
    """Print Prometheus recording and alerting rules (promtool-valid YAML)."""
    from exporters.rules import render_rules

    click.echo(render_rules(load_config(config_path), job=job), nl=False)


@main.command()
@config_option
def dashboard(config_path: Path) -> None:
    """Print the Grafana dashboard JSON."""
    from exporters.dashboard import render_dashboard

    click.echo(render_dashboard(load_config(config_path)), nl=False)


@main.command()
@config_option
@click.option("--period", required=True, help="Month YYYY-MM in the configured zone.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the form fields as CSV.",
)
@click.option(
    "--excel", is_flag=True, help="CSV in the Indonesian Excel dialect (BOM, ';', decimal comma)."
)
def incidents(config_path: Path, period: str, csv_path: Path | None, excel: bool) -> None:
    """List the month's gangguan tickets (optionally as CSV with every form field)."""
    from zoneinfo import ZoneInfo

    from agent.cli.incident import month_tickets, tickets_table
    from agent.core.clock import SystemClock

    config = load_config(config_path)
    zone = ZoneInfo(config.agent.timezone)
    now = SystemClock().now()
    tickets = month_tickets(config, period)
    if csv_path is not None:
        from exporters.incidents_csv import write_incidents_csv

        write_incidents_csv(
            tickets,
            csv_path,
            tz=zone,
            working_hours=config.agent.working_hours,
            now=now,
            excel=excel,
        )
        click.echo(f"{len(tickets)} gangguan written to {csv_path}")
        return
    if not tickets:
        click.echo(f"no gangguan in {period}")
        return
    for line in tickets_table(tickets, zone, now):
        click.echo(line)


@main.group()
def incident() -> None:
    """Handle one gangguan ticket: ack, note, cause, close, reclassify."""


def _ticket_command(name: str, help: str, text: Literal["required", "optional", "none"]) -> None:
    """Add ``pantau incident NAME TICKET [TEXT]``: one operator action on a ticket."""

    def command(config_path: Path, ticket: str, text: str = "") -> None:
        _ticket_action(config_path, ticket, name, text)

    if text == "required":
        command = click.argument("text")(command)
    elif text == "optional":
        command = click.argument("text", required=False, default="")(command)
    incident.command(name, help=help)(config_option(click.argument("ticket")(command)))


_ticket_command(
    "ack",
    "Acknowledge TICKET (the response time is ack − start); TEXT is an optional note.",
    "optional",
)
_ticket_command("note", "Add a note to TICKET.", "required")
_ticket_command(
    "cause",
    "Record the cause (Penyebab) of TICKET; it appears in the monthly report.",
    "required",
)
_ticket_command("close", "Close TICKET after its recovery was verified.", "none")


@incident.command("reclassify")
@config_option
@click.argument("ticket")
@click.option("--as", "as_", required=True, type=click.Choice(["maintenance", "false-positive"]))
@click.option("--reason", required=True, help="Why (kept in the audit trail and the report).")
def incident_reclassify(config_path: Path, ticket: str, as_: str, reason: str) -> None:
    """Count TICKET's time as maintenance or as up (false positive); audited."""
    _ticket_action(config_path, ticket, "reclassify", reason, as_)


def _ticket_action(config_path: Path, ticket: str, action: str, text: str, as_: str = "") -> None:
    from agent.cli.incident import apply_action

    g = apply_action(load_config(config_path), ticket, action, text, as_)
    click.echo(f"{g.id}: {action} recorded — status {g.status.value}")


@main.command()
@config_option
@click.option("--period", required=True, help="Month YYYY-MM in the configured zone.")
@click.option("--format", "formats", default="csv,pdf", show_default=True, help="csv, pdf or both.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
)
@click.option("--service", "services", multiple=True, help="Only this service (repeatable).")
@click.option(
    "--excel", is_flag=True, help="CSV in the Indonesian Excel dialect (BOM, ';', decimal comma)."
)
@click.option(
    "--source", type=click.Choice(["local", "prometheus"]), default="local", show_default=True
)
@click.option(
    "--prometheus-url", help="With --source prometheus: the Prometheus (or compatible) URL."
)
@click.option("--prometheus-user", help="Basic-auth user for --prometheus-url.")
@click.option("--prometheus-password-file", help="File holding that user's password.")
@click.option("--prometheus-bearer-token-file", help="File holding a bearer token instead.")
@click.option("--prometheus-ca-file", help="CA certificate for an https --prometheus-url.")
@click.option("--step", help="With --source prometheus: sample resolution (default 30s).")
def report(
    config_path: Path,
    period: str,
    formats: str,
    out_dir: Path,
    services: tuple[str, ...],
    excel: bool,
    source: str,
    prometheus_url: str | None,
    prometheus_user: str | None,
    prometheus_password_file: str | None,
    prometheus_bearer_token_file: str | None,
    prometheus_ca_file: str | None,
    step: str | None,
) -> None:
    """Write the monthly Formulir Pemantauan dan Pemeliharaan Layanan (CSV and/or PDF).

    With --source prometheus the report covers every service of every agent Prometheus
    scrapes; the options may also come from PANTAU_PROM_USERNAME, PANTAU_PROM_PASSWORD_FILE,
    PANTAU_PROM_BEARER_TOKEN_FILE, PANTAU_PROM_CA_FILE and PANTAU_PROM_STEP.
    """
    from agent.cli.report import report_formats, run_report

    config = load_config(config_path)
    chosen = report_formats(formats)
    prom = {
        "username": prometheus_user,
        "password_file": prometheus_password_file,
        "bearer_token_file": prometheus_bearer_token_file,
        "ca_file": prometheus_ca_file,
        "step": step,
    }
    files = run_report(
        config, period, chosen, out_dir, list(services), excel, source, prometheus_url, prom
    )
    for f in files:
        click.echo(str(f))


@main.group()
def backup() -> None:
    """Backups reported by scripts."""


@backup.command("mark")
@config_option
@click.argument("service")
@click.option("--at", "at_text", help="When the backup finished (ISO 8601; default now).")
@click.option("--size", type=click.IntRange(min=0, max=2**63 - 1), help="Backup size in bytes.")
@click.option("--source", help="Which push source (default: as for a push without 'source').")
def backup_mark(
    config_path: Path, service: str, at_text: str | None, size: int | None, source: str | None
) -> None:
    """Record a finished backup of SERVICE (a push source), for scripts without HTTP."""
    from agent.cli.drp import mark_backup

    record = mark_backup(load_config(config_path), service, at_text, size, source)
    click.echo(
        f"{record.service}/{record.source}: backup at {record.finished_at.isoformat()} recorded"
    )


@main.group()
def drill() -> None:
    """Restore drills (Pemulihan Layanan): run one now or record one done by hand."""


@drill.command("run")
@config_option
@click.argument("service")
def drill_run(config_path: Path, service: str) -> int:
    """Restore SERVICE's newest snapshot into a scratch dir, verify, record (exit 1 on failure)."""
    from agent.cli.drp import print_drill, run_drill_now

    return print_drill(run_drill_now(load_config(config_path), service))


@drill.command("record")
@config_option
@click.argument("service")
@click.option("--started", required=True, help="When the restore started (ISO 8601).")
@click.option("--restored", required=True, help="When the service was restored (ISO 8601).")
@click.option("--data-as-of", help="Time of the restored data (ISO 8601).")
@click.option("--note", default="", help="Free text kept with the drill.")
def drill_record(
    config_path: Path, service: str, started: str, restored: str, data_as_of: str | None, note: str
) -> int:
    """Record a restore drill done by hand."""
    from agent.cli.drp import print_drill, record_manual_drill

    config = load_config(config_path)
    return print_drill(record_manual_drill(config, service, started, restored, data_as_of, note))


def run_cli() -> None:
    """The ``pantau`` console script (and ``python -m agent``)."""
    main()
