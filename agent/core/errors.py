"""Error hierarchy of pantau.

::

    PantauError                 anything pantau raises on purpose
     ├── ConfigError            a configuration file is wrong (carries every problem found)
     ├── StoreError             the SQLite store cannot be read or written
     ├── BackupSourceError      a backup source (files, restic, borg) cannot be read
     └── ReportError            a report cannot be produced (no data, future period, ...)

Messages say what was wrong, where, and what to do. They never contain secrets.
"""

from __future__ import annotations

from dataclasses import dataclass


class PantauError(Exception):
    """Base of every error pantau raises on purpose."""


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

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreError(PantauError):
    """The store could not be opened, read or written."""


class BackupSourceError(PantauError):
    """A backup source failed; ``reason`` is a short machine-readable word."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class ReportError(PantauError):
    """A report cannot be produced."""
