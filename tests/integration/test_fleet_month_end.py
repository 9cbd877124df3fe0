"""FAULTS 41: an outage across the month end, read from a real Prometheus and VictoriaMetrics.

A real agent runs under libfaketime with its wall clock 20 s before the last month end (WIB),
so its ~20-second outage of a real HTTP target starts in one month and ends in the next. The
stores cannot be given a fake clock (Go reads the time without libc), so they scrape the agent
through a small proxy that stamps each sample with the agent's wall clock, exactly as a store
stamps a scrape with its own (``honor_timestamps``; Prometheus accepts the past samples with an
out-of-order window, VictoriaMetrics with a long retention). The proxy keeps what each store
scraped, so the same samples also fill a :class:`~tests.reports.fleet.fakeprom.FakeProm`, and
every query the fleet report sends is answered identically by the real store and the fake —
which is what makes the fake of the property test faithful.

Then, with the real clock (days later), the local report of the agent's store and the fleet
report of each store must agree on both months within one scrape step per edge, and the
outage must be closed at its real end: about 20 s, not "open until now" (days, and an RTO
breach).
"""

from __future__ import annotations

import http.server
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from agent.config.loader import parse_config
from agent.core.periods import add_months, month_bounds, period_of
from agent.reports.fleet.client import PromClient
from agent.reports.fleet.report import build_fleet_report
from tests.conftest import require_binary
from tests.golden import pantau_at
from tests.integration.agentproc import (
    AgentProcess,
    Target,
    free_port,
    http_service,
    wait_for,
    write_config,
)
from tests.integration.test_clock_steps import libfaketime
from tests.integration.test_fleet_report import Store, rows, seconds
from tests.reports.fleet.fakeprom import FakeProm

pytestmark = pytest.mark.integration

ZONE = ZoneInfo("Asia/Jakarta")
SCRAPE = 1.0  # seconds; also PANTAU_PROM_STEP
BEFORE, AFTER = 8.0, 12.0  # the outage's seconds before and after the month end (agent clock)
#: CSV minutes have 2 decimals: ±0.3 s per cell
ROUNDING = 0.3
#: The cells shown when a comparison fails (and printed with -s for docs/faults.md)
KEYS = ("realisasi_ketersediaan_pct", "downtime_menit", "tanpa_data_menit", "cakupan_data_pct",
        "jumlah_gangguan", "pemulihan_terlama_menit", "gangguan_melebihi_rto")  # fmt: skip


def last_month_end(now: datetime) -> datetime:
    """The start (UTC) of the current month in WIB: the most recent month end."""
    return month_bounds(*period_of(now, ZONE), ZONE)[0]


class StampingProxy:
    """``GET /metrics`` of the agent, each sample stamped with the agent's wall clock.

    Also records, per scraper (by User-Agent), every sample it handed out, into a FakeProm.
    """

    def __init__(self, agent_url: str, offset: float) -> None:
        self.fakes: dict[str, FakeProm] = {}
        self.scrapes: dict[str, int] = {}
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                who = "vm" if "vm_promscrape" in self.headers.get("User-Agent", "") else "prom"
                try:
                    req = urllib.request.Request(agent_url, headers={"Accept": "text/plain"})
                    with urllib.request.urlopen(req, timeout=2) as resp:
                        text = resp.read().decode()
                except (OSError, urllib.error.URLError):
                    self.send_error(503)
                    return
                ms = round((time.time() - offset) * 1000)
                body = proxy.stamp(who, text, ms).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stamp(self, who: str, text: str, ms: int) -> str:
        fake = self.fakes.setdefault(who, FakeProm(closed=(who == "prom")))
        self.scrapes[who] = self.scrapes.get(who, 0) + 1
        out = []
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name_labels, value = line.rsplit(" ", 1)
                name, _, rest = name_labels.partition("{")
                labels = dict(_labels(rest[:-1])) if rest else {}
                labels |= {"instance": self.address, "job": "pantau"}
                fake.add(name, labels, ms / 1000, float(value))
                line = f"{line} {ms}"
            out.append(line)
        return "\n".join(out) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _labels(text: str) -> Iterator[tuple[str, str]]:
    """``a="x",b="y"`` → pairs (pantau's label values here hold no quotes or commas)."""
    for part in text.split('",'):
        key, _, value = part.partition('="')
        yield key, value.rstrip('"')


