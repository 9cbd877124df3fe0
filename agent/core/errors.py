"""Error hierarchy of pantau, and what each error means to the ``pantau`` command line.

Every error knows its exit code (SPEC §5: 0 ok, 1 a check or target failed or there is no
data, 2 usage or configuration error), so the command line has one error boundary
(:mod:`agent.cli.main`) that prints ``pantau: <message>`` and exits with it::

    PantauError              2  anything pantau raises on purpose
     ├── UsageError          2  a command-line argument is wrong (unknown service or ticket,
     │                          malformed time or option)
     ├── ConfigError         2  a configuration file is wrong (carries every problem found)
     ├── StoreError          2  the SQLite store cannot be opened, read or written
     │    └── NoStoreError   1  there is no store yet: nothing was monitored (no data)
     ├── ReportError         1  a report cannot be produced (no data, the data source failed,
     │    │                     a file cannot be written)
     │    └── ReportRequestError
     │                       2  the report asked for cannot exist (malformed or future period,
     │                          unknown service)
     ├── IncidentError       2  an operator action cannot apply to a ticket (agent.engine.incidents)
     ├── WorkingHoursError   2  working hours that cannot be used (agent.engine.workhours)
     └── PushError           2  a pushed or marked backup is refused; it also carries the HTTP
                                status the agent's endpoint answers with (drp.push)

A failed check or drill is not an error: it is a result, which the command prints and turns
into exit code 1. Messages say what was wrong, where, and what to do. They never contain
secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class PantauError(Exception):
    """Base of every error pantau raises on purpose."""

    #: The ``pantau`` command's exit code when this error ends it.
    exit_code: int = EXIT_USAGE

    def describe(self) -> str:
        """The message the command line prints after ``pantau: ``."""
        return str(self)


class UsageError(PantauError):
    """A command-line argument is wrong."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file, located as precisely as we can."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.path}:" if self.path else ""
        return f"{where}{key} {self.message}"


class ConfigError(PantauError):
    """The configuration is invalid; ``problems`` lists every problem found."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def describe(self) -> str:
        """How many problems, then each on its own indented line."""
        n = len(self.problems)
        lines = [f"{n} problem{'s' if n != 1 else ''} in the configuration:"]
        return "\n".join([*lines, *(f"  {p}" for p in self.problems)])


class StoreError(PantauError):
    """The store could not be opened, read or written."""

    exit_code = EXIT_USAGE


class NoStoreError(StoreError):
    """There is no store where the configuration points: the agent has never run there."""

    exit_code = EXIT_FAILED


class ReportError(PantauError):
    """A report cannot be produced from the data there is."""

    exit_code = EXIT_FAILED


class ReportRequestError(ReportError):
    """The report asked for cannot exist: the request, not the data, is wrong."""

    exit_code = EXIT_USAGE
