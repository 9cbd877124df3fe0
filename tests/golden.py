"""Golden files: observable output pinned byte for byte, to prove a refactor changes nothing.

:func:`assert_golden` compares an output with its golden file. With ``PANTAU_UPDATE_GOLDEN=1``
in the environment it writes the file instead (and passes), so a deliberate change of output is
recorded by running the golden tests once that way and reviewing ``git diff``::

    PANTAU_UPDATE_GOLDEN=1 .venv/bin/pytest tests/reports/test_golden_report.py \\
        tests/reports/test_golden_status.py tests/integration/test_golden_metric_families.py

:func:`pantau_at` runs the ``pantau`` command with its wall clock frozen (libfaketime), so
output that states "now" (dates in the PDF, ``generated_at``) is pinned instead of normalised.
"""

from __future__ import annotations

import difflib
import os
import pprint
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import require_binary

UPDATE = os.environ.get("PANTAU_UPDATE_GOLDEN") == "1"


def assert_golden(
    path: Path, actual: str | bytes, *, parse: Callable[[str], object] | None = None
) -> None:
    """``actual`` equals the file at ``path`` (as bytes; as ``parse``-d objects when given);
    with ``PANTAU_UPDATE_GOLDEN=1`` the file is (re)written from ``actual`` instead."""
    data = actual.encode("utf-8") if isinstance(actual, str) else actual
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    assert path.exists(), f"no golden file {path}: run with PANTAU_UPDATE_GOLDEN=1 to write it"
    expected = path.read_bytes()
    if parse is None:
        if data != expected:
            _fail(path, expected.decode("utf-8", "replace"), data.decode("utf-8", "replace"))
        return
    want, got = parse(expected.decode("utf-8")), parse(data.decode("utf-8"))
    if got != want:
        _fail(path, pprint.pformat(want, sort_dicts=True), pprint.pformat(got, sort_dicts=True))


def _fail(path: Path, expected: str, actual: str) -> None:
    """Raise with a unified diff (this module is not rewritten by pytest's assert)."""
    diff = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        f"{path.name} (golden)",
        f"{path.name} (actual)",
    )
    raise AssertionError(f"output differs from {path}:\n{''.join(diff)}")


def pantau_at(
    now: datetime, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m agent ARGS`` with the wall clock frozen at ``now`` (monotonic time runs)."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    env = {**os.environ, **(env or {}), "TZ": "UTC", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    # "-f" with a plain timestamp (no "@") freezes the clock: every read of it is exactly `now`.
    argv = [require_binary("faketime"), "-f", stamp, sys.executable, "-m", "agent", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