class Recording(httpx.BaseTransport):
    """Sends to the real store and keeps every (form, answer) for replaying to the fake."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[str, bytes, Any]] = []

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()  # decoded: the encoding headers no longer apply
        self.exchanges.append((request.url.path, request.content, json.loads(body)))
        drop = ("content-encoding", "content-length", "transfer-encoding")
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in drop]
        return httpx.Response(response.status_code, headers=headers, content=body)


def _answer(doc: Any) -> dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]:
    """A query answer as {labels: samples}, stale markers (NaN) left out."""
    out = {}
    for item in doc["data"]["result"]:
        labels = tuple(sorted(item["metric"].items()))
        values = item.get("values") or [item["value"]]
        kept = [(round(float(t), 3), float(v)) for t, v in values if not math.isnan(float(v))]
        if kept:
            out[labels] = kept
    return out


@pytest.fixture
def month_end_run(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The agent at the month end, its outage, both stores; everything stopped afterwards."""
    prometheus = require_binary("prometheus")
    victoria = require_binary("victoria-metrics")
    lib = libfaketime()
    end = last_month_end(datetime.now(UTC))
    offset = math.ceil(time.time() - (end.timestamp() - 20))  # agent clock = real − offset
    target = Target()
    port = free_port()
    config = write_config(
        tmp_path / "agent.yaml",
        data_dir=tmp_path / "data",
        listen=f"127.0.0.1:{port}",
        services=http_service("alpha", target.url, "kritis"),
    )
    proxy = StampingProxy(f"http://127.0.0.1:{port}/metrics", offset)
    job = {
        "job_name": "pantau",
        "honor_timestamps": True,
        "static_configs": [{"targets": [proxy.address]}],
    }
    scrape = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}}
    prom_file, vm_file = tmp_path / "prometheus.yml", tmp_path / "vm.yml"
    # The samples are days old: Prometheus takes them only within an out-of-order window.
    window = f"{math.ceil(offset / 86400) + 2}d"
    prom_cfg = {**scrape, "storage": {"tsdb": {"out_of_order_time_window": window}}}
    prom_file.write_text(json.dumps({**prom_cfg, "scrape_configs": [job]}), encoding="utf-8")
    vm_file.write_text(json.dumps({**scrape, "scrape_configs": [job]}), encoding="utf-8")
    stores: list[Store] = []
    agent: AgentProcess | None = None
    try:
        p = free_port()
        stores.append(
            Store(
                "prometheus",
                [prometheus, f"--config.file={prom_file}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{p}", "--storage.tsdb.retention.time=100y"],
                p,
                tmp_path,
            )
        )  # fmt: skip
        p = free_port()
        stores.append(
            Store(
                "victoria-metrics",
                [victoria, f"-promscrape.config={vm_file}", f"-httpListenAddr=127.0.0.1:{p}",
                 f"-storageDataPath={tmp_path / 'vm'}", "-retentionPeriod=100y",
                 "-search.latencyOffset=1s"],
                p,
                tmp_path,
            )
        )  # fmt: skip
        env = {"LD_PRELOAD": lib, "FAKETIME": f"-{offset}", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        agent = AgentProcess(config, f"127.0.0.1:{port}", env=env)
        yield {
            "agent": agent,
            "target": target,
            "config": config,
            "stores": stores,
            "proxy": proxy,
            "offset": offset,
            "end": end,
        }
    finally:
        if agent is not None:
            agent.stop()
        for store in stores:
            store.stop()
        proxy.close()
        target.close()


def _metrics_time(agent: AgentProcess) -> float:
    began = time.monotonic()
    agent.get("/metrics", timeout=1.0)
    return time.monotonic() - began


def test_an_outage_across_the_month_end_read_from_prometheus_is_closed_at_its_real_end(
    month_end_run: dict[str, Any], tmp_path: Path
) -> None:
    run = month_end_run
    agent: AgentProcess = run["agent"]
    target: Target = run["target"]
    end: datetime = run["end"]
    offset: int = run["offset"]

    def agent_clock() -> float:
        return time.time() - offset

    def until(at: float) -> None:
        while agent_clock() < at:
            time.sleep(0.05)

    scrape_times: list[float] = []
    month_end = end.timestamp()
    wait_for(lambda: agent.service("alpha")["state"] == "up", 15, "alpha up")
    until(month_end - BEFORE)
    target.status = 503
    wait_for(lambda: agent.service("alpha")["state"] == "down", 10, "alpha confirmed down")
    while agent_clock() < month_end + AFTER:  # the agent answers quickly throughout
        scrape_times.append(_metrics_time(agent))
        time.sleep(0.5)
    target.status = 200
    wait_for(lambda: agent.service("alpha")["state"] == "up", 10, "alpha up again")
    until(month_end + AFTER + 6)
    scrape_times.append(_metrics_time(agent))
    assert agent.proc.poll() is None  # the agent stayed up
    assert agent.stop() == 0
    time.sleep(4)  # past the last round's stale_after, and visible in both stores

    # Every report is made at one frozen "now" (the second month may be the current one, whose
    # unknown time grows while the reports run).
    now = datetime.now(UTC).replace(microsecond=0)

    def report(*args: str, env: dict[str, str] | None = None) -> dict[str, str]:
        done = pantau_at(now, "report", *args, "--format", "csv", env=env)
        assert done.returncode == 0, done.stderr
        (path,) = (Path(line) for line in done.stdout.splitlines() if line.strip())
        return rows(path)["alpha"]

    months = [period_of(end - timedelta(seconds=1), ZONE), period_of(end, ZONE)]
    periods = [f"{y:04d}-{m:02d}" for y, m in months]
    local = {}
    for period in periods:
        local[period] = report("-c", str(run["config"]), "--period", period, "--out",
                               str(tmp_path / "local"))  # fmt: skip
    # the local report: one gangguan of ~20 s, listed in both months, no RTO breach
    for period in periods:
        assert local[period]["jumlah_gangguan"] == "1", local
        assert local[period]["gangguan_melebihi_rto"] == "0", local
    outage = float(local[periods[0]]["pemulihan_terlama_menit"]) * 60
    assert BEFORE + AFTER - 3 <= outage <= BEFORE + AFTER + 3, local

    central = tmp_path / "central.yaml"
    central.write_text(f"agent: {{name: central, data_dir: {tmp_path / 'central'}}}\n")
    observed: dict[str, Any] = {"outage_s": outage}
    for store in run["stores"]:
        for i, period in enumerate(periods):
            theirs = report(
                "-c", str(central), "--period", period, "--out", str(tmp_path / store.name),
                "--source", "prometheus", "--prometheus-url", store.url,
                env={"PANTAU_PROM_STEP": f"{SCRAPE:g}s"},
            )  # fmt: skip
            mine = local[period]
            observed[f"{store.name} {period}"] = {k: theirs[k] for k in KEYS}
            observed[f"local {period}"] = {k: mine[k] for k in KEYS}
            keys = KEYS
            where = f"{store.name} {period}: " + ", ".join(
                f"{k} {mine[k]!r}/{theirs[k]!r}" for k in keys
            )
            # closed at its real end: ~20 s, not days (the old "open until now"), no breach
            assert theirs["jumlah_gangguan"] == "1", where
            assert theirs["gangguan_melebihi_rto"] == "0", where
            # edges: the month's start (or first round), the outage's start or end, the
            # month's end (or the agent's stop): one scrape step each, at most
            tol = 3 * SCRAPE / 60 + 2 * ROUNDING / 60
            for key in ("pemulihan_terlama_menit", "downtime_menit", "tanpa_data_menit"):
                assert abs(float(theirs[key]) - float(mine[key])) <= tol, (key, where)
            for key in ("realisasi_ketersediaan_pct", "cakupan_data_pct"):
                assert (theirs[key] == "") == (mine[key] == ""), (key, where)
            # the up time behind the percentage (from rounded minutes: 1 s of slack)
            (_, up_l), (_, up_f) = seconds(mine), seconds(theirs)
            assert up_l is not None, where
            assert up_f is not None, where
            assert abs(up_f - up_l) <= 3 * SCRAPE + 1.0, where
            if i == 0:  # the part before midnight is downtime of the first month only
                assert abs(float(theirs["downtime_menit"]) * 60 - BEFORE) <= 3, where
    assert max(scrape_times) < 1.0, scrape_times

    # The fake answers every query of the fleet report exactly as the real store does.
    for store in run["stores"]:
        who = "prom" if store.name == "prometheus" else "vm"
        fake = run["proxy"].fakes[who]
        recording = Recording()
        with PromClient(store.url, transport=recording) as client:
            for y, m in months:
                build_fleet_report(client, parse_config("agent: {name: c}\n"), y, m, now,
                                   step=timedelta(seconds=SCRAPE))  # fmt: skip
        compared = 0
        with httpx.Client(transport=fake.transport()) as replay:
            for path, form, real in recording.exchanges:
                before = len(fake.unknown)
                answer = replay.post(f"http://fake{path}", content=form).json()
                if len(fake.unknown) > before or "pantau_host" in str(form):
                    continue  # host figures: not what the fake models
                fake_answer, real_answer = _answer(answer), _answer(real)
                assert fake_answer.keys() == real_answer.keys(), (store.name, form)
                for key, samples in fake_answer.items():
                    # VictoriaMetrics keeps about 12 significant digits: 1796058013.249 may
                    # read back as 1796058013.2489998
                    rel = 1e-12 if who == "vm" else 0.0
                    got = real_answer[key]
                    assert [t for t, _ in samples] == [t for t, _ in got], (store.name, form)
                    for (_, a), (_, b) in zip(samples, got, strict=True):
                        assert math.isclose(a, b, rel_tol=rel), (store.name, form, a, b)
                compared += 1
        observed[f"{store.name} queries compared"] = compared
        observed[f"{store.name} scrapes"] = run["proxy"].scrapes.get(who, 0)
        assert compared >= 8, store.name
    observed["max /metrics seconds"] = round(max(scrape_times), 3)
    print(json.dumps(observed, default=str))
    assert add_months(*months[0], 1) == months[1]
