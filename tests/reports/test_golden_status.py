"""Golden: ``pantau status`` (table and ``--json``) of the September 2024 history.

``pantau status`` takes "now" from :class:`agent.core.clock.SystemClock`; the subprocess runs with
its wall clock frozen at 2024-10-01 01:00:00 UTC (08:00 WIB), seven hours after the history's
last round (1 Oct 00:59 WIB): every service is ``unknown`` since that round + ``stale_after``,
and October's month-to-date has one observed hour of eight. sipd's newest good backup (30 Sep
02:00 WIB) is 30 h old, past its 24 h RPO, so the command exits 1. The JSON is compared as parsed
objects (key order is free), the table byte for byte. Rewrite the golden files with
``PANTAU_UPDATE_GOLDEN=1`` (see :mod:`tests.golden`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.golden import assert_golden, pantau_at
from tests.reports.history import History, shared_history

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2024, 10, 1, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return shared_history(tmp_path_factory.getbasetemp())


def status(history: History, *args: str) -> str:
    proc = pantau_at(NOW, "status", "-c", str(history.config_path), *args)
    # sipd's newest good backup is 30 Sep 02:00 WIB: 30 h old at 08:00 WIB > RPO 24 h → exit 1
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def test_status_json_equals_golden(history: History) -> None:
    out = status(history, "--json")
    assert json.loads(out)["generated_at"] == NOW.isoformat()  # the clock really is pinned
    assert_golden(GOLDEN / "status-2024-10-01.json", out, parse=json.loads)


def test_status_table_equals_golden(history: History) -> None:
    assert_golden(GOLDEN / "status-2024-10-01.txt", status(history))
