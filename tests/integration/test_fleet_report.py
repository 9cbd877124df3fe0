"""The fleet report (SPEC §9) from a real Prometheus and a real VictoriaMetrics.

Two real agents on loopback (different services, 1-second rounds) are scraped every second
by a real ``prometheus`` and a real ``victoria-metrics`` with the same scrape configuration.
One service goes down for about ten seconds. After the agents stop, ``pantau report --source
prometheus`` against each store must agree with each agent's own ``pantau report``.

Tolerance, stated once and generous: a store sees a state change at its next scrape (the
fleet report moves the edge back to the agent's exported first round of the state, so most
edges are exact; the end of a stretch before a stop is the last sample + the hold), so each
edge of a stretch may move by up to ``EDGE`` = one scrape interval + one step = 2 s. Per
episode the down time may differ by one ``EDGE``; the up time by one ``EDGE`` per episode plus
one for each end of the observed stretch. A store that first scraped an agent some seconds
after its first round may miss those seconds (``late``, read from both sides) unless the
agent's first sample says since when it was up.
Minutes in the CSV have 2 decimals (±0.3 s) and availability is floored to 3 decimals.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.cli.incident import open_store
from agent.config.loader import load_config
from agent.core.periods import period_of
from agent.reports.fleet.client import Labels, PromClient
from agent.reports.fleet.fetch import TimelineFetcher
from agent.reports.fleet.timeline import Grid
from tests.conftest import require_binary
from tests.integration.agentproc import (
    AgentProcess,
    LoggedProcess,
    Target,
    free_port,
    http_service,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration

SCRAPE = 1.0  # seconds, scrape interval of both stores
STEP = 1.0  # seconds, PANTAU_PROM_STEP of the fleet report
EDGE = SCRAPE + STEP  # how far one edge of a stretch may move (see the module docstring)
OUTAGE = 10.0  # seconds the target answers 503
ZONE = ZoneInfo("Asia/Jakarta")


class Store(LoggedProcess):
    """A Prometheus-compatible store as a subprocess on a free loopback port."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: Path) -> None:
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        super().__init__(argv, workdir / f"{name}.log")
        wait_for(self.ready, 60, f"{name} to answer queries")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
        try:
            self.query("1")
        except (OSError, urllib.error.URLError, ValueError):
            return False
        return True

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            doc = json.loads(resp.read())
        if doc.get("status") != "success":
            raise ValueError(doc)
        result = doc["data"]["result"]
        return result if isinstance(result, list) else [result]

    def has_series(self, expr: str, count: int) -> bool:
        try:
            return len(self.query(expr)) >= count
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def stop(self) -> None:
        self.terminate()


