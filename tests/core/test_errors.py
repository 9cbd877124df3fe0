"""The error tree: every PantauError knows its exit code, and the docstring draws them all."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import agent
import agent.core.errors as errors
import drp
import exporters
import probes
from agent.core.errors import (
    ConfigError,
    ConfigProblem,
    NoStoreError,
    PantauError,
    ReportError,
    ReportRequestError,
    StoreError,
    UsageError,
)


def every_subclass() -> dict[str, int]:
    """Name → exit code of PantauError and every subclass defined anywhere in pantau."""
    for package in (agent, probes, drp, exporters):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not info.name.endswith("__main__"):  # it would run the command line
                importlib.import_module(info.name)
    found, todo = {}, [PantauError]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls.exit_code
        todo += cls.__subclasses__()
    return found


def drawn() -> dict[str, int]:
    """Name → exit code as drawn in the docstring of agent.core.errors."""
    doc = errors.__doc__ or ""
    return {name: int(code) for name, code in re.findall(r"(\w+Error)[\s│]+(\d)\s", doc)}


def test_the_docstring_draws_every_error_with_its_exit_code() -> None:
    assert every_subclass() == drawn()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PantauError("x"), 2),
        (UsageError("unknown service 'x'"), 2),
        (ConfigError([ConfigProblem("pantau.yaml", 3, 5, "services[0].id", "required")]), 2),
        (StoreError("store is damaged"), 2),
        (NoStoreError("no store at /x/pantau.db"), 1),
        (ReportError("tidak ada data"), 1),
        (ReportRequestError("periode 2099-01 belum dimulai"), 2),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_each_error_class_has_its_exit_code(error: PantauError, code: int) -> None:
    assert error.exit_code == code


def test_a_config_error_describes_every_problem_on_its_own_line() -> None:
    problems = [
        ConfigProblem("pantau.yaml", 3, 5, "services[0].name", "required key is missing"),
        ConfigProblem("pantau.yaml", None, None, "", "file not found"),
    ]
    assert ConfigError(problems).describe() == (
        "2 problems in the configuration:\n"
        "  pantau.yaml:3:5 services[0].name: required key is missing\n"
        "  pantau.yaml file not found"
    )
    assert UsageError("plain").describe() == "plain"
