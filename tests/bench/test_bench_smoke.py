"""Smoke test of bench/bench_agent_scale.py: a tiny run (20 services, 5 s) works end to end.

Not a timing test: it checks that both phases ran, every probe succeeded, each printed field is
there and nothing the benchmark started is left running. The figures themselves are noise at
this size.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import require_binary

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_agent_scale.py"
LABELS = [
    "lag p50 / p99 / max ms (rounds)",
    "lag p50 / p99 ms (gauge, 1/s)",
    "CPU % of one core",
    "peak RSS MB",
    "probes/s",
    "probes in window (failed)",
    "CPU ms/probe",
    "ratio pantau/blackbox",
    "load average before",
    "budget: lag p99 < 1 s",
]
Run = tuple[str, dict[str, Any], Path]  # stdout, the JSON result of the one N, TMPDIR


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    require_binary("nginx")
    require_binary("prometheus-blackbox-exporter")
    tmp = tmp_path_factory.mktemp("scale")
    out = tmp / "result.json"
    tiny = ["--services", "20", "--duration", "5", "--interval", "1s", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *tiny],
        capture_output=True,
        text=True,
        timeout=180,
        # The benchmark's temporary directories land here, so leftovers can be found by path.
        env={**os.environ, "TMPDIR": str(tmp)},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = json.loads(out.read_text())
    return proc.stdout, result, tmp


def test_tiny_run_prints_every_field_of_the_table(tiny_run: Run) -> None:
    stdout, _, _ = tiny_run
    assert "target: nginx-light" in stdout
    assert "== N=20 services" in stdout
    for label in LABELS:
        assert label in stdout, f"missing {label!r} in:\n{stdout}"


def test_tiny_run_probes_in_both_phases_without_failures(tiny_run: Run) -> None:
    _, result, _ = tiny_run
    pantau, blackbox = result["pantau"], result["blackbox"]
    assert result["services"] == 20
    assert pantau["probes"] > 0
    assert pantau["failed"] == 0
    assert result["total_rounds"] >= pantau["probes"]
    assert blackbox["probes"] > 0
    assert blackbox["failed"] == 0
    for side in (pantau, blackbox):
        assert side["window_seconds"] > 0
        assert side["peak_rss_mb"] > 0
        assert side["probes_per_s"] > 0
        assert math.isfinite(side["ms_per_probe"])


def test_tiny_run_measures_lag_from_every_round_and_the_gauge(
    tiny_run: Run,
) -> None:
    _, result, _ = tiny_run
    for key in ("lag_p50_ms", "lag_p99_ms", "lag_max_ms", "gauge_p50_ms", "gauge_p99_ms"):
        assert math.isfinite(result[key]), key
        assert result[key] >= 0, key
    assert result["lag_p50_ms"] <= result["lag_p99_ms"] <= result["lag_max_ms"]


def test_tiny_run_leaves_no_process_behind(tiny_run: Run) -> None:
    _, _, tmp = tiny_run
    leftovers = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(tmp) in cmdline:
            leftovers.append(f"{proc.info['pid']}: {cmdline}")
    assert leftovers == []