def run_report(args: list[str], env: dict[str, str] | None = None) -> list[Path]:
    """``python -m agent report ARGS``; the files it wrote."""
    done = subprocess.run(
        [sys.executable, "-m", "agent", "report", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, f"report {args} failed ({done.returncode}):\n{done.stderr}"
    return [Path(line) for line in done.stdout.splitlines() if line.strip()]


def rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["service_id"]: r for r in csv.DictReader(fh)}


def seconds(row: dict[str, str]) -> tuple[float, float | None]:
    """(down, up + degraded) seconds behind a CSV row; up is ``None`` without down time."""
    pct = float(row["realisasi_ketersediaan_pct"])
    down = float(row["downtime_menit"]) * 60
    return down, (down * pct / (100 - pct) if down > 0 else None)


def first_sample(store: Store, service: str) -> float:
    """When ``store`` first holds a state sample of ``service`` (unix seconds)."""
    expr = f'min_over_time(timestamp(pantau_service_state{{service="{service}",state="up"}})[5m:100ms])'
    (result,) = store.query(expr)
    return float(result["value"][1])


def first_round(config: Path, service: str) -> float:
    """The agent's own first round of ``service`` (its report's *dipantau sejak*)."""
    with open_store(load_config(config)) as db:
        at = db.first_round_at(service)
    assert at is not None
    return at.timestamp()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Targets, two agents, Prometheus and VictoriaMetrics; everything stopped afterwards."""
    prometheus = require_binary("prometheus")
    victoria = require_binary("victoria-metrics")
    targets = {"alpha": Target(), "beta": Target(), "gamma": Target()}
    ports = {"a": free_port(), "b": free_port()}
    configs = {
        "a": write_config(
            tmp_path / "agent-a.yaml",
            data_dir=tmp_path / "data-a",
            listen=f"127.0.0.1:{ports['a']}",
            services=http_service("alpha", targets["alpha"].url, "kritis"),
        ),
        "b": write_config(
            tmp_path / "agent-b.yaml",
            data_dir=tmp_path / "data-b",
            listen=f"127.0.0.1:{ports['b']}",
            services=http_service("beta", targets["beta"].url)
            + http_service("gamma", targets["gamma"].url, "normal"),
        ),
    }
    scrape = {
        "global": {"scrape_interval": f"{SCRAPE:g}s", "scrape_timeout": f"{SCRAPE:g}s"},
        "scrape_configs": [
            {
                "job_name": "pantau",
                "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports.values()]}],
            }
        ],
    }
    scrape_file = tmp_path / "prometheus.yml"
    scrape_file.write_text(json.dumps(scrape), encoding="utf-8")  # JSON is YAML
    stores: list[Store] = []
    agents: dict[str, AgentProcess] = {}
    try:
        port = free_port()
        stores.append(
            Store(
                "prometheus",
                [
                    prometheus,
                    f"--config.file={scrape_file}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                port,
                tmp_path,
            )
        )
        port = free_port()
        stores.append(
            Store(
                "victoria-metrics",
                [
                    victoria,
                    f"-promscrape.config={scrape_file}",
                    f"-httpListenAddr=127.0.0.1:{port}",
                    f"-storageDataPath={tmp_path / 'vm'}",
                    # By default the newest 30 s are hidden from queries (still being written).
                    "-search.latencyOffset=1s",
                ],
                port,
                tmp_path,
            )
        )
        # The stores scrape before the agents exist, so they see the agents' first rounds.
        for name, cfg in configs.items():
            agents[name] = AgentProcess(cfg, f"127.0.0.1:{ports[name]}")
        yield {"targets": targets, "agents": agents, "configs": configs, "stores": stores}
    finally:
        for agent in agents.values():
            agent.stop()
        for store in stores:
            store.stop()
        for target in targets.values():
            target.close()


def test_fleet_report_from_prometheus_and_victoriametrics_agrees_with_each_agent(
    fleet: dict[str, Any], tmp_path: Path
) -> None:
    began = time.time()
    targets, agents = fleet["targets"], fleet["agents"]
    stores: list[Store] = fleet["stores"]
    states = 'pantau_service_state{state="up"} == 1'
    for store in stores:
        wait_for(partial(store.has_series, states, 3), 30, f"{store.name} to see 3 services up")
    time.sleep(5)
    period_year, period_month = period_of(datetime.now(UTC), ZONE)
    targets["beta"].status = 503
    wait_for(lambda: agents["b"].service("beta")["state"] == "down", 15, "beta confirmed down")
    time.sleep(OUTAGE - 2)
    targets["beta"].status = 200
    wait_for(lambda: agents["b"].service("beta")["state"] == "up", 15, "beta back up")
    down = 'pantau_service_state{service="beta",state="down"} == 1'
    time.sleep(4)
    for store in stores:  # both stores saw the outage
        assert store.query(f"max_over_time(({down})[2m:1s])"), f"{store.name} missed the outage"
    for agent in agents.values():
        assert agent.stop() == 0
    time.sleep(4)  # past the agents' last rounds + stale_after, and visible in both stores

    period = f"{period_year:04d}-{period_month:02d}"
    local: dict[str, dict[str, str]] = {}
    for name, cfg in fleet["configs"].items():
        (csv_path,) = run_report(
            ["-c", str(cfg), "--period", period, "--format", "csv", "--out", str(tmp_path / name)]
        )
        local |= rows(csv_path)
    assert set(local) == {"alpha", "beta", "gamma"}
    configs = {"alpha": fleet["configs"]["a"], "beta": fleet["configs"]["b"]}
    configs["gamma"] = configs["beta"]
    assert float(local["beta"]["downtime_menit"]) * 60 >= OUTAGE - 2 * EDGE, local["beta"]
    assert local["beta"]["jumlah_gangguan"] == "1"

    # The fleet report needs no katalog: every service comes from the store.
    central = tmp_path / "central.yaml"
    central.write_text(f"agent: {{name: central, data_dir: {tmp_path / 'central'}}}\n")
    for store in stores:
        out = tmp_path / f"fleet-{store.name}"
        (csv_path,) = run_report(
            ["-c", str(central), "--period", period, "--format", "csv", "--out", str(out),
             "--source", "prometheus", "--prometheus-url", store.url],
            env={"PANTAU_PROM_STEP": f"{STEP:g}s"},
        )  # fmt: skip
        assert csv_path.name == f"pantau-fleet-{period}.csv"
        fleet_rows = rows(csv_path)
        assert set(fleet_rows) == {"alpha", "beta", "gamma"}, store.name
        for sid, mine in local.items():
            theirs = fleet_rows[sid]
            episodes = int(mine["jumlah_gangguan"])
            where = f"{store.name} {sid}: local {mine} fleet {theirs}"
            assert theirs["jumlah_gangguan"] == mine["jumlah_gangguan"], where
            for key in ("nama_layanan", "klasifikasi", "kelompok", "target_ketersediaan_pct"):
                assert theirs[key] == mine[key], where
            assert theirs["rpo_jam"] == mine["rpo_jam"], where  # exported by the agent
            assert theirs["rto_jam"] == mine["rto_jam"], where
            down_l, up_l = seconds(mine)
            down_f, up_f = seconds(theirs)
            assert abs(down_f - down_l) <= EDGE * episodes + 0.6, where  # 0.6: 2 × CSV rounding
            if up_l is None:  # never down: both say 100 %
                assert theirs["realisasi_ketersediaan_pct"] == "100.000", where
                continue
            assert up_f is not None, where
            late = max(0.0, first_sample(store, sid) - first_round(configs[sid], sid))
            # 1.0 s: the up time derived from rounded minutes and a floored percentage
            assert abs(up_f - (up_l - late)) <= EDGE * (episodes + 2) + 1.0, (late, where)

    # --service narrows the fleet report to the services asked for
    (csv_path,) = run_report(
        ["-c", str(central), "--period", period, "--format", "csv", "--out",
         str(tmp_path / "only-beta"), "--source", "prometheus", "--prometheus-url",
         stores[0].url, "--service", "beta"],
        env={"PANTAU_PROM_STEP": f"{STEP:g}s"},
    )  # fmt: skip
    assert set(rows(csv_path)) == {"beta"}

    # The per-block shortcut against the real stores: with 3-second blocks many blocks are
    # wholly up (those inside a run of them are not read sample by sample), and the timelines
    # must equal those read sample by sample.
    lo, hi = began - 60, time.time()
    for store in stores:
        with PromClient(store.url) as client:
            blocks = TimelineFetcher(client, Grid(step=1, block_steps=3)).fetch(lo, hi)
            points = PointByPoint(client, Grid(step=1, block_steps=3)).fetch(lo, hi)
        assert set(blocks) == set(points) == {"alpha", "beta", "gamma"}, store.name
        for sid, tl in blocks.items():
            assert tl.intervals == points[sid].intervals, (store.name, sid)
            assert points[sid].full_blocks == 0
        # about 30 s of data per service, in 3-second blocks, many of them wholly up
        whole = {sid: tl.full_blocks for sid, tl in blocks.items()}
        assert sum(whole.values()) >= 3, (store.name, whole)


class PointByPoint(TimelineFetcher):
    """Never takes a block as wholly up: every block is read sample by sample."""

    def _fresh(self, scrapes: dict[Labels, dict[int, float]]) -> dict[Labels, dict[int, float]]:
        return {}
